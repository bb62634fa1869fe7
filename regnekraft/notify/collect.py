"""Find what happened in the domain data and turn it into notifications (``collect``).

Each kind is found by one query over recent events (or dates, for expiries and calls), with
the events already notified left out by an anti-join; the recipients and their preferences are
read in one query each. So a run costs the same number of queries however many events it finds
(it runs every five minutes on a national database). The unique ``(recipient, kind, key)``
makes a repeated run, or two at once, create nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from regnekraft import clock
from regnekraft.accounting.models import BalanceEvent, Invoice, InvoiceLine
from regnekraft.allocation.models import (
    Allocation,
    AllocationStatus,
    Application,
    ApplicationStatus,
    Call,
    CallStatus,
    ChangeRequest,
    ChangeStatus,
    OrderStatus,
    Review,
    SectorOrder,
)
from regnekraft.catalog.models import UNIT_LABEL
from regnekraft.parties.models import Person, Role, RoleKind

from .kinds import Delivery, Kind, default_delivery
from .models import Notification, NotificationPreference, Status

logger = logging.getLogger(__name__)

# Events stamped with a time are looked for this far back (a worker that was down for a
# weekend still finds them); the key keeps a later run from repeating them.
RECENT = dt.timedelta(days=3)
# Change requests carry only their creation time: decided ones this young are looked at.
CHANGE_WINDOW = dt.timedelta(days=120)
EXPIRY_NOTICES = (30, 7)  # days before an allocation ends
CALL_OPENED_WINDOW = 7  # days after a call opens, its opening is still news
CALL_CLOSING_NOTICE = 7  # days before a call closes, PIs who have not applied are reminded


@dataclass
class Found:
    """The notifications one run would create, before preferences are applied."""

    rows: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, recipient_id: int | None, kind: str, key: str, context: dict[str, Any]) -> None:
        if recipient_id is not None:
            self.rows.append((recipient_id, kind, key, context))


def _notified(kind: str | Iterable[str], key: Any) -> Exists:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return Exists(Notification.objects.filter(kind__in=kinds, key=key))


def _pk_key() -> Cast:
    return Cast(OuterRef("pk"), output_field=CharField())


def _not_notified(qs: QuerySet, kind: str | Iterable[str]) -> QuerySet:
    return qs.exclude(_notified(kind, _pk_key()))


def _unit(kind: str) -> str:
    return UNIT_LABEL.get(kind, kind)


def _pct(value: Decimal) -> int:
    return int((Decimal(value) * 100).to_integral_value())


def _balances(found: Found, now: dt.datetime) -> None:
    """One warning per allocation for the highest warning threshold its use has reached
    (use that jumps past 50 % and 80 % in one import is told once, at 80 %), and the block."""
    higher = BalanceEvent.objects.filter(
        allocation=OuterRef("allocation"),
        threshold__gt=OuterRef("threshold"),
        action=BalanceEvent.Action.WARN,
    )
    events = _not_notified(
        BalanceEvent.objects.filter(at__gte=now - RECENT).exclude(Exists(higher)),
        [Kind.BALANCE_WARNING, Kind.BALANCE_BLOCK],
    ).values(
        "pk",
        "threshold",
        "action",
        "used_share",
        "allocation_id",
        "allocation__end",
        "allocation__project__code",
        "allocation__project__pi_id",
        "allocation__resource_class__system__name",
    )
    for e in events:
        block = e["action"] == BalanceEvent.Action.BLOCK
        found.add(
            e["allocation__project__pi_id"],
            Kind.BALANCE_BLOCK if block else Kind.BALANCE_WARNING,
            str(e["pk"]),
            {
                "project": e["allocation__project__code"],
                "system": e["allocation__resource_class__system__name"],
                "allocation_id": e["allocation_id"],
                "threshold": _pct(e["threshold"]),
                "used": _pct(e["used_share"]),
                "end": (e["allocation__end"] - dt.timedelta(days=1)).isoformat(),  # last day
            },
        )


def _expiries(found: Found, today: dt.date) -> None:
    bounds = sorted(EXPIRY_NOTICES)  # (7, 30): (today, today+7] gets 7, (today+7, +30] gets 30
    lower = 0
    for days in bounds:
        suffix = f":{days}"
        allocations = (
            Allocation.objects.filter(
                status=AllocationStatus.ACTIVE,
                end__gt=today + dt.timedelta(days=lower),
                end__lte=today + dt.timedelta(days=days),
            )
            .exclude(
                _notified(
                    Kind.ALLOCATION_EXPIRING,
                    Concat(_pk_key(), Value(suffix), output_field=CharField()),
                )
            )
            .values(
                "pk",
                "end",
                "amount",
                "project__code",
                "project__pi_id",
                "resource_class__kind",
                "resource_class__system__name",
            )
        )
        for a in allocations:
            found.add(
                a["project__pi_id"],
                Kind.ALLOCATION_EXPIRING,
                f"{a['pk']}{suffix}",
                {
                    "project": a["project__code"],
                    "system": a["resource_class__system__name"],
                    "allocation_id": a["pk"],
                    "days": (a["end"] - today).days,  # left, from today
                    "last_day": (a["end"] - dt.timedelta(days=1)).isoformat(),
                    "amount": str(a["amount"]),
                    "unit": _unit(a["resource_class__kind"]),
                },
            )
        lower = days


def _applications(found: Found, today: dt.date) -> None:
    # Applications carry no decision time: those decided in a call whose period has not ended.
    decided = _not_notified(
        Application.objects.filter(status=ApplicationStatus.DECIDED, call__period_end__gt=today),
        Kind.APPLICATION_DECIDED,
    )
    grants: dict[int, list[dict[str, str]]] = {}
    for g in Allocation.objects.filter(application__in=decided.values("pk")).values(
        "application_id", "amount", "resource_class__kind", "resource_class__system__name"
    ):
        grants.setdefault(g["application_id"], []).append(
            {
                "amount": str(g["amount"]),
                "unit": _unit(g["resource_class__kind"]),
                "system": g["resource_class__system__name"],
            }
        )
    for a in decided.values("pk", "project__code", "project__pi_id", "call__name"):
        found.add(
            a["project__pi_id"],
            Kind.APPLICATION_DECIDED,
            str(a["pk"]),
            {
                "project": a["project__code"],
                "call": a["call__name"],
                "grants": grants.get(a["pk"], []),
            },
        )


def _changes(found: Found, now: dt.datetime) -> None:
    changes = _not_notified(
        ChangeRequest.objects.filter(
            status__in=[ChangeStatus.APPROVED, ChangeStatus.REJECTED],
            created__gte=now - CHANGE_WINDOW,
        ),
        Kind.CHANGE_DECIDED,
    ).values(
        "pk",
        "kind",
        "status",
        "decision_note",
        "requested_by_id",
        "allocation__project__code",
        "allocation__project__pi_id",
        "allocation__resource_class__system__name",
    )
    for c in changes:
        context = {
            "project": c["allocation__project__code"],
            "system": c["allocation__resource_class__system__name"],
            "change_kind": c["kind"],
            "approved": c["status"] == ChangeStatus.APPROVED,
            "note": c["decision_note"],
        }
        for recipient in {c["allocation__project__pi_id"], c["requested_by_id"]} - {None}:
            found.add(recipient, Kind.CHANGE_DECIDED, str(c["pk"]), context)


def _reviews(found: Found) -> None:
    reviews = _not_notified(
        Review.objects.filter(
            submitted=False, application__call__status__in=[CallStatus.OPEN, CallStatus.REVIEW]
        ),
        Kind.REVIEWER_ASSIGNED,
    ).values("pk", "reviewer_id", "application__project__code", "application__call__name")
    for r in reviews:
        found.add(
            r["reviewer_id"],
            Kind.REVIEWER_ASSIGNED,
            str(r["pk"]),
            {
                "project": r["application__project__code"],
                "call": r["application__call__name"],
                "review_id": r["pk"],
            },
        )


def _pis() -> QuerySet:
    return Person.objects.filter(led_projects__isnull=False).distinct()


def _calls(found: Found, today: dt.date) -> None:
    # A call is news to every PI (a handful of calls a year; one query per call).
    opened = Call.objects.filter(
        status=CallStatus.OPEN,
        opens__lte=today,
        opens__gte=today - dt.timedelta(days=CALL_OPENED_WINDOW),
        closes__gte=today,
    )
    closing = Call.objects.filter(
        status=CallStatus.OPEN,
        closes__gte=today,
        closes__lte=today + dt.timedelta(days=CALL_CLOSING_NOTICE),
    )
    for kind, calls in ((Kind.CALL_OPENED, opened), (Kind.CALL_CLOSING, closing)):
        for call in calls:
            people = _pis().exclude(
                Exists(
                    Notification.objects.filter(
                        kind=kind, key=str(call.pk), recipient=OuterRef("pk")
                    )
                )
            )
            if kind == Kind.CALL_CLOSING:  # those who have applied need no reminder
                people = people.exclude(led_projects__applications__call=call)
            context = {
                "call": call.name,
                "call_id": call.pk,
                "opens": call.opens.isoformat(),
                "closes": call.closes.isoformat(),
                "period_start": call.period_start.isoformat(),
                "period_end": (call.period_end - dt.timedelta(days=1)).isoformat(),
            }
            for pk in people.values_list("pk", flat=True):
                found.add(pk, kind, str(call.pk), context)


def _orders(found: Found, today: dt.date) -> None:
    from regnekraft.allocation.orders import estimate
    from regnekraft.catalog.prices import PriceBook

    orders = list(
        _not_notified(
            SectorOrder.objects.filter(status=OrderStatus.CONFIRMED, year__gte=today.year),
            Kind.ORDER_CONFIRMED,
        ).select_related("organisation")
    )
    if not orders:
        return
    coordinators: dict[str, set[int]] = {}
    for person_id, sector in Role.objects.filter(
        kind=RoleKind.COORDINATOR, sector__in={o.sector for o in orders}
    ).values_list("person_id", "sector"):
        coordinators.setdefault(sector, set()).add(person_id)
    book = PriceBook()
    for order in orders:  # a few a year; the estimate is the figure the portal shows
        est = estimate(order, book)
        context = {
            "order_id": order.pk,
            "sector": order.sector,
            "year": order.year,
            "organisation": order.organisation.short_name,
            "total": str(est.total),
            "commitment": str(est.committed),
            "commitment_share": _pct(order.commitment_share),
        }
        for recipient in coordinators.get(order.sector, set()) | {order.ordered_by_id} - {None}:
            found.add(recipient, Kind.ORDER_CONFIRMED, str(order.pk), context)


def _invoices(found: Found, now: dt.datetime) -> None:
    """An invoice goes to those who answer for what it charges: the PI of each project with a
    line on it and whoever placed a sector order charged on it (an organisation has no finance
    contact in the register)."""
    invoices = _not_notified(Invoice.objects.filter(issued__gte=now - RECENT), Kind.INVOICE_ISSUED)
    heads = {
        i["pk"]: i
        for i in invoices.values(
            "pk", "period_start", "period_end", "total_nok", "organisation__short_name"
        )
    }
    if not heads:
        return
    seen: set[tuple[int, int]] = set()
    for line in (
        InvoiceLine.objects.filter(invoice_id__in=invoices.values("pk"))
        .values(
            "invoice_id",
            "project__code",
            "project__pi_id",
            "sector_order__ordered_by_id",
            "sector_order_id",
        )
        .distinct()
        .order_by("invoice_id", "project__code")
    ):
        head = heads.get(line["invoice_id"])
        if head is None:
            continue
        base = {
            "invoice_id": head["pk"],
            "organisation": head["organisation__short_name"],
            "period_start": head["period_start"].isoformat(),
            "period_end": (head["period_end"] - dt.timedelta(days=1)).isoformat(),
            "total": str(head["total_nok"]),
        }
        for recipient, extra in (
            (line["project__pi_id"], {"project": line["project__code"]}),
            (line["sector_order__ordered_by_id"], {"order_id": line["sector_order_id"]}),
        ):
            if recipient is None or (recipient, head["pk"]) in seen:
                continue
            seen.add((recipient, head["pk"]))
            found.add(recipient, Kind.INVOICE_ISSUED, str(head["pk"]), {**base, **extra})


def _deliveries(rows: list[tuple[int, str, str, dict[str, Any]]]) -> dict[tuple[int, str], str]:
    kinds = {kind for _, kind, _, _ in rows}
    if not rows:
        return {}
    return {
        (person_id, kind): delivery
        for person_id, kind, delivery in NotificationPreference.objects.filter(
            kind__in=kinds
        ).values_list("person_id", "kind", "delivery")
    }


def create(rows: list[tuple[int, str, str, dict[str, Any]]], now: dt.datetime) -> Counter:
    """Create ``rows`` (recipient id, kind, key, context) as notifications, each delivered as its
    recipient prefers; an event already notified is left alone. Counts the rows by kind."""
    chosen = _deliveries(rows)
    objs = []
    counts: Counter = Counter()
    for recipient_id, kind, key, context in rows:
        delivery = chosen.get((recipient_id, kind), default_delivery(kind))
        objs.append(
            Notification(
                recipient_id=recipient_id,
                kind=kind,
                key=key[:100],
                context=context,
                created_at=now,
                next_attempt_at=now,
                delivery=Delivery.DIGEST if delivery == Delivery.DIGEST else Delivery.IMMEDIATE,
                status=Status.OFF if delivery == Delivery.OFF else Status.PENDING,
            )
        )
        counts[kind] += 1
    Notification.objects.bulk_create(objs, ignore_conflicts=True, batch_size=500)
    return counts


@transaction.atomic
def collect(now: dt.datetime | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """Turn new events into notifications. Returns how many were found, by kind."""
    now = now or timezone.now()
    today = today or clock.today()
    found = Found()
    _balances(found, now)
    _expiries(found, today)
    _applications(found, today)
    _changes(found, now)
    _reviews(found)
    _calls(found, today)
    _orders(found, today)
    _invoices(found, now)
    counts = create(found.rows, now)
    total = sum(counts.values())
    if total:
        logger.info("notifications: %d new (%s)", total, dict(counts))
    return {"created": total, "by_kind": {str(k): n for k, n in sorted(counts.items())}}
