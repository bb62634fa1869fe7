"""Figures for the pages that the accounting reports do not already give, computed from
querysets the access module has already narrowed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import Max, QuerySet, Sum
from django.db.models.functions import TruncMonth

from regnekraft.accounting import aggregates
from regnekraft.accounting.balances import use_and_charges
from regnekraft.accounting.models import BalanceEvent, UsageDay
from regnekraft.allocation import policy
from regnekraft.allocation.models import Allocation, PolicySettings
from regnekraft.catalog.models import ResourceClass

ZERO = Decimal(0)


def used_by_allocation(allocations: QuerySet[Allocation]) -> dict[int, tuple[Decimal, Decimal]]:
    """allocation id -> (units used, NOK charged)."""
    return use_and_charges(allocations.values_list("pk", flat=True))


def warnings_for(project_ids: list[int]) -> QuerySet[BalanceEvent]:
    """The threshold events of the projects' allocations, with what a table of them shows."""
    return BalanceEvent.objects.filter(allocation__project_id__in=project_ids).select_related(
        "allocation__project", "allocation__resource_class__system"
    )


def monthly_charges(project_ids: list[int]) -> list[dict]:
    """Units and NOK per month and project. On PostgreSQL grouped by month in SQL (a row per
    month and project read, not one per day); elsewhere grouped by day in SQL and folded into
    months here: SQLite truncates dates in Python, row by row, which costs more than the
    folding."""
    if connection.vendor == "postgresql":
        by_month = (
            UsageDay.objects.filter(project_id__in=project_ids)
            .annotate(month=TruncMonth("usage_date"))
            .values("month", "project__code")
            .annotate(q=Sum("quantity"), c=Sum("charge_nok"))
            .order_by("month", "project__code")
        )
        return [
            {
                "month": r["month"],
                "project__code": r["project__code"],
                "q": r["q"] or ZERO,
                "c": r["c"] or ZERO,
            }
            for r in by_month
        ]
    rows = (
        UsageDay.objects.filter(project_id__in=project_ids)
        .values("usage_date", "project__code")
        .annotate(q=Sum("quantity"), c=Sum("charge_nok"))
        .order_by()
    )
    months: dict[tuple[dt.date, str], dict] = {}
    for r in rows:
        key = (r["usage_date"].replace(day=1), r["project__code"])
        month = months.setdefault(
            key, {"month": key[0], "project__code": key[1], "q": ZERO, "c": ZERO}
        )
        month["q"] += r["q"] or ZERO
        month["c"] += r["c"] or ZERO
    return [months[k] for k in sorted(months)]


def year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)


def class_rows(year: int, classes: QuerySet[ResourceClass] | None = None) -> list[dict]:
    """Per resource class in ``year``: the rules' room (``policy.remaining``) and the units used."""
    start, end = year_bounds(year)
    settings = PolicySettings.current()
    classes = (classes if classes is not None else ResourceClass.objects.all()).select_related(
        "system"
    )
    used = dict(
        UsageDay.objects.filter(usage_date__gte=start, usage_date__lt=end)
        .values("resource_class")
        .annotate(q=Sum("quantity"))
        .values_list("resource_class", "q")
    )
    return [
        {"rc": rc, **policy.remaining(rc, start, end, settings), "used": used.get(rc.pk) or ZERO}
        for rc in classes
    ]


def month_starts(months: int, today: dt.date) -> list[dt.date]:
    out = [today.replace(day=1)]
    while len(out) < months:
        out.insert(0, (out[0] - dt.timedelta(days=1)).replace(day=1))
    return out


def monthly_utilisation(months: int, today: dt.date) -> list[dict]:
    """Used units / capacity per month for CPU and GPU over the last ``months`` months."""
    starts = month_starts(months, today)
    used = (
        UsageDay.objects.filter(usage_date__gte=starts[0], resource_class__kind__in=["cpu", "gpu"])
        .annotate(month=TruncMonth("usage_date"))
        .values("month", "resource_class__kind")
        .annotate(q=Sum("quantity"))
    )
    used_map = {(r["month"], r["resource_class__kind"]): r["q"] for r in used}
    classes = list(ResourceClass.objects.filter(kind__in=["cpu", "gpu"]).select_related("system"))
    out = []
    for month in starts:
        nxt = (month + dt.timedelta(days=32)).replace(day=1)
        row: dict = {"month": month}
        for kind in ("cpu", "gpu"):
            cap = sum((rc.capacity(month, nxt) for rc in classes if rc.kind == kind), ZERO)
            row[kind] = (used_map.get((month, kind)) or ZERO) / cap if cap else ZERO
        out.append(row)
    return out


def data_fingerprint() -> tuple:
    """Changes whenever anything the dashboard shows changes (used as its cache key): every
    change to the catalogue, allocations, orders and settings is audited, and use changes only
    by imports and invoices. Cheap: primary-key maxima, whatever the size of the tables."""
    from regnekraft.audit.models import AuditEntry

    last_audit = AuditEntry.objects.aggregate(last=Max("id"))["last"]
    return (last_audit, *aggregates.version(), dt.date.today().isoformat())
