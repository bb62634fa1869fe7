"""``regnekraft simulate``: replay a trace under one or several policy scenarios."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from regnekraft.simulation import batch
from regnekraft.simulation.readers import TraceError, open_trace
from regnekraft.simulation.scenarios import (
    Scenario,
    load_file,
    platform_from_dict,
    scenarios_from_dict,
)
from regnekraft.textout import table

from .output import emit

TABLE_COLS = [
    "utilisation",
    "mean_wait",
    "median_wait",
    "p95_wait",
    "mean_bounded_slowdown",
    "makespan",
    "preemptions",
    "jobs_per_second",
]


class Refused(Exception):
    """A bad trace, platform, scenario file or option: exit 2 with the message."""


def _inputs(args: argparse.Namespace) -> tuple[Any, list[Scenario]]:
    try:
        reader = open_trace(args.trace, args.format, skip_malformed=args.skip_malformed)
        if args.platform:
            platform = platform_from_dict(load_file(args.platform))
        else:
            platform = batch.trace_platform(reader, args.nodes, args.cores_per_node)
        if args.scenario:
            scenarios = scenarios_from_dict(load_file(args.scenario))
        else:
            scenarios = [Scenario(name="run")]
    except (OSError, ValueError, TypeError) as exc:
        raise Refused(str(exc)) from exc
    return platform, scenarios


def _chosen(args: argparse.Namespace, scenarios: list[Scenario], defaults: dict) -> list[Scenario]:
    index = args.scenario_index
    if index is None and args.array:
        index = int(os.environ.get("SLURM_ARRAY_TASK_ID", "0"))
    try:
        chosen = batch.pick_scenario(scenarios, index)
        for sc in chosen:
            sc.policy_config(defaults)  # validate before spending time
    except (IndexError, ValueError, TypeError) as exc:
        raise Refused(str(exc)) from exc
    return chosen


def _bar(args: argparse.Namespace, **kw: Any) -> Any:
    if args.no_progress:
        return None
    from tqdm import tqdm

    return tqdm(file=sys.stderr, **kw)


def _run(args, platform, scenarios: list[Scenario], defaults: dict, several: bool) -> list[Any]:
    common = {"fmt": args.format, "skip_malformed": args.skip_malformed, "jobs_out": args.jobs_out}
    if len(scenarios) == 1:
        # MaxJobs in SWF headers counts the uncleaned log, so no total is shown
        bar = _bar(args, total=None, unit="job", desc=scenarios[0].name, mininterval=0.5)
        try:
            res = batch.run_single(
                args.trace,
                scenarios[0],
                platform,
                defaults,
                several=several,
                progress=bar,
                **common,
            )
        finally:
            if bar is not None:
                bar.close()
        return [res]
    bar = _bar(args, total=len(scenarios), unit="scenario")
    results = batch.run_parallel(
        args.trace,
        scenarios,
        platform,
        defaults,
        workers=args.workers,
        done=None if bar is None else lambda: bar.update(1),
        **common,
    )
    if bar is not None:
        bar.close()
    return results


def _write_outputs(args: argparse.Namespace, results: list[Any], several: bool) -> None:
    if args.summary_out:
        batch.write_summary_csv(args.summary_out, results)
    if args.groups_out:
        batch.write_groups_csv(args.groups_out, results)
    if args.series_out:
        for r in results:
            r.write_series_csv(batch.scenario_path(args.series_out, r.name, several))
    if args.plots:
        from regnekraft.simulation.plots import plot_runs

        plot_runs(results, args.plots)


def run(args: argparse.Namespace) -> int:
    defaults = {"policy": args.policy, "allocation": args.allocation, "engine": args.engine}
    try:
        platform, scenarios = _inputs(args)
        chosen = _chosen(args, scenarios, defaults)
        several = len(chosen) > 1 or args.array  # an array task names its files, too
        results = _run(args, platform, chosen, defaults, several)
    except (Refused, TraceError, OSError, ValueError) as exc:
        print(f"regnekraft simulate: {exc}", file=sys.stderr)
        return 2
    _write_outputs(args, results, several)
    figs = [r.figures() for r in results]
    emit(args, figs[0] if len(figs) == 1 else {"scenarios": figs}, lambda _: results_text(results))
    return 0


def results_text(results: list[Any]) -> str:
    rows = [
        [r.name, str(r.summary["jobs"])]
        + [
            f"{r.summary[c]:.4g}" if isinstance(r.summary[c], float) else str(r.summary[c])
            for c in TABLE_COLS
        ]
        for r in results
    ]
    lines = [table(rows, ["scenario", "jobs", *TABLE_COLS])]
    for r in results:
        if len(r.groups) > 1:
            lines.append(f"\n{r.name}: delivered share vs entitlement")
            for g in r.groups:
                lines.append(
                    f"  {g['group']:<20} {g['delivered_share']:7.3f}"
                    f"  (entitled {g['entitlement']:.3f}, mean wait {g['mean_wait']:.0f} s)"
                )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="replay a workload trace through scheduling and allocation policies",
        description="Replay a workload trace (SWF, Batsim JSON or CSV) through FCFS, EASY or "
        "conservative backfilling with the policies of a scenario file, and "
        "report waits, utilisation, bounded slowdown and each group's share.",
    )
    p.add_argument("trace", help="trace file: .swf, .swf.gz, Batsim .json or .csv")
    _policy_options(p)
    _input_options(p)
    _output_options(p)
    _run_options(p)
    p.set_defaults(func=run)


def _policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        choices=["fcfs", "easy", "conservative"],
        default="easy",
        help="scheduling policy (default easy; a scenario may set its own)",
    )
    p.add_argument(
        "--allocation",
        choices=["nodes", "count"],
        default="nodes",
        help="nodes: lowest-numbered free nodes (default); count: count free nodes only",
    )
    p.add_argument(
        "--engine",
        choices=["auto", "python", "kernel"],
        default="auto",
        help="auto (default): the compiled kernel where it applies (one system, "
        "FCFS or EASY, no fair-share, quotas, cap or preemption), else the "
        "Python event loop; python: always the event loop; kernel: insist",
    )


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--platform", metavar="FILE", help="platform file (JSON or TOML)")
    p.add_argument("--scenario", metavar="FILE", help="scenario file (JSON or TOML)")
    p.add_argument(
        "--format", choices=["swf", "batsim", "csv"], help="trace format (default: by name)"
    )
    p.add_argument(
        "--skip-malformed",
        action="store_true",
        help="skip and count malformed trace lines instead of failing",
    )
    p.add_argument(
        "--nodes",
        type=int,
        help="with no platform file: number of nodes (default: the trace's MaxProcs / nb_res)",
    )
    p.add_argument(
        "--cores-per-node", type=int, default=1, help="with no platform file (default 1)"
    )


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs-out",
        metavar="FILE.csv",
        required=True,
        help="per-job CSV; with several scenarios one file per scenario, FILE-<scenario>.csv",
    )
    p.add_argument("--json", action="store_true", help="print the run's figures as JSON on stdout")
    p.add_argument("--summary-out", metavar="FILE.csv", help="one row of figures per scenario")
    p.add_argument(
        "--groups-out", metavar="FILE.csv", help="delivered share per group and scenario"
    )
    p.add_argument(
        "--series-out", metavar="FILE.csv", help="utilisation and economic share over time"
    )
    p.add_argument("--plots", metavar="DIR", help="write utilisation, wait and share plots (PNG)")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="parallel processes for several scenarios (default: one per core)",
    )
    p.add_argument(
        "--scenario-index",
        type=int,
        help="run only this scenario (0-based; default $SLURM_ARRAY_TASK_ID if set "
        "together with --array)",
    )
    p.add_argument(
        "--array",
        action="store_true",
        help="take the scenario index from $SLURM_ARRAY_TASK_ID (Slurm job arrays)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    """``regnekraft simulate`` alone: ``main([TRACE, ...])``."""
    from regnekraft.cli import run_group

    return run_group("simulate", argv)
