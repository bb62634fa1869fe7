"""Running a trace under several scenarios at once (parallel processes, or one Slurm array task
each) and writing what every run produced: per-job, summary and per-group CSV files."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .model import Platform, SystemSpec
from .scenarios import Scenario, run_one

SUMMARY_COLS = [
    "scenario",
    "jobs",
    "completed",
    "rejected",
    "utilisation",
    "makespan",
    "mean_wait",
    "median_wait",
    "p95_wait",
    "mean_bounded_slowdown",
    "preemptions",
    "economic_share_max",
    "jobs_per_second",
]
GROUP_COLS = [
    "group",
    "jobs",
    "entitlement",
    "delivered_share",
    "delivered_core_hours",
    "delivered_gpu_hours",
    "mean_wait",
]


def trace_platform(reader: Any, nodes: int | None, cores_per_node: int) -> Platform:
    """One cluster as large as the trace says it was (MaxProcs / nb_res), unless ``nodes``."""
    n = nodes
    if n is None:
        n = reader.max_procs or reader.max_nodes
        if n and cores_per_node > 1:
            n = -(-int(n) // cores_per_node)
    if not n:
        raise ValueError(
            "the trace does not say how many processors it had: give --nodes or --platform"
        )
    return Platform([SystemSpec("cluster", nodes=int(n), cores_per_node=cores_per_node)])


def scenario_path(path: str, name: str, several: bool) -> str:
    """With several scenarios each writes its own file, ``path`` with ``-<scenario>`` added."""
    if not several:
        return path
    root, ext = os.path.splitext(path)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f"{root}-{safe}{ext or '.csv'}"


def pick_scenario(scenarios: list[Scenario], index: int | None) -> list[Scenario]:
    if index is None:
        return scenarios
    if not 0 <= index < len(scenarios):
        raise IndexError(f"scenario index {index} out of range (0..{len(scenarios) - 1})")
    return [scenarios[index]]


def run_single(
    trace: str,
    scenario: Scenario,
    platform: Platform,
    defaults: dict,
    *,
    fmt: str | None,
    skip_malformed: bool,
    jobs_out: str,
    several: bool,
    progress: Any = None,
) -> Any:
    """Run one scenario here and write its per-job CSV; ``progress`` is a tqdm-like bar."""
    res = run_one(
        trace,
        scenario,
        platform,
        defaults,
        fmt=fmt,
        skip_malformed=skip_malformed,
        progress=progress,
    )
    res.write_jobs_csv(scenario_path(jobs_out, res.name, several))
    return res


def _worker(trace, scenario, platform, defaults, fmt, skip, jobs_out):
    res = run_single(
        trace,
        scenario,
        platform,
        defaults,
        fmt=fmt,
        skip_malformed=skip,
        jobs_out=jobs_out,
        several=True,
    )
    res.jobs.pop("_alloc", None)  # the node map stays in the worker: too large to send back
    return res


def run_parallel(
    trace: str,
    scenarios: Sequence[Scenario],
    platform: Platform,
    defaults: dict,
    *,
    fmt: str | None,
    skip_malformed: bool,
    jobs_out: str,
    workers: int = 0,
    done: Callable[[], None] | None = None,
) -> list[Any]:
    """Each scenario in its own process (``workers``: default one per core); results in the
    scenarios' order; ``done`` is called as each one finishes."""
    workers = workers or min(len(scenarios), os.cpu_count() or 1)
    results = []
    with ProcessPoolExecutor(max_workers=workers) as ex:
        futs = [
            ex.submit(_worker, trace, sc, platform, defaults, fmt, skip_malformed, jobs_out)
            for sc in scenarios
        ]
        for f in futs:
            results.append(f.result())
            if done is not None:
                done()
    return results


def write_summary_csv(path: str, results: Sequence[Any]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUMMARY_COLS)
        for r in results:
            w.writerow([r.name] + [r.summary.get(c, "") for c in SUMMARY_COLS[1:]])


def write_groups_csv(path: str, results: Sequence[Any]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["scenario"] + GROUP_COLS)
        for r in results:
            for g in r.groups:
                w.writerow([r.name] + [g[c] for c in GROUP_COLS])
