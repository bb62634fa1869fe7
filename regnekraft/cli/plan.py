"""``regnekraft plan forecast|timeline|thresholds|economics|energy``.

Each subcommand reads a planning input (JSON or TOML; default: the shipped demo of Norway's
systems, ``data/demo_norway.toml``), prints a readable report or, with ``--json``, the full
figures, and with ``--plots DIR`` writes PNG figures there. ``economics`` reads the study's
cost tables (``data/kvu_costs.toml``) unless ``--costs`` names another file.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regnekraft.planning import capacity as cap
from regnekraft.planning import economics as ec
from regnekraft.planning import energy as en
from regnekraft.planning import forecast as fc
from regnekraft.planning import inputs
from regnekraft.planning import plan as pl
from regnekraft.planning.model import Quarter, quarter_range
from regnekraft.planning.rolling import make_plan

from .output import emit
from .plan_report import economics_text, energy_text, forecast_lines, plan_text, timeline_lines


def _plots_dir(args: argparse.Namespace) -> Path | None:
    if not getattr(args, "plots", None):
        return None
    d = Path(args.plots)
    d.mkdir(parents=True, exist_ok=True)
    return d


def _load(args: argparse.Namespace) -> inputs.PlanningInput:
    if getattr(args, "from_db", False):
        from regnekraft.bootstrap import setup_django

        setup_django()
        from regnekraft.planning.from_db import raw_input

        inp = inputs.input_from_dict(raw_input(inputs.load_raw(args.input)))
    else:
        inp = inputs.load_input(args.input)
    changes: dict[str, Any] = {}
    if getattr(args, "target_utilisation", None) is not None:
        changes["target_utilisation"] = args.target_utilisation
    if getattr(args, "start", None):
        changes["plan_start"] = Quarter.parse(args.start)
    if getattr(args, "horizon", None):
        changes["horizon"] = Quarter.parse(args.horizon)
    return dataclasses.replace(inp, **changes) if changes else inp


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


def _forecast_entry(
    args: argparse.Namespace, inp: inputs.PlanningInput, demand: inputs.Demand, key: str
) -> dict:
    r = inp.resource(key)
    f = demand.combined[key]
    entry: dict[str, Any] = {
        "unit": r.quantity_unit,
        "combined": f.as_dict(),
        "components": [c.as_dict() for c in demand.components[key]],
        "yearly": {band: fc.yearly(f, band, r.hourly) for band in ("central", "lower", "upper")},
    }
    if any(p.resource == key for p in inp.history):
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
    return entry


def cmd_forecast(args: argparse.Namespace) -> int:
    inp = _load(args)
    demand = inputs.build_demand(inp)
    out: dict = {"classes": {}}
    lines: list[str] = []
    plots = _plots_dir(args)
    for key in _selected(inp, args):
        if key not in demand.combined:
            continue
        r = inp.resource(key)
        f = demand.combined[key]
        entry = out["classes"][key] = _forecast_entry(args, inp, demand, key)
        lines += forecast_lines(r.label or key, r, f, demand.components[key], entry)
        if plots:
            from regnekraft.planning import plots as pt

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
    emit(args, out, "\n".join(lines))
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
        entry: dict[str, Any] = {"timeline": tl.as_dict()}
        rows = []
        if key in demand.combined:
            rows = cap.gap(tl, demand.combined[key], inp.target_utilisation, args.band)
            entry["gap"] = [g.as_dict() for g in rows]
        out["classes"][key] = entry
        lines += timeline_lines(r.label or key, r, periods, tl, rows)
        if plots and key in demand.combined:
            from regnekraft.planning import plots as pt

            pt.demand_vs_capacity(
                plots / f"timeline_{key}.png",
                r,
                demand.combined[key],
                tl,
                inp.history,
                inp.target_utilisation,
            )
    emit(args, out, "\n".join(lines))
    return 0


# --- thresholds and plan ------------------------------------------------------------------


def _apply_waits(inp: inputs.PlanningInput, waits: Sequence[str]) -> inputs.PlanningInput:
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


def _plan_plots(plots: Path, plan: pl.Plan, demand: inputs.Demand, inp: inputs.PlanningInput):
    from regnekraft.planning import plots as pt

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


def cmd_thresholds(args: argparse.Namespace) -> int:
    inp = _apply_waits(_load(args), args.p95_wait or [])
    plan, demand = make_plan(inp)
    plots = _plots_dir(args)
    if plots:
        _plan_plots(plots, plan, demand, inp)
    emit(args, plan.as_dict(), plan_text(plan, inp))
    return 0


# --- economics and energy -----------------------------------------------------------------


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
        from regnekraft.planning import plots as pt

        pt.npv_by_category(plots / "npv_by_category.png", ec.compare(study), mc)
    emit(args, rep, economics_text(rep))
    return 0


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
    emit(args, d, energy_text(rep, periods))
    return 0


# --- parser -------------------------------------------------------------------------------


def _adder(sub: Any):
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

    return add


def _register_forecast(add) -> None:
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


def _register_timeline(add) -> None:
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


def _register_thresholds(add) -> None:
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


def _register_economics_energy(add) -> None:
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


def register(subparsers: Any) -> None:
    """Add ``plan`` with its subcommands to an argparse subparsers object."""
    plan = subparsers.add_parser(
        "plan",
        help="capacity planning: forecasts, capacity timeline, thresholds and the four-year "
        "plan, economics, energy",
        description=(__doc__ or "").split("\n\n")[0],
    )
    sub = plan.add_subparsers(dest="plan_command", metavar="SUBCOMMAND", required=True)
    add = _adder(sub)
    _register_forecast(add)
    _register_timeline(add)
    _register_thresholds(add)
    _register_economics_energy(add)
