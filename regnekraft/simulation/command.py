"""``regnekraft simulate``: replay a trace under one or several policy scenarios.

Wired into the ``regnekraft`` command line by ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from .metrics import _jsonable
from .model import Platform, SystemSpec
from .readers import TraceError, open_trace
from .scenarios import Scenario, load_file, platform_from_dict, run_one, scenarios_from_dict

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


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="replay a workload trace through scheduling and allocation policies",
        description="Replay a workload trace (SWF, Batsim JSON or CSV) through FCFS, EASY or "
        "conservative backfilling with the policies of a scenario file, and "
        "report waits, utilisation, bounded slowdown and each group's share.",
    )
    p.add_argument("trace", help="trace file: .swf, .swf.gz, Batsim .json or .csv")
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
    p.add_argument("--platform", metavar="FILE", help="platform file (JSON or TOML)")
    p.add_argument("--scenario", metavar="FILE", help="scenario file (JSON or TOML)")
    p.add_argument(
        "--jobs-out",
        metavar="FILE.csv",
        required=True,
        help="per-job CSV; with several scenarios one file per scenario, FILE-<scenario>.csv",
    )
    p.add_argument("--json", action="store_true", help="print the run's figures as JSON on stdout")
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
    p.add_argument("--summary-out", metavar="FILE.csv", help="one row of figures per scenario")
    p.add_argument(
        "--groups-out", metavar="FILE.csv", help="delivered share per group and scenario"
    )
    p.add_argument(
        "--series-out", metavar="FILE.csv", help="utilisation and economic share over time"
    )
    p.add_argument("--plots", metavar="DIR", help="write utilisation, wait and share plots (PNG)")
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
    p.set_defaults(func=run)


def _platform(args, reader) -> Platform:
    if args.platform:
        return platform_from_dict(load_file(args.platform))
    n = args.nodes
    if n is None:
        n = reader.max_procs or reader.max_nodes
        if n and args.cores_per_node > 1:
            n = -(-int(n) // args.cores_per_node)
    if not n:
        raise ValueError(
            "the trace does not say how many processors it had: give --nodes or --platform"
        )
    return Platform([SystemSpec("cluster", nodes=int(n), cores_per_node=args.cores_per_node)])


def _scenario_path(path, name, several):
    if not several:
        return path
    root, ext = os.path.splitext(path)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f"{root}-{safe}{ext or '.csv'}"


def _worker(trace, scenario, platform, defaults, fmt, skip, jobs_out, several):
    res = run_one(trace, scenario, platform, defaults, fmt=fmt, skip_malformed=skip)
    res.write_jobs_csv(_scenario_path(jobs_out, scenario.name, several))
    res.jobs.pop("_alloc", None)
    return res


def run(args) -> int:
    try:
        reader = open_trace(args.trace, args.format, skip_malformed=args.skip_malformed)
        platform = _platform(args, reader)
        if args.scenario:
            scenarios = scenarios_from_dict(load_file(args.scenario))
        else:
            scenarios = [Scenario(name="run")]
    except (OSError, ValueError, TypeError) as exc:
        print(f"regnekraft simulate: {exc}", file=sys.stderr)
        return 2
    defaults = {"policy": args.policy, "allocation": args.allocation, "engine": args.engine}
    index = args.scenario_index
    if index is None and args.array:
        index = int(os.environ.get("SLURM_ARRAY_TASK_ID", "0"))
    if index is not None:
        if not 0 <= index < len(scenarios):
            print(
                f"regnekraft simulate: scenario index {index} out of range "
                f"(0..{len(scenarios) - 1})",
                file=sys.stderr,
            )
            return 2
        scenarios = [scenarios[index]]
    several = len(scenarios) > 1 or index is not None and args.array
    try:
        for sc in scenarios:
            sc.policy_config(defaults)  # validate before spending time
    except (ValueError, TypeError) as exc:
        print(f"regnekraft simulate: {exc}", file=sys.stderr)
        return 2
    results = []
    try:
        if len(scenarios) == 1:
            bar = None
            if not args.no_progress:
                from tqdm import tqdm

                # MaxJobs in SWF headers counts the uncleaned log, so no total is shown
                bar = tqdm(
                    total=None, unit="job", file=sys.stderr, desc=scenarios[0].name, mininterval=0.5
                )
            try:
                res = run_one(
                    args.trace,
                    scenarios[0],
                    platform,
                    defaults,
                    fmt=args.format,
                    skip_malformed=args.skip_malformed,
                    progress=bar,
                )
            finally:
                if bar is not None:
                    bar.close()
            res.write_jobs_csv(_scenario_path(args.jobs_out, res.name, several))
            results.append(res)
        else:
            workers = args.workers or min(len(scenarios), os.cpu_count() or 1)
            bar = None
            if not args.no_progress:
                from tqdm import tqdm

                bar = tqdm(total=len(scenarios), unit="scenario", file=sys.stderr)
            with ProcessPoolExecutor(max_workers=workers) as ex:
                futs = [
                    ex.submit(
                        _worker,
                        args.trace,
                        sc,
                        platform,
                        defaults,
                        args.format,
                        args.skip_malformed,
                        args.jobs_out,
                        True,
                    )
                    for sc in scenarios
                ]
                for f in futs:
                    results.append(f.result())
                    if bar is not None:
                        bar.update(1)
            if bar is not None:
                bar.close()
    except TraceError as exc:
        print(f"regnekraft simulate: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"regnekraft simulate: {exc}", file=sys.stderr)
        return 2
    if args.summary_out:
        with open(args.summary_out, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(SUMMARY_COLS)
            for r in results:
                w.writerow([r.name] + [r.summary.get(c, "") for c in SUMMARY_COLS[1:]])
    if args.groups_out:
        with open(args.groups_out, "w", newline="") as fh:
            w = csv.writer(fh)
            cols = [
                "group",
                "jobs",
                "entitlement",
                "delivered_share",
                "delivered_core_hours",
                "delivered_gpu_hours",
                "mean_wait",
            ]
            w.writerow(["scenario"] + cols)
            for r in results:
                for g in r.groups:
                    w.writerow([r.name] + [g[c] for c in cols])
    if args.series_out:
        for r in results:
            r.write_series_csv(_scenario_path(args.series_out, r.name, several))
    if args.plots:
        from .plots import plot_runs

        plot_runs(results, args.plots)
    if args.json:
        figs = [r.figures() for r in results]
        out = figs[0] if len(figs) == 1 else {"scenarios": figs}
        print(json.dumps(out, default=_jsonable, indent=2))
    else:
        _print_table(results)
    return 0


def _print_table(results):
    cols = [
        "utilisation",
        "mean_wait",
        "median_wait",
        "p95_wait",
        "mean_bounded_slowdown",
        "makespan",
        "preemptions",
        "jobs_per_second",
    ]
    head = ["scenario", "jobs"] + cols
    rows = [
        [r.name, str(r.summary["jobs"])]
        + [
            f"{r.summary[c]:.4g}" if isinstance(r.summary[c], float) else str(r.summary[c])
            for c in cols
        ]
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for r in results:
        if len(r.groups) > 1:
            print(f"\n{r.name}: delivered share vs entitlement")
            for g in r.groups:
                print(
                    f"  {g['group']:<20} {g['delivered_share']:7.3f}  (entitled {g['entitlement']:.3f},"
                    f" mean wait {g['mean_wait']:.0f} s)"
                )


def main(argv=None) -> int:
    """Stand-alone entry point: ``python -m regnekraft.simulation.command TRACE ...``."""
    parser = argparse.ArgumentParser(prog="regnekraft")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["simulate", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
