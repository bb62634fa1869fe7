"""Thresholds that trigger investment, and the rolling four-year plan that follows.

The study asks for "a model and a process to map future needs, and threshold values for when
to invest in more capacity", in a four-year plan updated every second year (000:8012-8018).
Two kinds of threshold:

* ``DemandRule``: forecast demand above ``ratio`` of capacity for ``quarters`` consecutive
  quarters (``band`` picks the central forecast or its upper band);
* ``WaitRule``: the policy simulator's p95 wait above ``hours`` for ``quarters`` quarters.
  The simulated waits are an input (a number per quarter, or one number for all), so the core
  does not depend on the simulator; re-simulate with the plan's capacity to close the loop.

A triggered rule buys the class's ``InvestmentOption``: it must be in service by the quarter
the threshold is crossed, so it is ordered ``lead_time_quarters`` earlier; if that is already
past, it is ordered now and the plan says how many quarters it comes late. The purchase is
sized so that demand stays at or below the target utilisation for ``cover_quarters`` after it
comes online, in whole modules of ``module_units``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from .capacity import DEFAULT_TARGET_UTILISATION, timeline
from .forecast import Forecast
from .model import Quarter, ResourceClass, System, quarter_range

PLAN_YEARS = 4


@dataclass(frozen=True)
class DemandRule:
    resource: str
    ratio: float = 0.75
    quarters: int = 2
    band: str = "central"

    def describe(self) -> str:
        b = "" if self.band == "central" else f" ({self.band} band)"
        return (
            f"forecast demand{b} above {self.ratio:.0%} of capacity "
            f"for {self.quarters} consecutive quarter{'s' if self.quarters != 1 else ''}"
        )


@dataclass(frozen=True)
class WaitRule:
    resource: str
    hours: float
    simulated_p95_hours: Mapping[Quarter, float] | float = 0.0
    quarters: int = 1

    def p95(self, q: Quarter) -> float:
        if isinstance(self.simulated_p95_hours, Mapping):
            return float(self.simulated_p95_hours.get(q, 0.0))
        return float(self.simulated_p95_hours)

    def describe(self) -> str:
        return f"simulated p95 wait above {self.hours:g} h for {self.quarters} quarter(s)"


@dataclass(frozen=True)
class InvestmentOption:
    """What the plan buys for a class when a threshold triggers."""

    resource: str
    name: str
    cost_per_unit_mnok: float  # per core, per GPU, per TB
    lead_time_quarters: int = 4
    lifetime_years: float = 6.0
    module_units: float = 1.0  # buy in whole modules (e.g. 256 cores, 4 GPUs)
    availability: float = 0.95
    share: float = 1.0
    country: str = "NO"
    location: str = ""
    power_kw_per_unit: float = 0.0
    pue: float = 1.2
    cover_quarters: int = 8


@dataclass(frozen=True)
class Crossing:
    resource: str
    quarter: Quarter  # first quarter of the run that crosses the threshold
    rule: str
    value: float  # demand/capacity ratio or p95 wait at that quarter
    kind: str = "demand"  # or "wait"
    band: str = "central"

    def reason(self) -> str:
        if self.kind == "wait":
            return f"{self.rule}: {self.value:g} h in {self.quarter}"
        return f"{self.rule}: demand at {self.value:.0%} of capacity from {self.quarter}"

    def as_dict(self) -> dict:
        return {
            "resource": self.resource,
            "quarter": str(self.quarter),
            "kind": self.kind,
            "rule": self.rule,
            "value": self.value,
            "reason": self.reason(),
        }


@dataclass(frozen=True)
class Action:
    kind: str  # "buy" or "retire"
    resource: str
    system: str
    year: int  # the year the decision falls in (order year for purchases)
    order_quarter: Quarter | None
    online_quarter: Quarter
    units: float
    capacity_per_quarter: float
    cost_mnok: float
    reason: str
    late_quarters: int = 0

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "system": self.system,
            "year": self.year,
            "order_quarter": str(self.order_quarter) if self.order_quarter else None,
            "online_quarter": str(self.online_quarter),
            "units": self.units,
            "capacity_per_quarter": self.capacity_per_quarter,
            "cost_mnok": self.cost_mnok,
            "reason": self.reason,
            "late_quarters": self.late_quarters,
        }


@dataclass(frozen=True)
class Plan:
    start: Quarter
    years: int
    target_utilisation: float
    crossings: Mapping[str, Crossing | None]  # on today's capacity, before the plan buys
    actions: tuple[Action, ...]
    systems: tuple[System, ...]  # today's systems plus the plan's purchases
    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def plan_years(self) -> list[int]:
        return list(range(self.start.year, self.start.year + self.years))

    def by_year(self) -> dict[int, dict[str, list[Action]]]:
        out: dict[int, dict[str, list[Action]]] = {y: {} for y in self.plan_years}
        for a in self.actions:
            if a.year in out:
                out[a.year].setdefault(a.resource, []).append(a)
        return out

    def outlook(self) -> list[Action]:
        """Actions after the four plan years (what the next revision will have to decide)."""
        last = self.start.year + self.years - 1
        return [a for a in self.actions if a.year > last]

    def as_dict(self) -> dict:
        by_year = self.by_year()
        return {
            "start": str(self.start),
            "years": self.plan_years,
            "target_utilisation": self.target_utilisation,
            "rules": {k: list(v) for k, v in self.rules.items()},
            "crossings": {k: (c.as_dict() if c else None) for k, c in self.crossings.items()},
            "plan": {
                str(y): {r: [a.as_dict() for a in acts] for r, acts in classes.items()}
                for y, classes in by_year.items()
            },
            "outlook": [a.as_dict() for a in self.outlook()],
            "actions": [a.as_dict() for a in self.actions],
        }


def _first_run(flags: Sequence[bool], n: int) -> int | None:
    run = 0
    for i, f in enumerate(flags):
        run = run + 1 if f else 0
        if run >= n:
            return i - n + 1
    return None


def first_crossing(
    systems: Sequence[System],
    resource: ResourceClass,
    demand: Forecast,
    rules: Sequence[DemandRule | WaitRule],
    periods: Sequence[Quarter],
) -> Crossing | None:
    """The earliest quarter in ``periods`` where any rule for the class triggers."""
    tl = timeline(systems, resource, periods)
    best: Crossing | None = None
    for rule in rules:
        if rule.resource != resource.key:
            continue
        if isinstance(rule, DemandRule):
            ratios = []
            for k, q in enumerate(periods):
                cap = tl.total[k]
                d = demand.value(q, rule.band) if q in demand.periods else 0.0
                ratios.append(d / cap if cap > 0 else (math.inf if d > 0 else 0.0))
            i = _first_run([r > rule.ratio for r in ratios], rule.quarters)
            value = ratios[i] if i is not None else 0.0
            kind, band = "demand", rule.band
        else:
            waits = [rule.p95(q) for q in periods]
            i = _first_run([w > rule.hours for w in waits], rule.quarters)
            value = waits[i] if i is not None else 0.0
            kind, band = "wait", "central"
        if i is not None and (best is None or periods[i] < best.quarter):
            best = Crossing(resource.key, periods[i], rule.describe(), value, kind, band)
    return best


def _size_purchase(
    systems: Sequence[System],
    resource: ResourceClass,
    demand: Forecast,
    option: InvestmentOption,
    online: Quarter,
    target: float,
    band: str,
) -> float:
    """Units to buy so demand/capacity <= target over the cover window (whole modules)."""
    window = quarter_range(online, online + (option.cover_quarters - 1))
    tl = timeline(systems, resource, window)
    need = 0.0
    for i, q in enumerate(window):
        if q not in demand.periods:
            continue
        shortfall = demand.value(q, band) / target - tl.total[i]
        per_unit = option.share * option.availability * (q.hours if resource.hourly else 1.0)
        need = max(need, shortfall / per_unit)
    modules = max(1, math.ceil(need / option.module_units - 1e-9))
    return modules * option.module_units


def _add_years(day: dt.date, years: float) -> dt.date:
    return day + dt.timedelta(days=round(years * 365.25))


def make_plan(
    systems: Sequence[System],
    resources: Sequence[ResourceClass],
    demand: Mapping[str, Forecast],
    rules: Sequence[DemandRule | WaitRule],
    options: Mapping[str, InvestmentOption],
    start: Quarter,
    years: int = PLAN_YEARS,
    target_utilisation: float = DEFAULT_TARGET_UTILISATION,
    lookahead_quarters: int = 8,
    max_purchases_per_class: int = 20,
) -> Plan:
    """The rolling plan from ``start``: what to buy or retire, per year and class, and why.

    Thresholds are watched over the plan years plus ``lookahead_quarters`` (so that a need
    arising just after the plan, but with a lead time reaching into it, is ordered in time).
    """
    last = Quarter(start.year + years - 1, 4)
    periods = quarter_range(start, last + lookahead_quarters)
    base = list(systems)
    current = list(systems)
    actions: list[Action] = []
    crossings: dict[str, Crossing | None] = {}
    rule_text: dict[str, tuple[str, ...]] = {}

    for r in resources:
        class_rules = [x for x in rules if x.resource == r.key]
        rule_text[r.key] = tuple(x.describe() for x in class_rules)
        actions.extend(_retirements(base, r, start, last))
        if r.key not in demand:
            crossings[r.key] = None
            continue
        fc = demand[r.key]
        crossings[r.key] = first_crossing(base, r, fc, class_rules, periods)
        option = options.get(r.key)
        if option is None:
            continue
        wait_rules_done = False
        search_from = 0  # a purchase fixes nothing before it is in service
        for _ in range(max_purchases_per_class):
            active_rules = [
                x for x in class_rules if isinstance(x, DemandRule) or not wait_rules_done
            ]
            c = first_crossing(current, r, fc, active_rules, periods[search_from:])
            if c is None:
                break
            if c.kind == "wait":
                wait_rules_done = True
            new, action = _purchase(current, r, fc, option, c, start, target_utilisation)
            current.append(new)
            online = action.online_quarter
            search_from = max(
                search_from, periods.index(online) if online in periods else len(periods)
            )
            actions.append(action)
    actions.sort(key=lambda a: (a.year, a.resource, a.online_quarter, a.kind))
    return Plan(
        start=start,
        years=years,
        target_utilisation=target_utilisation,
        crossings=crossings,
        actions=tuple(actions),
        systems=tuple(current),
        rules=rule_text,
    )


def _retirements(
    systems: Sequence[System], r: ResourceClass, start: Quarter, last: Quarter
) -> list[Action]:
    """Today's systems of class ``r`` that reach the end of their service life between
    ``start`` and ``last``."""
    out = []
    for s in systems:
        if not s.units.get(r.key) or s.decommissioned is None:
            continue
        q = Quarter.of(s.decommissioned)
        if start <= q <= last:
            lost = s.capacity(r, Quarter.of(s.decommissioned) - 1)
            out.append(
                Action(
                    kind="retire",
                    resource=r.key,
                    system=s.name,
                    year=q.year,
                    order_quarter=None,
                    online_quarter=q,
                    units=s.units[r.key] * s.share,
                    capacity_per_quarter=lost,
                    cost_mnok=0.0,
                    reason=f"end of service life on {s.decommissioned.isoformat()}",
                )
            )
    return out


def _purchase(
    current: Sequence[System],
    r: ResourceClass,
    fc: Forecast,
    option: InvestmentOption,
    c: Crossing,
    start: Quarter,
    target_utilisation: float,
) -> tuple[System, Action]:
    """The system to buy so it is in service when threshold crossing ``c`` happens (or as
    soon after as its lead time allows), sized for the option's cover window."""
    online = c.quarter
    order = online - option.lead_time_quarters
    late = 0
    if order < start:
        late = start - order
        order = start
        online = start + option.lead_time_quarters
    units = _size_purchase(current, r, fc, option, online, target_utilisation, c.band)
    name = f"{option.name} {online}"
    commissioned = online.start
    new = System(
        name=name,
        country=option.country,
        location=option.location,
        commissioned=commissioned,
        decommissioned=_add_years(commissioned, option.lifetime_years),
        units={r.key: units},
        availability=option.availability,
        share=option.share,
        power_kw={r.key: units * option.power_kw_per_unit} if option.power_kw_per_unit else {},
        pue=option.pue,
        planned=True,
        source="proposed by the plan",
    )
    why = c.reason()
    if late:
        why += (
            f"; lead time {option.lead_time_quarters} quarters"
            f" means it comes {late} quarter(s) late"
        )
    action = Action(
        kind="buy",
        resource=r.key,
        system=name,
        year=order.year,
        order_quarter=order,
        online_quarter=online,
        units=units,
        capacity_per_quarter=new.capacity(r, online + 1),
        cost_mnok=units * option.cost_per_unit_mnok,
        reason=why,
        late_quarters=late,
    )
    return new, action


def with_wait_input(rules: Sequence[DemandRule | WaitRule], resource: str, p95: float) -> list:
    """The rules with the class's simulated p95 wait replaced (e.g. from a simulator run)."""
    return [
        replace(x, simulated_p95_hours=p95)
        if isinstance(x, WaitRule) and x.resource == resource
        else x
        for x in rules
    ]
