"""Capacity per class per quarter from the systems' dates, availability and shares, and the
gap to forecast demand at a target utilisation.

The target utilisation defaults to 0.75: "75 prosent utnyttelse ansett som et rimelig
kompromiss mellom utnyttelse av investeringen og ventetid i kø" (000:1356-1362). It is a
knob, not a constant: the policy simulator shows what another value does to waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .forecast import Forecast
from .model import Quarter, ResourceClass, System

DEFAULT_TARGET_UTILISATION = 0.75


@dataclass(frozen=True)
class Timeline:
    """Capacity of one class per quarter, and how much each system gives."""

    resource: ResourceClass
    periods: tuple[Quarter, ...]
    total: tuple[float, ...]
    by_system: Mapping[str, tuple[float, ...]]

    def at(self, quarter: Quarter) -> float:
        return self.total[self.periods.index(quarter)]

    def as_dict(self) -> dict:
        return {
            "resource": self.resource.key,
            "unit": self.resource.quantity_unit,
            "periods": [str(p) for p in self.periods],
            "total": list(self.total),
            "by_system": {k: list(v) for k, v in self.by_system.items()},
        }


def timeline(
    systems: Iterable[System], resource: ResourceClass, periods: Sequence[Quarter]
) -> Timeline:
    systems = [s for s in systems if s.units.get(resource.key)]
    by_system = {s.name: tuple(s.capacity(resource, q) for q in periods) for s in systems}
    total = tuple(sum(v[i] for v in by_system.values()) for i in range(len(periods)))
    return Timeline(resource, tuple(periods), total, by_system)


@dataclass(frozen=True)
class GapRow:
    period: Quarter
    capacity: float
    demand: float
    demand_lower: float
    demand_upper: float
    required: float  # capacity needed to serve the demand at the target utilisation
    gap: float  # required - capacity; positive = shortfall
    utilisation: float  # demand / capacity (inf without capacity)

    def as_dict(self) -> dict:
        return {
            "period": str(self.period),
            "capacity": self.capacity,
            "demand": self.demand,
            "demand_lower": self.demand_lower,
            "demand_upper": self.demand_upper,
            "required_capacity": self.required,
            "gap": self.gap,
            "utilisation": self.utilisation,
        }


def gap(
    tl: Timeline,
    demand: Forecast,
    target_utilisation: float = DEFAULT_TARGET_UTILISATION,
    band: str = "central",
) -> list[GapRow]:
    """Quarter by quarter: capacity needed at ``target_utilisation`` minus capacity.

    ``band`` picks which demand drives ``required`` (central, upper or lower); all three are
    reported.
    """
    if not 0.0 < target_utilisation <= 1.0:
        raise ValueError("target utilisation must be in (0, 1]")
    rows = []
    for i, q in enumerate(tl.periods):
        if q not in demand.periods:
            continue
        c, lo, hi = demand.at(q)
        d = {"central": c, "lower": lo, "upper": hi}[band]
        cap = tl.total[i]
        req = d / target_utilisation
        rows.append(
            GapRow(
                q,
                cap,
                c,
                lo,
                hi,
                req,
                req - cap,
                (d / cap) if cap > 0 else float("inf"),
            )
        )
    return rows
