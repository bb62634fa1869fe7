"""Saturated synthetic traces of 100,000 and 1,000,000 jobs: EASY backfilling with node-level
allocation, multifactor priority with decayed fair-share, and group quotas with borrowing.

Prints seconds, peak memory and time(1M)/time(100k). Each size runs in its own process
so that peak memory (ru_maxrss) is that run's own.

    python benchmarks/simulate_scale.py [--sizes 100000 1000000] [--nodes 1024] [--load 1.1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from regnekraft.simulation import GroupSpec, Platform, PolicyConfig, PriorityWeights
from regnekraft.simulation.engine import Simulator
from regnekraft.simulation.synthetic import saturated

GROUPS = [
    GroupSpec("research", 0.55, borrowing_limit=0.3),
    GroupSpec("health", 0.15, borrowing_limit=0.2),
    GroupSpec("meteorology", 0.15, borrowing_limit=0.2),
    GroupSpec("defence", 0.05, borrowing_limit=0.05),
    GroupSpec("industry", 0.10, borrowing_limit=0.1, economic=True),
]
DEMAND = [0.45, 0.2, 0.15, 0.05, 0.15]


def one(n, nodes, load, queue):
    pol = PolicyConfig(
        policy="easy",
        allocation="nodes",
        priority="multifactor",
        fairshare="classic",
        quotas=True,
        half_life=7 * 86400,
        weights=PriorityWeights(age=1000, fairshare=10000, job_size=100),
    )
    jobs = saturated(
        n,
        nodes,
        load=load,
        groups=[g.name for g in GROUPS],
        weights=DEMAND,
        max_job_nodes=nodes // 16,
        mean_runtime=3600,
        seed=7,
        economic_groups=("industry",),
    )
    sim = Simulator(Platform.single(nodes), pol, GROUPS)
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = sim.run(jobs)
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    # how many jobs were waiting, sampled at each start (from the results)
    import numpy as np

    sub = np.sort(res.jobs["submit_time"])
    st = np.sort(res.jobs["start_time"][res.jobs["start_time"] >= 0])
    samples = np.linspace(sub[0], sub[-1], 1000)
    waiting = np.searchsorted(sub, samples, "right") - np.searchsorted(st, samples, "right")
    queue.put(
        {
            "jobs": n,
            "seconds": sec,
            "cpu_seconds": cpu,
            "jobs_per_second": n / sec,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "utilisation": res.summary["utilisation"],
            "mean_wait_h": res.summary["mean_wait"] / 3600,
            "queue_median": float(np.median(waiting)),
            "queue_max": int(waiting.max()),
            "completed": res.summary["completed"],
            "rejected": res.summary["rejected"],
            "passes": res.summary["passes"],
        }
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--nodes", type=int, default=1024)
    ap.add_argument("--load", type=float, default=1.1)
    a = ap.parse_args()
    out = []
    ctx = mp.get_context("fork")
    for n in a.sizes:
        q = ctx.Queue()
        p = ctx.Process(target=one, args=(n, a.nodes, a.load, q))
        p.start()
        r = q.get()
        p.join()
        out.append(r)
        print(
            f"{n:>9,} jobs: {r['seconds']:7.1f} s (cpu {r['cpu_seconds']:.1f} s)  "
            f"{r['jobs_per_second']:9,.0f} jobs/s  "
            f"peak {r['peak_rss_mib']:7.0f} MiB  utilisation {r['utilisation']:.3f}  "
            f"queue median {r['queue_median']:.0f} max {r['queue_max']}  "
            f"mean wait {r['mean_wait_h']:.1f} h",
            flush=True,
        )
    if len(out) >= 2:
        ratio = out[-1]["seconds"] / out[0]["seconds"]
        cpu_ratio = out[-1]["cpu_seconds"] / out[0]["cpu_seconds"]
        size_ratio = out[-1]["jobs"] / out[0]["jobs"]
        print(
            f"time({out[-1]['jobs']:,}) / time({out[0]['jobs']:,}) = {ratio:.2f} "
            f"(cpu {cpu_ratio:.2f}; jobs ratio {size_ratio:.0f}; goal <= 12 for 10x)"
        )
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    goal = [r for r in out if r["jobs"] == 1_000_000]
    if goal:
        r = goal[0]
        print(
            f"goal 1,000,000 jobs <= 60 s and <= 2048 MiB: {r['seconds']:.1f} s, "
            f"{r['peak_rss_mib']:.0f} MiB -> "
            f"{'met' if r['seconds'] <= 60 and r['peak_rss_mib'] <= 2048 else 'MISSED'}"
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
