"""``regnekraft plan forecast|timeline|thresholds|economics|energy``.

Each subcommand reads a planning input (JSON or TOML; default: the shipped demo of Norway's
systems, ``data/demo_norway.toml``), prints a readable report or, with ``--json``, the full
figures, and with ``--plots DIR`` writes PNG figures there. ``economics`` reads the study's
cost tables (``data/kvu_costs.toml``) unless ``--costs`` names another file.

Run without the ``regnekraft`` CLI as ``python -m regnekraft.planning.command plan ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from . import capacity as cap
from . import economics as ec
from . import energy as en
from . import forecast as fc
from . import inputs
from . import plan as pl
from .model import Quarter, quarter_range


def jsonable(x):
    import numpy as np

    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Quarter):
        return str(x)
    return x


def _emit(args: argparse.Namespace, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
    else:
        print(text)


def _plots_dir(args: argparse.Namespace) -> Path | None:
    if not getattr(args, "plots", None):
        return None
    d = Path(args.plots)
    d.mkdir(parents=True, exist_ok=True)
    return d


def _load(args: argparse.Namespace) -> inputs.PlanningInput:
    if getattr(args, "from_db", False):
        from regnekraft.cli import setup_django

        setup_django()
        from .from_db import raw_input

        inp = inputs.input_from_dict(raw_input(inputs.load_raw(args.input)))
    else:
        inp = inputs.load_input(args.input)
    import dataclasses

    changes = {}
    if getattr(args, "target_utilisation", None) is not None:
        changes["target_utilisation"] = args.target_utilisation
    if getattr(args, "start", None):
        changes["plan_start"] = Quarter.parse(args.start)
    if getattr(args, "horizon", None):
        changes["horizon"] = Quarter.parse(args.horizon)
    return dataclasses.replace(inp, **changes) if changes else inp


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.2f}G"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:,.0f}"


def _selected(inp: inputs.PlanningInput, args: argparse.Namespace) -> list[str]:
    keys = [r.key for r in inp.resources]
    chosen = getattr(args, "resource", None)
    if chosen:
        if chosen not in keys:
            raise SystemExit(
                f"error: unknown resource class {chosen!r}; the input has {', '.join(keys)}"
            )
        return [chosen]
    return keys


# --- forecast -----------------------------------------------------------------------------


def cmd_forecast(args: argparse.Namespace) -> int:
    inp = _load(args)
    demand = inputs.build_demand(inp)
    out: dict = {"classes": {}}
    lines = []
    plots = _plots_dir(args)
    for key in _selected(inp, args):
        if key not in demand.combined:
            continue
        r = inp.resource(key)
        f = demand.combined[key]
        entry = {
            "unit": r.quantity_unit,
            "combined": f.as_dict(),
            "components": [c.as_dict() for c in demand.components[key]],
            "yearly": {
                band: fc.yearly(f, band, r.hourly) for band in ("central", "lower", "upper")
            },
        }
        has_history = any(p.resource == key for p in inp.history)
        if has_history:
            try:
                bt = fc.backtest(
                    inp.history,
                    key,
                    args.model,
                    horizon=args.backtest_quarters,
                    origins=args.origins,
                    level=inp.interval_level,
                )
                entry["backtest"] = bt.as_dict()
            except ValueError as exc:
                entry["backtest"] = {"error": str(exc)}
        out["classes"][key] = entry
        lines.append(
            f"{r.label or key} ({r.quantity_unit}{' per year' if r.hourly else ', year end'}):"
        )
        lines.append(
            f"  method: {f.method} of {', '.join(c.method for c in demand.components[key])}"
        )
        ys = entry["yearly"]
        full = {q.year for q in f.periods if q.q == 1} & {q.year for q in f.periods if q.q == 4}
        for y in sorted(full):
            lines.append(
                f"  {y}: {_fmt(ys['central'][y]):>8}  band {_fmt(ys['lower'][y]):>8} - {_fmt(ys['upper'][y]):>8}"
            )
        bt = entry.get("backtest")
        if bt and "error" not in bt:
            lines.append(
                f"  back-test ({bt['model']}, last {bt['horizon_quarters']} quarters held back, "
                f"{bt['origins']} origin(s)): MAPE {bt['mape_percent']:.1f} %, "
                f"bias {bt['bias_percent']:+.1f} %, {bt['interval_level']:.0%} band covered "
                f"{bt['interval_coverage']:.0%}"
            )
        if plots:
            from . import plots as pt

            tl = cap.timeline(inp.systems, r, list(f.periods))
            pt.demand_vs_capacity(
                plots / f"forecast_{key}.png",
                r,
                f,
                tl,
                inp.history,
                inp.target_utilisation,
                components=demand.components[key],
            )
    _emit(args, out, "\n".join(lines))
    return 0


# --- timeline -----------------------------------------------------------------------------


def cmd_timeline(args: argparse.Namespace) -> int:
    inp = _load(args)
    demand = inputs.build_demand(inp)
    periods = quarter_range(inp.plan_start, inp.horizon)
    out: dict = {"target_utilisation": inp.target_utilisation, "classes": {}}
    lines = [f"Capacity and gap at {inp.target_utilisation:.0%} target utilisation"]
    plots = _plots_dir(args)
    for key in _selected(inp, args):
        r = inp.resource(key)
        tl = cap.timeline(inp.systems, r, periods)
        entry = {"timeline": tl.as_dict()}
        rows = []
        if key in demand.combined:
            rows = cap.gap(tl, demand.combined[key], inp.target_utilisation, args.band)
            entry["gap"] = [g.as_dict() for g in rows]
        out["classes"][key] = entry
        lines.append(f"\n{r.label or key} ({r.quantity_unit} per quarter)")
        lines.append(
            f"  {'quarter':8} {'capacity':>9} {'demand':>9} {'required':>9} {'gap':>9} {'util':>6}  systems"
        )
        for i, q in enumerate(periods):
            g = next((x for x in rows if x.period == q), None)
            names = [n for n, v in tl.by_system.items() if v[i] > 0]
            if g:
                lines.append(
                    f"  {str(q):8} {_fmt(g.capacity):>9} {_fmt(g.demand):>9} {_fmt(g.required):>9} "
                    f"{_fmt(g.gap):>9} {g.utilisation:>6.0%}  {', '.join(names)}"
                )
            else:
                lines.append(f"  {str(q):8} {_fmt(tl.total[i]):>9}  {', '.join(names)}")
        if plots and key in demand.combined:
            from . import plots as pt

            pt.demand_vs_capacity(
                plots / f"timeline_{key}.png",
                r,
                demand.combined[key],
                tl,
                inp.history,
                inp.target_utilisation,
            )
    _emit(args, out, "\n".join(lines))
    return 0


# --- thresholds and plan ------------------------------------------------------------------


def _apply_waits(inp: inputs.PlanningInput, waits: Sequence[str]) -> inputs.PlanningInput:
    import dataclasses

    rules = list(inp.rules)
    for w in waits:
        try:
            key, hours = w.split("=")
            value = float(hours)
        except ValueError as exc:
            raise SystemExit(f"error: --p95-wait expects CLASS=HOURS, got {w!r}") from exc
        if not any(isinstance(r, pl.WaitRule) and r.resource == key for r in rules):
            raise SystemExit(f"error: the input has no wait rule for {key!r}")
        rules = pl.with_wait_input(rules, key, value)
    return dataclasses.replace(inp, rules=tuple(rules))


def make_plan(inp: inputs.PlanningInput) -> tuple[pl.Plan, inputs.Demand]:
    demand = inputs.build_demand(inp)
    plan = pl.make_plan(
        inp.systems,
        inp.resources,
        demand.combined,
        inp.rules,
        inp.options,
        inp.plan_start,
        inp.plan_years,
        inp.target_utilisation,
    )
    return plan, demand


def plan_text(plan: pl.Plan, inp: inputs.PlanningInput) -> str:
    lines = [
        f"Rolling plan {plan.plan_years[0]}-{plan.plan_years[-1]} "
        f"(target utilisation {plan.target_utilisation:.0%})",
        "",
        "Thresholds and where today's capacity crosses them:",
    ]
    for key, c in plan.crossings.items():
        rules = "; ".join(plan.rules.get(key, ())) or "no rules"
        where = f"crossed in {c.quarter} ({c.reason()})" if c else "not crossed before the horizon"
        lines.append(f"  {key}: {rules}\n      -> {where}")
    for year, classes in plan.by_year().items():
        lines.append(f"\n{year}")
        if not classes:
            lines.append("  nothing to buy or retire")
        for key, acts in classes.items():
            r = inp.resource(key)
            for a in acts:
                if a.kind == "buy":
                    lines.append(
                        f"  {key}: ORDER {_fmt(a.units)} {r.unit}s ({a.system}) in {a.order_quarter}, "
                        f"in service {a.online_quarter}, {a.cost_mnok:,.0f} MNOK\n      why: {a.reason}"
                    )
                else:
                    lines.append(
                        f"  {key}: RETIRE {a.system} ({_fmt(a.units)} {r.unit}s) from {a.online_quarter}"
                        f"\n      why: {a.reason}"
                    )
    later = plan.outlook()
    if later:
        lines.append("\nOutlook after the plan years (for the next revision):")
        for a in later:
            if a.kind == "buy":
                lines.append(
                    f"  {a.year} {a.resource}: order {_fmt(a.units)} for {a.online_quarter} - {a.reason}"
                )
    return "\n".join(lines)


def cmd_thresholds(args: argparse.Namespace) -> int:
    inp = _apply_waits(_load(args), args.p95_wait or [])
    plan, demand = make_plan(inp)
    plots = _plots_dir(args)
    if plots:
        from . import plots as pt

        pt.plan_timeline(plots / "plan_timeline.png", plan, inp.horizon)
        periods = quarter_range(inp.plan_start, inp.horizon)
        for r in inp.resources:
            if r.key in demand.combined:
                pt.demand_vs_capacity(
                    plots / f"plan_{r.key}.png",
                    r,
                    demand.combined[r.key],
                    cap.timeline(inp.systems, r, periods),
                    inp.history,
                    inp.target_utilisation,
                    planned=cap.timeline(plan.systems, r, periods),
                )
    _emit(args, plan.as_dict(), plan_text(plan, inp))
    return 0


# --- economics ----------------------------------------------------------------------------


def economics_text(rep: dict) -> str:
    a = rep["assumptions"]
    lines = [
        f"Priced effects, NPV {a['period'][0]}-{a['period'][1]} in MNOK ({a['base_year']} = year 0, "
        f"discount rate {a['discount_rate']:.0%}, tax financing cost {a['tax_cost_rate']:.0%}, "
        "VAT excluded), rounded to 10 MNOK",
        "",
    ]
    rows = []
    for c in rep["concepts"]:
        basis = "npv_net_rounded" if c["npv_net_rounded"] else "npv_gross_rounded"
        v = c[basis]
        label = f"{c['key']} {'net of ' + rep['zero_alternative'] if c['npv_net_rounded'] else 'absolute'}"
        rows.append([label, v["investment"], v["operation"], v["tax"], v["total"]])
    lines.append(
        ec.table(
            [[r[0], *(f"{x:,.0f}" for x in r[1:])] for r in rows],
            ["concept", "investment", "operation", "tax cost", "sum"],
        )
    )
    lines.append("")
    gross = [
        [
            c["key"],
            *(
                f"{c['npv_gross_rounded'][k]:,.0f}"
                for k in ("investment", "operation", "tax", "total")
            ),
        ]
        for c in rep["concepts"]
    ]
    lines.append(
        ec.table(gross, ["absolute (Table 10.1)", "investment", "operation", "tax cost", "sum"])
    )
    lines.append("")
    need = [
        [c["key"], f"{c['undiscounted_total']:,.0f}", f"{c['financing_need_incl_vat']:,.0f}"]
        for c in rep["concepts"]
    ]
    lines.append(ec.table(need, ["financing need 2026-30", "excl. VAT", "incl. VAT"]))
    lines.append(f"\nLeast costly first: {', '.join(rep['ranking_least_costly_first'])}")
    if "monte_carlo" in rep:
        m = rep["monte_carlo"]
        lines.append(
            f"\nMonte Carlo ({m['n']:,} runs, {m['distribution']}, seed {m['seed']}), total NPV:"
        )
        for c in rep["concepts"]:
            key = "monte_carlo_net" if "monte_carlo_net" in c else "monte_carlo_gross"
            p = c[key]["total"]
            extra = ""
            if c.get("probability_least_costly") is not None:
                extra = f", least costly in {c['probability_least_costly']:.0%} of runs"
            lines.append(
                f"  {c['key']} {'net' if key.endswith('net') else 'absolute'}: "
                f"P10 {p['p10']:,.0f}  P50 {p['p50']:,.0f}  P90 {p['p90']:,.0f}  mean {p['mean']:,.0f}{extra}"
            )
    if "check" in rep:
        lines.append(
            "\nAgainst the study's published figures, rounded to 10 MNOK (Table 10.1's K3 tax cost -640"
            "\ncontradicts its own sum: -2,310 - 840 - tax = -3,780 gives -630):"
        )
        for row in rep["check"]:
            if row["computed_rounded"] == row["published"]:
                ok = "same"
            elif abs(row["difference"]) <= 10:
                ok = "within 10"
            else:
                ok = "DIFFERS"
            lines.append(
                f"  {row['table']:10} {row['concept']} {row['category']:10} published {row['published']:>7,.0f}"
                f"  computed {row['computed']:>9,.1f}  ({ok})"
            )
    return "\n".join(lines)


def cmd_economics(args: argparse.Namespace) -> int:
    study = ec.load_study(args.costs)
    mc = (
        ec.monte_carlo(study, n=args.runs, seed=args.seed, distribution=args.distribution)
        if args.runs
        else None
    )
    rep = ec.report(study, mc)
    plots = _plots_dir(args)
    if plots:
        from . import plots as pt

        pt.npv_by_category(plots / "npv_by_category.png", ec.compare(study), mc)
    _emit(args, rep, economics_text(rep))
    return 0


# --- energy -------------------------------------------------------------------------------


def cmd_energy(args: argparse.Namespace) -> int:
    inp = _load(args)
    periods = [Quarter.parse(p) for p in args.period] if args.period else list(inp.energy_periods)
    if not periods:
        raise SystemExit("error: no periods: give --period or [energy] periods in the input")
    rep = en.energy_report(
        inp.systems,
        inp.project_usage,
        periods,
        inp.grid,
        resources={r.key: r for r in inp.resources},
    )
    d = rep.as_dict()
    d["periods"] = [str(p) for p in periods]
    lines = [f"Energy and carbon, {', '.join(str(p) for p in periods)}", ""]
    rows = [
        [
            f"{p.system} / {p.resource}",
            f"{p.power_kw:,.0f}",
            f"{p.utilisation:.0%}",
            f"{p.share:g}",
            f"{p.pue:.2f}",
            f"{p.intensity_g_per_kwh:g}",
            f"{p.facility_kwh / 1000:,.1f}",
            f"{p.co2_kg / 1000:,.2f}",
        ]
        for p in rep.partitions
    ]
    lines.append(
        ec.table(
            rows, ["system / partition", "kW", "util", "share", "PUE", "gCO2/kWh", "MWh", "t CO2"]
        )
    )
    lines.append("")
    prow = [
        [k, f"{v['facility_kwh'] / 1000:,.1f}", f"{v['co2_kg'] / 1000:,.2f}"]
        for k, v in sorted(rep.projects.items())
    ]
    prow.append(
        [
            "(no recorded usage)",
            f"{rep.unattributed['facility_kwh'] / 1000:,.1f}",
            f"{rep.unattributed['co2_kg'] / 1000:,.2f}",
        ]
    )
    prow.append(
        [
            "sum = all systems",
            f"{sum(v['facility_kwh'] for v in rep.by_system.values()) / 1000:,.1f}",
            f"{sum(v['co2_kg'] for v in rep.by_system.values()) / 1000:,.2f}",
        ]
    )
    lines.append(ec.table(prow, ["project", "MWh", "t CO2"]))
    ind = rep.indicators
    lines.append("\nEffect goal 4 indicators (000:3730-3750):")
    lines.append(
        f"  carbon footprint: {ind['co2_tonnes']:,.1f} t CO2 ({ind['grams_co2_per_kwh']:.1f} g/kWh on average)"
    )
    if ind["renewable_share"] is not None:
        lines.append(f"  renewable share of energy: {ind['renewable_share']:.1%}")
    if ind["energy_weighted_pue"] is not None:
        lines.append(f"  energy-weighted PUE: {ind['energy_weighted_pue']:.2f}")
    _emit(args, d, "\n".join(lines))
    return 0


# --- parser -------------------------------------------------------------------------------


def register(subparsers) -> None:
    """Add ``plan`` with its subcommands to an argparse subparsers object."""
    plan = subparsers.add_parser(
        "plan",
        help="capacity planning: forecasts, capacity timeline, thresholds and the four-year plan, economics, energy",
        description=__doc__.split("\n\n")[0],
    )
    sub = plan.add_subparsers(dest="plan_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, func, help: str, needs_input: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="print the full result as JSON")
        p.add_argument("--plots", metavar="DIR", help="write PNG figures to this folder")
        if needs_input:
            p.add_argument(
                "--input",
                metavar="FILE",
                help="planning input, JSON or TOML (default: the shipped demo)",
            )
            p.add_argument(
                "--from-db",
                action="store_true",
                help="take systems and usage from the platform's database (on top of --input)",
            )
        p.set_defaults(func=func)
        return p

    p = add(
        "forecast",
        cmd_forecast,
        "demand per resource class (history, surveys, scenarios) with a back-test",
    )
    p.add_argument("--class", dest="resource", help="only this resource class")
    p.add_argument(
        "--model",
        choices=fc.METHODS_A,
        default="loglinear",
        help="model for the back-test (default loglinear)",
    )
    p.add_argument(
        "--backtest-quarters", type=int, default=4, help="quarters held back (default 4)"
    )
    p.add_argument(
        "--origins", type=int, default=4, help="rolling origins in the back-test (default 4)"
    )
    p.add_argument("--horizon", help="last quarter to forecast, e.g. 2031Q4 (default: the input's)")

    p = add("timeline", cmd_timeline, "capacity per class and quarter, and the gap to demand")
    p.add_argument("--class", dest="resource", help="only this resource class")
    p.add_argument("--target-utilisation", type=float, help="default: the input's (0.75)")
    p.add_argument(
        "--band",
        choices=["central", "lower", "upper"],
        default="central",
        help="demand band for the gap",
    )
    p.add_argument("--start", help="first quarter, e.g. 2026Q1 (default: the plan start)")
    p.add_argument("--horizon", help="last quarter (default: the input's)")

    p = add(
        "thresholds",
        cmd_thresholds,
        "threshold crossings and the rolling four-year plan (what to buy or retire, and why)",
    )
    p.add_argument(
        "--target-utilisation", type=float, help="sizing target (default: the input's, 0.75)"
    )
    p.add_argument(
        "--p95-wait",
        action="append",
        metavar="CLASS=HOURS",
        help="simulated p95 wait for a class's wait rule (repeatable)",
    )
    p.add_argument("--start", help="first quarter of the plan, e.g. 2026Q1")
    p.add_argument("--horizon", help="last quarter watched (default: the input's)")

    p = add(
        "economics",
        cmd_economics,
        "the study's cost/benefit figures (Tables 9.2-9.5, 10.1) with Monte Carlo",
        needs_input=False,
    )
    p.add_argument(
        "--costs", metavar="FILE", help="cost tables, TOML or JSON (default: the study's, shipped)"
    )
    p.add_argument(
        "--runs", type=int, default=10_000, help="Monte Carlo runs; 0 to skip (default 10000)"
    )
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--distribution", choices=["pert", "triangular"], default="pert")

    p = add(
        "energy",
        cmd_energy,
        "energy and carbon per system, attributed to projects; effect goal 4 indicators",
    )
    p.add_argument(
        "--period",
        action="append",
        metavar="QUARTER",
        help="e.g. 2025Q4 (repeatable; default: the input's)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="regnekraft")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
