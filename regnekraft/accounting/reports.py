"""Reports for decision makers, operators and finance, as plain dicts and lists.

Units differ between resource classes (core-hours, GPU-hours, TB-months...), so figures are
given per resource class, or per resource kind where classes are summed. Allocations count
pro rata by the days they overlap the period; usage counts by its usage date. Capacity,
commitments and the free room come from the policy module (one place for the rules).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Sum

from regnekraft.allocation import policy
from regnekraft.allocation.models import (
    Allocation,
    OrderStatus,
    PolicySettings,
    SectorOrderLine,
)
from regnekraft.catalog.capacity import overlap_days
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Organisation, Project, economic_q, research_q

from .balances import balances
from .models import ImportBatch, UsageDay, UsageRecord

ZERO = Decimal(0)
Q4 = Decimal("0.0001")
ECONOMIC = economic_q("project__")
RESEARCH = research_q("project__")


def _share(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole).quantize(Q4) if whole else None


def _pro_rata(
    amount: Decimal, a_start: dt.date, a_end: dt.date, start: dt.date, end: dt.date
) -> Decimal:
    days = (a_end - a_start).days
    return (
        amount * Decimal(overlap_days(start, end, a_start, a_end)) / Decimal(days)
        if days > 0
        else ZERO
    )


def _live_allocations(start: dt.date, end: dt.date):
    return Allocation.objects.live().overlapping(start, end).select_related("project__organisation")


def _usage(start: dt.date, end: dt.date):
    """The day rows of the period (maintained sums: the cost does not grow with records)."""
    return UsageDay.objects.filter(usage_date__gte=start, usage_date__lt=end)


def _q(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(Q4)


def report_capacity(
    start: dt.date, end: dt.date, *, system: str | None = None
) -> list[dict[str, Any]]:
    """Per system and resource class: capacity, committed, allocated, ordered, used, available."""
    classes = ResourceClass.objects.select_related("system").order_by(
        "system__name", "kind", "gpu_type"
    )
    if system:
        classes = classes.filter(system__slug=system)
    allocated: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for a in _live_allocations(start, end):
        allocated[a.resource_class_id] += _pro_rata(a.amount, a.start, a.end, start, end)
    ordered: dict[int, Decimal] = defaultdict(lambda: ZERO)
    lines = SectorOrderLine.objects.filter(
        order__status=OrderStatus.CONFIRMED, order__year__gte=start.year, order__year__lte=end.year
    ).select_related("order")
    for line in lines:
        ordered[line.resource_class_id] += _pro_rata(
            line.amount, line.order.start, line.order.end, start, end
        )
    used = dict(
        _usage(start, end)
        .values("resource_class_id")
        .annotate(q=Sum("quantity"))
        .values_list("resource_class_id", "q")
    )
    unallocated = dict(
        _usage(start, end)
        .filter(allocation__isnull=True)
        .values("resource_class_id")
        .annotate(q=Sum("quantity"))
        .values_list("resource_class_id", "q")
    )
    settings = PolicySettings.current()
    out = []
    for rc in classes:
        room = policy.remaining(rc, start, end, settings)
        u = _q(used.get(rc.pk))
        out.append(
            {
                "system": rc.system.slug,
                "resource_class": str(rc),
                "kind": rc.kind,
                "gpu_type": rc.gpu_type,
                "unit": rc.unit,
                "period_start": start,
                "period_end": end,
                "capacity": _q(room["capacity"]),
                "committed": _q(room["committed"]),
                "allocated": _q(allocated[rc.pk]),
                "ordered": _q(ordered[rc.pk]),
                "used": u,
                "used_unallocated": _q(unallocated.get(rc.pk)),
                "available": _q(room["free"]),
                "utilisation": _share(u, room["capacity"]),
                "used_of_allocated": _share(u, allocated[rc.pk]),
            }
        )
    return out


def report_by_group(start: dt.date, end: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Allocated, used and charged per user group (research/public/industry) and per organisation,
    per resource kind (units of one kind add up across systems)."""
    orgs = {o.pk: o for o in Organisation.objects.all()}
    per_org: dict[tuple[int, str], dict[str, Decimal]] = defaultdict(
        lambda: {"allocated": ZERO, "used": ZERO, "charged_nok": ZERO}
    )
    for a in _live_allocations(start, end).select_related("resource_class"):
        key = (a.project.organisation_id, a.resource_class.kind)
        per_org[key]["allocated"] += _pro_rata(a.amount, a.start, a.end, start, end)
    usage = (
        _usage(start, end)
        .values("project__organisation_id", "resource_class__kind")
        .annotate(q=Sum("quantity"), c=Sum("charge_nok"))
    )
    for row in usage:
        key = (row["project__organisation_id"], row["resource_class__kind"])
        per_org[key]["used"] += row["q"] or ZERO
        per_org[key]["charged_nok"] += row["c"] or ZERO
    organisations = []
    groups: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: {"allocated": ZERO, "used": ZERO, "charged_nok": ZERO}
    )
    for (org_id, kind), figures in sorted(
        per_org.items(), key=lambda kv: (orgs[kv[0][0]].short_name, kv[0][1])
    ):
        org = orgs[org_id]
        row = {k: _q(v) for k, v in figures.items()}
        organisations.append(
            {"organisation": org.short_name, "user_group": org.user_group, "kind": kind, **row}
        )
        for k, v in figures.items():
            groups[(org.user_group, kind)][k] += v
    return {
        "groups": [
            {"user_group": g, "kind": kind, **{k: _q(v) for k, v in f.items()}}
            for (g, kind), f in sorted(groups.items())
        ],
        "organisations": organisations,
    }


def _year(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)


def report_economic_share(year: int) -> list[dict[str, Any]]:
    """Per resource class: economic activity committed (as the policy rules count it) and used,
    against the state-aid cap."""
    start, end = _year(year)
    settings = PolicySettings.current()
    cap_share = settings.economic_cap
    used = dict(
        _usage(start, end)
        .filter(ECONOMIC)
        .values("resource_class_id")
        .annotate(q=Sum("quantity"))
        .values_list("resource_class_id", "q")
    )
    out = []
    for rc in ResourceClass.objects.select_related("system"):
        use = policy.year_use(rc, year, settings)
        capacity, cap = use["capacity"], use["economic_allowed"]
        c, u = use["economic"], used.get(rc.pk) or ZERO
        out.append(
            {
                "year": year,
                "resource_class": str(rc),
                "unit": rc.unit,
                "capacity": _q(capacity),
                "cap_share": cap_share,
                "cap": _q(cap),
                "economic_committed": _q(c),
                "economic_used": _q(u),
                "committed_share": _share(c, capacity),
                "used_share": _share(u, capacity),
                "within_cap": not use["shares_apply"] or (c <= cap and u <= cap),
            }
        )
    return out


def report_research_share(year: int) -> list[dict[str, Any]]:
    """Per resource class: research organisations' committed and used share against the protected
    floor.

    Committed figures are the policy module's own (``policy.year_use``): the floor is kept when
    non-research commitments leave at least ``research_protected_share`` of the year's capacity.
    """
    start, end = _year(year)
    settings = PolicySettings.current()
    floor = settings.research_protected_share
    usage = (
        _usage(start, end)
        .values("resource_class_id")
        .annotate(research=Sum("quantity", filter=RESEARCH), total=Sum("quantity"))
    )
    used = {row["resource_class_id"]: row for row in usage}
    out = []
    for rc in ResourceClass.objects.select_related("system"):
        use = policy.year_use(rc, year, settings)
        capacity = use["capacity"]
        row = used.get(rc.pk, {})
        r_used, total_used = row.get("research") or ZERO, row.get("total") or ZERO
        out.append(
            {
                "year": year,
                "resource_class": str(rc),
                "unit": rc.unit,
                "capacity": _q(capacity),
                "protected_share": floor,
                "protected": _q(capacity * floor),
                "research_committed": _q(use["research"]),
                "non_research_committed": _q(use["non_research"]),
                "research_used": _q(r_used),
                "total_used": _q(total_used),
                "research_committed_share": _share(use["research"], capacity),
                "research_used_share_of_use": _share(r_used, total_used),
                "floor_kept": not use["shares_apply"]
                or use["non_research"] <= use["non_research_allowed"],
            }
        )
    return out


def report_balances(project_codes: list[str] | None = None) -> list[dict[str, Any]]:
    """Used, remaining and used share of each allocation (of the given projects)."""
    allocs = Allocation.objects.select_related("project", "resource_class__system").order_by(
        "project__code", "pk"
    )
    if project_codes is not None:
        allocs = allocs.filter(project__code__in=project_codes)
    return [b.as_dict() for b in balances(allocs)]


def report_unallocated(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Usage no allocation covered, per project and resource class: to follow up."""
    rows = (
        _usage(start, end)
        .filter(allocation__isnull=True)
        .values(
            "project__code",
            "resource_class__system__slug",
            "resource_class__kind",
            "resource_class__gpu_type",
        )
        .annotate(quantity=Sum("quantity"), records=Sum("records"))
        .order_by("project__code", "resource_class__system__slug", "resource_class__kind")
    )
    return [
        {
            "project": r["project__code"],
            "resource_class": f"{r['resource_class__system__slug']}:{r['resource_class__kind']}"
            + (f" {r['resource_class__gpu_type']}" if r["resource_class__gpu_type"] else ""),
            "quantity": _q(r["quantity"]),
            "records": r["records"],
        }
        for r in rows
    ]


def report_integrity() -> dict[str, int]:
    """Usage records whose project, resource class, allocation or import batch no longer exists.

    The database does not check these references (see models.UsageRecord); the importer and
    Django's PROTECT do. This report should always be all zeros.
    """
    usage = UsageRecord.objects
    return {
        "project": usage.filter(~Exists(Project.objects.filter(pk=OuterRef("project_id")))).count(),
        "resource_class": usage.filter(
            ~Exists(ResourceClass.objects.filter(pk=OuterRef("resource_class_id")))
        ).count(),
        "allocation": usage.filter(allocation_id__isnull=False)
        .filter(~Exists(Allocation.objects.filter(pk=OuterRef("allocation_id"))))
        .count(),
        "batch": usage.filter(batch_id__isnull=False)
        .filter(~Exists(ImportBatch.objects.filter(pk=OuterRef("batch_id"))))
        .count(),
    }
