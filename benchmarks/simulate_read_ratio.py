"""Simulation time divided by the time to only read the trace, FCFS and EASY,
node-level allocation (goal: at most 3).

    python benchmarks/simulate_read_ratio.py [TRACE ...] [--repeat 5] [--engine python]

"Reading" is what the engine itself reads the trace with: the columnar reader
(``reader.columns()``) for the default engine, which here is the compiled kernel, and
iterating the reader's jobs for ``--engine python``. The simulation time includes that
reading, the replay and building the result.

Each figure is the best of ``--repeat`` runs of the process's CPU time (the machine may
be shared, which makes wall-clock ratios meaningless); ``--wall`` uses wall time."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from regnekraft.simulation import Platform, PolicyConfig, open_trace, simulate  # noqa: E402
from regnekraft.simulation.columns import columns_from_jobs  # noqa: E402
from regnekraft.simulation.kernel import warm_up  # noqa: E402

TRACES = os.environ.get("REGNEKRAFT_TRACES", os.path.join(ROOT, "..", "shared", "traces"))
DEFAULT = [
    "NASA-iPSC-1993-3.1-cln.swf.gz",
    "hpc2n-first3171.swf",
    "lublin-aaroh.swf.gz",
    "batsim-medium-late/medium_late.json",
]


CLOCK = time.process_time


def _columns(reader):
    return reader.columns() if hasattr(reader, "columns") else columns_from_jobs(reader)


def best(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = CLOCK()
        fn()
        out.append(CLOCK() - t0)
    return min(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    ap.add_argument("--engine", choices=("auto", "python"), default="auto")
    a = ap.parse_args()
    if a.engine == "auto":
        print(f"kernel loaded in {warm_up():.2f} s (once per process)", flush=True)
    global CLOCK
    if a.wall:
        CLOCK = time.perf_counter
    traces = a.traces or [os.path.join(TRACES, t) for t in DEFAULT]
    rows = []
    for trace in traces:
        name = os.path.basename(trace)
        tr = open_trace(trace)
        procs = tr.max_procs or tr.max_nodes
        if a.engine == "python":
            read = best(lambda trace=trace: sum(1 for _ in open_trace(trace)), a.repeat)
        else:
            read = best(lambda trace=trace: _columns(open_trace(trace)), a.repeat)
        row = {"trace": name, "read_seconds": read}
        for pol in ("fcfs", "easy"):
            sim = best(
                lambda trace=trace, procs=procs, pol=pol: simulate(
                    open_trace(trace),
                    Platform.single(procs),
                    PolicyConfig(policy=pol, engine=a.engine),
                ),
                a.repeat,
            )
            row[f"{pol}_seconds"] = sim
            row[f"{pol}_ratio"] = sim / read
        rows.append(row)
        print(
            f"{name:<34} read {read * 1000:8.1f} ms   FCFS {row['fcfs_seconds'] * 1000:8.1f} ms "
            f"(x{row['fcfs_ratio']:.2f})   EASY {row['easy_seconds'] * 1000:8.1f} ms "
            f"(x{row['easy_ratio']:.2f})   goal <= 3",
            flush=True,
        )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
