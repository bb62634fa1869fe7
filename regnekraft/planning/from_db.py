"""Planning input from the platform's own data: the catalogue's systems and the accounting's
usage, on top of a base input (scenarios, rules, options; the shipped demo by default).

- systems: every catalogue system with CPU, GPU or storage classes, with its dates, installed
  units, expected availability, power, PUE and country;
- energy usage: the usage records per project, system, resource and quarter (and the
  quarters they cover become the energy report's periods);
- demand history: the platform's usage per resource and quarter replaces the base input's
  history only where it covers at least ``MIN_HISTORY_QUARTERS`` quarters, since a
  forecast needs a history to extrapolate (a young platform keeps the base history).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncQuarter

from regnekraft.accounting.models import UsageDay
from regnekraft.catalog.models import System

from .inputs import load_raw
from .model import Quarter, quarter_range

MIN_HISTORY_QUARTERS = 8
PLANNED_KINDS = ("cpu", "gpu", "storage")


def _quarter(day) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _systems() -> list[dict[str, Any]]:
    out = []
    for s in System.objects.prefetch_related("resource_classes").order_by("commissioned"):
        classes = [rc for rc in s.resource_classes.all() if rc.kind in PLANNED_KINDS]
        if not classes:
            continue
        units: dict[str, float] = defaultdict(float)
        for rc in classes:
            units[rc.kind] += float(rc.installed_units)
        hourly = [float(rc.expected_availability) for rc in classes if rc.kind != "storage"]
        main_kind = "cpu" if "cpu" in units else next(iter(units))
        out.append(
            {
                "name": s.name,
                "country": s.country,
                "location": s.operator,
                "commissioned": s.commissioned.isoformat(),
                **({"decommissioned": s.decommissioned.isoformat()} if s.decommissioned else {}),
                "units": dict(units),
                "availability": sum(hourly) / len(hourly) if hourly else 1.0,
                "power_kw": {main_kind: float(s.power_kw)} if s.power_kw else {},
                "pue": float(s.pue),
                "source": s.source or "catalogue",
            }
        )
    return out


def _usage() -> tuple[list[dict[str, Any]], dict[tuple[str, str], float]]:
    rows = (
        UsageDay.objects.filter(resource_class__kind__in=PLANNED_KINDS)
        .annotate(q=TruncQuarter("usage_date"))
        .values("project__code", "resource_class__system__name", "resource_class__kind", "q")
        .annotate(total=Sum("quantity"))
        .order_by("q")
    )
    usage, history = [], defaultdict(float)
    for r in rows:
        period = _quarter(r["q"])
        usage.append(
            {
                "project": r["project__code"],
                "system": r["resource_class__system__name"],
                "resource": r["resource_class__kind"],
                "period": period,
                "quantity": float(r["total"]),
            }
        )
        # Storage is recorded in TB-months; the planning history holds TB (a quarter has 3 months).
        per_quarter = (
            float(r["total"]) / 3 if r["resource_class__kind"] == "storage" else float(r["total"])
        )
        history[(r["resource_class__kind"], period)] += per_quarter
    return usage, history


def raw_input(base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(base if base is not None else load_raw())
    data["systems"] = _systems()
    usage, history = _usage()
    if usage:
        data["energy"] = {"periods": sorted({u["period"] for u in usage}), "usage": usage}
    for kind in PLANNED_KINDS:
        quarters = sorted(Quarter.parse(p) for k, p in history if k == kind)
        if len(quarters) >= MIN_HISTORY_QUARTERS:
            span = quarter_range(quarters[0], quarters[-1])
            data.setdefault("history", {})[kind] = {
                "start": str(span[0]),
                "values": [history.get((kind, str(q)), 0.0) for q in span],
            }
    return data
