"""Regnekraft's EASY backfilling side by side with AccaSim's, on the same SWF traces.

Installs AccaSim from PyPI (accasim==1.1.3) into a temporary virtualenv (or uses
--accasim-python), runs both simulators on each trace, and prints both throughputs
(jobs/s, reading the trace included for both) and their ratio.

Regnekraft runs with its default engine, which for this configuration is the compiled
kernel (``regnekraft/simulation/kernel.py``); ``--engine python`` measures the Python
event loop instead. The kernel is loaded once before the clock starts (its one-time
cost, printed, is like an import: AccaSim's imports are outside its clock too), and
Regnekraft's figure is the best of ``--repeat`` runs (default 3) because a run of a few
milliseconds is easily disturbed; AccaSim's runs take seconds and run once.

AccaSim 1.1.3 needs two accommodations, both applied here and nowhere else:
* on Python >= 3.10 ``collections.Mapping`` lives in ``collections.abc``; the driver sets
  the old alias before importing AccaSim (a shim, AccaSim itself is not changed);
* its SWF reader divides by the requested memory, so unknown memory (-1) is written as 1
  in a temporary copy of the trace that AccaSim reads.
Both run with one core per node and as many nodes as the trace's MaxProcs, node-level
allocation (AccaSim's FirstFit; Regnekraft's lowest-numbered free nodes).

    python benchmarks/simulate_vs_accasim.py [TRACE ...] [--accasim-python PY]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from regnekraft.simulation import Platform, PolicyConfig, open_trace, simulate  # noqa: E402
from regnekraft.simulation.kernel import warm_up  # noqa: E402

TRACES = os.environ.get("REGNEKRAFT_TRACES", os.path.join(ROOT, "..", "shared", "traces"))
DEFAULT = ["NASA-iPSC-1993-3.1-cln.swf.gz", "hpc2n-first3171.swf", "lublin-aaroh.swf.gz"]

DRIVER = r"""
import collections, collections.abc, json, sys, time
for _n in ("Mapping", "MutableMapping", "Sequence", "Iterable", "Callable"):
    if not hasattr(collections, _n):
        setattr(collections, _n, getattr(collections.abc, _n))
from accasim.base.simulator_class import Simulator
from accasim.base.scheduler_class import EASYBackfilling
from accasim.base.allocator_class import FirstFit
workload, sys_cfg, results = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
c0 = time.process_time()
sim = Simulator(workload, sys_cfg, EASYBackfilling(FirstFit()), RESULTS_FOLDER_PATH=results,
                scheduling_output=False, pprint_output=False, benchmark_output=False,
                statistics_output=False, show_statistics=False, save_parameters=None)
sim.start_simulation()
sec = time.perf_counter() - t0
cpu = time.process_time() - c0
print(json.dumps({"seconds": sec, "cpu_seconds": cpu}))
"""


def accasim_python(tmp, given):
    if given:
        return given
    venv = os.path.join(tmp, "accavenv")
    print("installing accasim==1.1.3 into a temporary virtualenv ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "accasim==1.1.3"], check=True)
    return py


def prepare_for_accasim(trace, dest):
    """Plain SWF copy with unknown memory (-1) written as 1; returns (jobs, max_procs)."""
    opener = gzip.open if trace.endswith(".gz") else open
    jobs = 0
    with opener(trace, "rt") as src, open(dest, "w") as out:
        for line in src:
            if line.startswith(";") or not line.strip():
                out.write(line)
                continue
            f = line.split()
            for i in (6, 9):
                if float(f[i]) < 0:
                    f[i] = "1"
            if float(f[8]) <= 0:  # unknown requested time: the run time, as Regnekraft
                f[8] = f[3]
            out.write(" ".join(f) + "\n")
            jobs += 1
    return jobs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--accasim-python", help="a python that already has accasim==1.1.3")
    ap.add_argument("--engine", choices=("auto", "python"), default="auto")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.engine == "auto":
        print(f"kernel loaded in {warm_up():.2f} s (once per process)", flush=True)
    traces = a.traces or [os.path.join(TRACES, t) for t in DEFAULT]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        py = accasim_python(tmp, a.accasim_python)
        driver = os.path.join(tmp, "driver.py")
        with open(driver, "w") as fh:
            fh.write(DRIVER)
        for trace in traces:
            name = os.path.basename(trace)
            reader = open_trace(trace)
            procs = reader.max_procs or reader.max_nodes
            swf = os.path.join(tmp, name.replace(".gz", "") + ".acc.swf")
            prepare_for_accasim(trace, swf)
            cfg = os.path.join(tmp, "sys.config")
            with open(cfg, "w") as fh:
                json.dump(
                    {
                        "groups": {"g0": {"core": 1, "mem": 10**9}},
                        "resources": {"g0": procs},
                        "equivalence": {"processor": {"core": 1}},
                        "start_time": 0,
                    },
                    fh,
                )
            res_dir = os.path.join(tmp, "results")
            os.makedirs(res_dir, exist_ok=True)
            # Regnekraft: read + simulate, EASY, node-level
            ours = ours_cpu = float("inf")
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                c0 = time.process_time()
                r = simulate(
                    open_trace(trace),
                    Platform.single(procs),
                    PolicyConfig(policy="easy", engine=a.engine),
                )
                ours = min(ours, time.perf_counter() - t0)
                ours_cpu = min(ours_cpu, time.process_time() - c0)
            n = r.summary["jobs"]
            p = subprocess.run([py, driver, swf, cfg, res_dir], capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{name}: AccaSim failed:\n{p.stderr[-2000:]}", flush=True)
                continue
            got = json.loads(p.stdout.strip().splitlines()[-1])
            acc, acc_cpu = got["seconds"], got["cpu_seconds"]
            row = {
                "trace": name,
                "jobs": n,
                "regnekraft_jobs_per_s": n / ours,
                "accasim_jobs_per_s": n / acc,
                "ratio": acc / ours,
                "ratio_cpu": acc_cpu / ours_cpu,
                "regnekraft_seconds": ours,
                "accasim_seconds": acc,
                "regnekraft_cpu_seconds": ours_cpu,
                "accasim_cpu_seconds": acc_cpu,
                "utilisation": r.summary["utilisation"],
                "mean_wait": r.summary["mean_wait"],
            }
            rows.append(row)
            print(
                f"{name:<34} {n:>7,} jobs  "
                f"Regnekraft {row['regnekraft_jobs_per_s']:>9,.0f} jobs/s  "
                f"AccaSim {row['accasim_jobs_per_s']:>7,.0f} jobs/s  ratio {row['ratio']:6.1f}x "
                f"(by CPU time {row['ratio_cpu']:.1f}x; goal >= 100x)",
                flush=True,
            )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
