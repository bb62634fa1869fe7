"""Benchmark of the round optimiser: 5,000 applications x 10 resource classes.

    python benchmarks/optimiser.py [--apps 5000] [--seed 2026] [--min-share 0.3]
                                   [--time-limit SECONDS] [--json]

Generates a seeded, synthetic but realistically shaped round (capacities of the order of
the national systems for a half-year period, lognormal request sizes, demand about
2.5 x what is left, state-aid and research-share rooms that bind), runs
:func:`regnekraft.allocation.optimiser.propose`, prints the time (goal: under 10 s on
the 2-core reference machine), objective, gap, number funded and the binding
constraints, compares with the greedy baseline, and verifies that the proposal keeps
every limit (exit status 1 if it does not). No database, no Django.

The capacities are rough public orders of magnitude (cores/GPUs x 4,380 h x 0.95
availability), for a plausible shape only: this is not demo data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regnekraft.allocation.optimiser import (
    Application,
    ResourceClass,
    greedy,
    propose,
    verify,
)

HOURS = 4380 * 0.95  # a half-year period at 95 % availability

# id, unit, period capacity, share already committed, popularity (chance an application asks)
CLASSES = [
    ("betzy-cpu", "core-hours", 172_032 * HOURS, 0.35, 0.35),
    ("fram-cpu", "core-hours", 32_256 * HOURS, 0.30, 0.10),
    ("saga-cpu", "core-hours", 16_064 * HOURS, 0.30, 0.30),
    ("saga-gpu", "GPU-hours", 120 * HOURS, 0.25, 0.12),
    ("olivia-cpu", "core-hours", 64_512 * HOURS, 0.30, 0.30),
    ("olivia-gpu", "GPU-hours", 304 * HOURS, 0.30, 0.20),
    ("lumi-c-no", "core-hours", 5_243 * HOURS, 0.20, 0.06),
    ("lumi-g-no", "GPU-hours", 250 * HOURS, 0.20, 0.10),
    ("nird-storage", "TB-months", 80_000 * 6, 0.55, 0.40),
    ("tsd-cpu", "core-hours", 6_000 * HOURS, 0.40, 0.08),
]
SENSITIVE_OK = {"tsd-cpu", "nird-storage"}  # where shielded/personal data may be placed
HIGH_TIER = {"betzy-cpu", "olivia-cpu", "olivia-gpu", "nird-storage", "tsd-cpu"}

DEMAND_FACTOR = 2.5  # requests add up to about this many times what is left
ECONOMIC_CAP = 0.05  # board limit, of the period's capacity
PROTECTED_RESEARCH = 0.60


def generate(n_apps: int, seed: int):
    rng = np.random.default_rng(seed)
    popularity = np.array([c[4] for c in CLASSES])
    k = len(CLASSES)

    asks = rng.random((n_apps, k)) < popularity
    none = ~asks.any(axis=1)
    asks[none, rng.choice(k, size=none.sum(), p=popularity / popularity.sum())] = True
    size = rng.lognormal(mean=0.0, sigma=1.2, size=(n_apps, k)) * asks

    kind = rng.choice(["research", "public", "industry"], size=n_apps, p=[0.80, 0.13, 0.07])
    research = kind == "research"
    economic = (kind == "industry") | ((kind == "research") & (rng.random(n_apps) < 0.01))
    sensitive = rng.random(n_apps) < 0.05
    critical = (kind == "public") & (rng.random(n_apps) < 0.25)
    score = np.round(np.clip(rng.normal(4.6, 1.1, n_apps), 1.0, 7.0), 2)

    classes = []
    scale = np.zeros(k)
    for j, (cid, unit, cap, committed, _) in enumerate(CLASSES):
        remaining = cap * (1 - committed)
        scale[j] = DEMAND_FACTOR * remaining / size[:, j].sum()
        econ_used = 0.01 * cap
        nonres_used = 0.32 * cap
        classes.append(
            ResourceClass(
                id=cid,
                unit=unit,
                capacity=cap,
                remaining=remaining,
                economic_room=ECONOMIC_CAP * cap - econ_used,
                non_research_room=(1 - PROTECTED_RESEARCH) * cap - nonres_used,
            )
        )
    quantum = np.array(
        [1000.0 if "core" in c[1] else 10.0 if "GPU" in c[1] else 1.0 for c in CLASSES]
    )
    amounts = np.maximum(quantum, np.round(size * scale / quantum) * quantum) * asks

    apps, eligible = [], []
    for i in range(n_apps):
        req = {CLASSES[j][0]: float(amounts[i, j]) for j in range(k) if asks[i, j]}
        apps.append(
            Application(
                id=i + 1,
                score=float(score[i]),
                economic=bool(economic[i]),
                research=bool(research[i]),
                requests=req,
            )
        )
        for cid in req:
            if sensitive[i] and cid not in SENSITIVE_OK:
                continue  # placement: shielded data only on approved systems
            if critical[i] and cid not in HIGH_TIER:
                continue  # tier: a critical service only where the tier is offered
            eligible.append((i + 1, cid))
    return apps, classes, eligible


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--min-share", type=float, default=0.3)
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    apps, classes, eligible = generate(args.apps, args.seed)
    t_gen = time.perf_counter() - t0

    p = propose(
        apps, classes, eligible=eligible, min_share=args.min_share, time_limit=args.time_limit
    )
    t1 = time.perf_counter()
    g = greedy(apps, classes, eligible=eligible, min_share=args.min_share)
    t_greedy = time.perf_counter() - t1
    greedy_obj = _objective(apps, classes, eligible, g)

    problems = verify(apps, classes, p, eligible=eligible)
    n_lines = sum(len(a.requests) for a in apps)
    summary = {
        "applications": len(apps),
        "resource_classes": len(classes),
        "request_lines": n_lines,
        "ineligible_lines": n_lines - len(eligible),
        "min_share": args.min_share,
        "status": p.status,
        "method": p.method,
        "solve_seconds": round(p.solve_seconds, 3),
        "cpu_seconds": round(p.cpu_seconds, 3),
        "total_seconds": round(p.total_seconds, 3),
        "goal_seconds": 10,
        "objective": p.objective,
        "dual_bound": p.dual_bound,
        "mip_gap": p.mip_gap,
        "nodes": p.node_count,
        "funded": len(p.funded),
        "funded_in_full": sum(1 for x in p.grants if x.fraction >= 1.0),
        "greedy_objective": greedy_obj,
        "greedy_seconds": round(t_greedy, 3),
        "binding": [
            {
                "kind": c.kind,
                "class": c.class_id,
                "slack": c.slack,
                "shadow_price_per_capacity": c.shadow_price * c.norm,
            }
            for c in p.binding
        ],
        "violations": problems,
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(
            f"round optimiser benchmark: {len(apps):,} applications x {len(classes)} "
            f"resource classes ({n_lines:,} request lines, "
            f"{n_lines - len(eligible):,} ineligible), seed {args.seed},"
            f" min_share {args.min_share}; generated in {t_gen:.2f} s"
        )
        ok_time = "within" if p.total_seconds < 10 else "OVER"
        print(
            f"time:       {p.total_seconds:.2f} s in all ({p.solve_seconds:.2f} s solving,"
            f" {p.cpu_seconds:.2f} s of CPU) - {ok_time} the 10 s goal"
        )
        print(f"status:     {p.status} ({p.method}); {p.message}")
        print(
            f"objective:  {p.objective:.6f}  dual bound {p.dual_bound:.6f}  gap {p.mip_gap:.2e}"
            f"  nodes {p.node_count}  fixed before the MILP {p.fixed:,}"
        )
        print(
            f"greedy:     {greedy_obj:.6f} in {t_greedy:.2f} s"
            f" (MILP is {100 * (p.objective / greedy_obj - 1):+.3f} %)"
        )
        print(
            f"funded:     {len(p.funded):,} of {len(apps):,}"
            f" ({summary['funded_in_full']:,} in full)"
        )
        print("binding constraints (slack; shadow price per whole class capacity, in score units):")
        for c in p.binding:
            print(
                f"  {c.kind:<13} {c.class_id:<13} slack {c.slack:>14.4f} {c.unit:<10}"
                f" shadow {c.shadow_price * c.norm:8.3f}"
            )
        print("all limits:")
        for c in p.constraints:
            print(
                f"  {c.kind:<13} {c.class_id:<13} used {c.used:>16,.1f} of {c.limit:>16,.1f}"
                f" {c.unit:<10} ({100 * c.utilisation:6.2f} %)"
            )
        if problems:
            print(f"VERIFY: {len(problems)} violation(s):")
            for line in problems[:20]:
                print("  " + line)
        else:
            print(
                "verify:     every limit holds (capacity, economic room, non-research room,"
                " eligibility, min_share, fraction x request)"
            )
    return 1 if problems else 0


def _objective(apps, classes, eligible, fractions) -> float:
    norm = {c.id: (c.capacity if c.capacity is not None else c.remaining) for c in classes}
    ok = set(eligible)
    total = 0.0
    for a in apps:
        f = fractions[a.id]
        if f:
            total += (
                a.score * f * sum(amt / norm[c] for c, amt in a.requests.items() if (a.id, c) in ok)
            )
    return total


if __name__ == "__main__":
    sys.exit(main())
