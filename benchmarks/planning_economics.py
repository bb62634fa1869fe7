"""How fast the planning core runs on the shipped inputs. Prints figures; asserts nothing.

python benchmarks/planning_economics.py
"""

import time

from regnekraft.planning import economics as ec
from regnekraft.planning import inputs
from regnekraft.planning import plan as pl


def timed(label, func, repeat=3):
    best = min(_once(func) for _ in range(repeat))
    print(f"{label:55} {best * 1000:9.1f} ms")
    return best


def _once(func):
    t = time.perf_counter()
    func()
    return time.perf_counter() - t


def main() -> None:
    study = ec.load_study()
    timed("economics: compare (Tables 9.2-9.5)", lambda: ec.compare(study))
    n = 100_000
    s = timed(f"economics: Monte Carlo, {n:,} runs", lambda: ec.monte_carlo(study, n=n))
    print(f"{'  -> runs per second':55} {n / s:9.0f}")
    inp = inputs.load_input()
    timed("forecast: demand for all classes (demo)", lambda: inputs.build_demand(inp))
    demand = inputs.build_demand(inp).combined
    timed(
        "plan: thresholds and four-year plan (demo)",
        lambda: pl.make_plan(
            inp.systems, inp.resources, demand, inp.rules, inp.options, inp.plan_start
        ),
    )


if __name__ == "__main__":
    main()
