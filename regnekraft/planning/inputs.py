"""Read a planning input (JSON or TOML) into the core's dataclasses, and build the demand.

The shipped example ``data/demo_norway.toml`` shows every table. The Django side can skip the
file and build ``PlanningInput`` from the catalogue and accounting directly.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

from . import forecast as fc
from .capacity import DEFAULT_TARGET_UTILISATION
from .energy import Grid, ProjectUsage
from .model import Quarter, ResourceClass, System, UsagePoint, quarter_range
from .plan import DemandRule, InvestmentOption, WaitRule

DEMO_FILE = "demo_norway.toml"


@dataclass(frozen=True)
class DemandSpec:
    components: tuple[Mapping[str, object], ...]
    combine: str = "sum"


@dataclass(frozen=True)
class PlanningInput:
    resources: tuple[ResourceClass, ...]
    systems: tuple[System, ...]
    history: tuple[UsagePoint, ...] = ()
    survey: tuple[fc.SurveyNeed, ...] = ()
    demand: Mapping[str, DemandSpec] = field(default_factory=dict)
    rules: tuple[DemandRule | WaitRule, ...] = ()
    options: Mapping[str, InvestmentOption] = field(default_factory=dict)
    grid: Grid = field(default_factory=lambda: Grid({}, {}, {}))
    project_usage: tuple[ProjectUsage, ...] = ()
    energy_periods: tuple[Quarter, ...] = ()
    plan_start: Quarter = Quarter(2026, 1)
    plan_years: int = 4
    horizon: Quarter = Quarter(2031, 4)
    target_utilisation: float = DEFAULT_TARGET_UTILISATION
    interval_level: float = 0.8

    def resource(self, key: str) -> ResourceClass:
        for r in self.resources:
            if r.key == key:
                return r
        raise KeyError(f"unknown resource class {key!r}")


def _date(x: object) -> dt.date | None:
    if x is None or x == "":
        return None
    if isinstance(x, dt.date):
        return x
    return dt.date.fromisoformat(str(x))


def _required_date(x: object, what: str) -> dt.date:
    day = _date(x)
    if day is None:
        raise ValueError(f"{what}: a date (YYYY-MM-DD) is required")
    return day


def _history(data: Mapping) -> list[UsagePoint]:
    out: list[UsagePoint] = []
    h = data.get("history", {})
    if isinstance(h, list):  # rows: {period, resource, quantity}
        for row in h:
            out.append(
                UsagePoint(Quarter.parse(row["period"]), row["resource"], float(row["quantity"]))
            )
        return out
    for res, spec in h.items():
        start = Quarter.parse(spec["start"])
        scale = float(spec.get("scale", 1.0))
        for i, v in enumerate(spec["values"]):
            out.append(UsagePoint(start + i, res, float(v) * scale))
    return out


def _rule(d: Mapping) -> DemandRule | WaitRule:
    kind = d.get("kind", "demand")
    if kind == "demand":
        return DemandRule(
            resource=d["resource"],
            ratio=float(d.get("ratio", 0.75)),
            quarters=int(d.get("quarters", 2)),
            band=str(d.get("band", "central")),
        )
    if kind == "wait":
        sim = d.get("simulated_p95_hours", 0.0)
        if isinstance(sim, Mapping):
            sim = {Quarter.parse(k): float(v) for k, v in sim.items()}
        else:
            sim = float(sim)
        return WaitRule(
            resource=d["resource"],
            hours=float(d["hours"]),
            simulated_p95_hours=sim,
            quarters=int(d.get("quarters", 1)),
        )
    raise ValueError(f"unknown rule kind {kind!r}")


def _system(x: Mapping[str, Any]) -> System:
    return System(
        name=x["name"],
        country=x.get("country", "NO"),
        location=x.get("location", ""),
        commissioned=_required_date(x["commissioned"], f"system {x['name']}: commissioned"),
        decommissioned=_date(x.get("decommissioned")),
        units={k: float(v) for k, v in x.get("units", {}).items()},
        availability=float(x.get("availability", 0.95)),
        share=float(x.get("share", 1.0)),
        power_kw={k: float(v) for k, v in x.get("power_kw", {}).items()},
        pue=float(x.get("pue", 1.2)),
        idle_power_fraction=float(x.get("idle_power_fraction", 0.3)),
        grid_intensity_g_per_kwh=x.get("grid_intensity_g_per_kwh"),
        renewable_share=x.get("renewable_share"),
        planned=bool(x.get("planned", False)),
        source=x.get("source", ""),
    )


def input_from_dict(data: Mapping) -> PlanningInput:
    s = data.get("settings", {})
    resources = tuple(
        ResourceClass(
            r["key"], r.get("unit", "unit"), bool(r.get("hourly", True)), r.get("label", "")
        )
        for r in data["resources"]
    )
    systems = tuple(_system(x) for x in data.get("systems", []))
    survey = tuple(
        fc.SurveyNeed(
            group=n["group"],
            resource=n["resource"],
            year=int(n["year"]),
            quantity=float(n["quantity"]),
            low=n.get("low"),
            high=n.get("high"),
            source=n.get("source", ""),
        )
        for n in data.get("survey", [])
    )
    demand = {
        k: DemandSpec(tuple(v.get("components", [])), v.get("combine", "sum"))
        for k, v in data.get("demand", {}).items()
    }
    options = {
        k: InvestmentOption(resource=k, **{kk: vv for kk, vv in v.items() if kk != "resource"})
        for k, v in data.get("options", {}).items()
    }
    g = data.get("grid", {})
    grid = Grid(
        {k: float(v) for k, v in g.get("intensity_g_per_kwh", {}).items()},
        {k: float(v) for k, v in g.get("renewable_share", {}).items()},
        g.get("sources", {}),
    )
    e = data.get("energy", {})
    usage = tuple(
        ProjectUsage(
            u["project"],
            u["system"],
            u["resource"],
            Quarter.parse(u["period"]),
            float(u["quantity"]),
        )
        for u in e.get("usage", [])
    )
    return PlanningInput(
        resources=resources,
        systems=systems,
        history=tuple(_history(data)),
        survey=survey,
        demand=demand,
        rules=tuple(_rule(r) for r in data.get("rules", [])),
        options=options,
        grid=grid,
        project_usage=usage,
        energy_periods=tuple(Quarter.parse(p) for p in e.get("periods", [])),
        plan_start=Quarter.parse(s.get("plan_start", "2026Q1")),
        plan_years=int(s.get("plan_years", 4)),
        horizon=Quarter.parse(s.get("horizon", "2031Q4")),
        target_utilisation=float(s.get("target_utilisation", DEFAULT_TARGET_UTILISATION)),
        interval_level=float(s.get("interval_level", 0.8)),
    )


def load_raw(path: str | Path | None = None) -> dict:
    if path is None:
        text = (
            importlib_resources.files("regnekraft.planning.data")
            .joinpath(DEMO_FILE)
            .read_text(encoding="utf-8")
        )
        return tomllib.loads(text)
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    return json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)


def load_input(path: str | Path | None = None) -> PlanningInput:
    """Load a planning input file; without a path, the shipped demo of Norway's systems."""
    return input_from_dict(load_raw(path))


# ---------------------------------------------------------------------------------------
# Demand from the spec
# ---------------------------------------------------------------------------------------


def forecast_periods(inp: PlanningInput, resource: str) -> list[Quarter]:
    """From the quarter after the class's history (or the plan start) to the horizon."""
    hist = [p.period for p in inp.history if p.resource == resource]
    first = (max(hist) + 1) if hist else inp.plan_start
    first = min(first, inp.plan_start)
    return quarter_range(first, inp.horizon)


def _base_units(inp: PlanningInput, resource: ResourceClass) -> tuple[int, float]:
    """Average units in use over the last four quarters of history (for growth scenarios)."""
    qs, y = fc.series_of(inp.history, resource.key)
    last = list(zip(qs[-4:], y[-4:], strict=True))
    units = [v / q.hours if resource.hourly else v for q, v in last]
    return last[-1][0].year, sum(units) / len(units)


def build_component(
    inp: PlanningInput,
    resource: ResourceClass,
    spec: Mapping[str, Any],  # one demand entry of a JSON/TOML input file
    periods: Sequence[Quarter],
) -> fc.Forecast:
    method = spec.get("method")
    if method == "history":
        f = fc.history_forecast(
            inp.history,
            resource.key,
            periods[-1],
            model=str(spec.get("model", "loglinear")),
            level=float(spec.get("level", inp.interval_level)),
            seasonal=bool(spec.get("seasonal", False)),
        )
        return f.restrict([q for q in periods if q in f.periods])
    if method == "survey":
        return fc.survey_forecast(inp.survey, resource, periods)
    if method == "scenario":
        family = str(spec["family"])
        base_year = spec.get("base_year")
        base_units = spec.get("base_units")
        if family in ("cpu", "gpu") and (base_year is None or base_units is None):
            base_year, base_units = _base_units(inp, resource)
        if "growth" in spec:  # custom family: {low, medium, high}
            if base_year is None or base_units is None:
                raise ValueError(
                    f"demand for {resource.key}: growth family {family!r} needs"
                    " base_year and base_units"
                )
            g = spec["growth"]
            lo, me, hi = (
                fc.GrowthScenario(
                    f"{family}-{n}",
                    resource.key,
                    int(base_year),
                    float(base_units),
                    float(g[n]),
                    hold_after=None if spec.get("hold_after") is None else int(spec["hold_after"]),
                )
                for n in ("low", "medium", "high")
            )
        else:
            hold = spec.get("hold_after")
            lo, me, hi = fc.study_scenarios(
                resource.key, family, base_year, base_units, None if hold is None else int(hold)
            )
        return fc.growth_forecast(resource, periods, lo, me, hi)
    raise ValueError(f"unknown demand method {method!r}")


@dataclass(frozen=True)
class Demand:
    combined: Mapping[str, fc.Forecast]
    components: Mapping[str, tuple[fc.Forecast, ...]]


def build_demand(inp: PlanningInput) -> Demand:
    combined: dict[str, fc.Forecast] = {}
    components: dict[str, tuple[fc.Forecast, ...]] = {}
    for key, spec in inp.demand.items():
        r = inp.resource(key)
        periods = forecast_periods(inp, key)
        parts = tuple(build_component(inp, r, c, periods) for c in spec.components)
        components[key] = parts
        combined[key] = fc.combine(parts, spec.combine) if len(parts) > 1 else parts[0]
    return Demand(combined, components)
