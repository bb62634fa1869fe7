"""Capacity per period from hardware, hours and expected availability (no Django)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

HOURS_PER_DAY = Decimal(24)
DAYS_PER_MONTH = Decimal("365.25") / Decimal(12)
DAYS_PER_YEAR = Decimal("365.25")


def overlap_days(a_start: dt.date, a_end: dt.date, b_start: dt.date, b_end: dt.date | None) -> int:
    """Days in [a_start, a_end) that also lie in [b_start, b_end) (b_end None = open)."""
    lo = max(a_start, b_start)
    hi = a_end if b_end is None else min(a_end, b_end)
    return max((hi - lo).days, 0)


def capacity_between(
    *,
    kind: str,
    installed_units: Decimal,
    availability: Decimal,
    start: dt.date,
    end: dt.date,
    commissioned: dt.date,
    decommissioned: dt.date | None,
) -> Decimal:
    """Units deliverable in [start, end).

    Hour-based classes (cpu, gpu, node): units x 24 h x days in service x availability.
    Storage: TB x months in service (availability does not shrink stored terabytes).
    Support: person-hours per year x years in service.
    """
    if end <= start:
        return Decimal(0)
    days = Decimal(overlap_days(start, end, commissioned, decommissioned))
    if kind == "storage":
        return installed_units * days / DAYS_PER_MONTH
    if kind == "support":
        return installed_units * days / DAYS_PER_YEAR
    return installed_units * HOURS_PER_DAY * days * availability
