"""Invoices per organisation and period: charges per project and resource class, the category 0
waiver and the committed minimum (take-or-pay) of sector orders.

Periods are half-open: ``[period_start, period_end)``, like allocations. What each charging
model puts on the invoice for a period (docs/accounting.md):

consumption
    the rated usage records of the allocation whose usage date lies in the period
    (one line per allocation and unit price, so a price list change splits the line),
    and, on their own lines, records of earlier periods that arrived after those periods
    were invoiced (late use: a job that ended just before the period's end is often
    imported after the invoice run). The invoice takes the open day rows it bills
    (:class:`~.models.UsageDay`; use imported later opens new rows), so no use is billed
    twice or never;
unit
    allocated units x unit price, pro rata by the days the allocation overlaps the period,
    at the price valid on the first overlapping day;
subscription
    allocated units x unit price for the whole allocation, once, on the first invoice issued
    whose period overlaps the allocation, at the price valid on the allocation's first day.

Issuing is idempotent: an invoice for the same organisation and period is returned unchanged.
Money is rounded as described in :mod:`regnekraft.accounting.rating`; total = sum of lines.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from regnekraft.allocation import policy
from regnekraft.allocation.models import Allocation, OrderStatus, SectorOrder
from regnekraft.catalog.capacity import overlap_days
from regnekraft.catalog.models import ChargingModel, PriceCategory
from regnekraft.parties.models import Organisation

from . import aggregates
from .models import Invoice, InvoiceLine, UsageDay
from .rating import NoPrice, PriceBook, to_ore, to_record

ZERO = Decimal(0)
Kind = InvoiceLine.Kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineDraft:
    """An invoice line before it is stored; ``amount`` is unrounded until :func:`assemble`."""

    kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    project_id: int | None = None
    allocation_id: int | None = None
    resource_class_id: int | None = None
    sector_order_id: int | None = None
    price_category: str = ""


def assemble(drafts: Sequence[LineDraft]) -> tuple[list[LineDraft], Decimal]:
    """Round every line to øre (half up) and total the rounded lines: total = sum of lines."""
    lines = [replace(d, amount=to_ore(d.amount)) for d in drafts]
    return lines, sum((d.amount for d in lines), ZERO)


def _label(a: Allocation) -> str:
    return f"{a.project.code} {a.resource_class}"


def _price(book: PriceBook, a: Allocation, day: dt.date) -> Decimal:
    try:
        return book.unit_price(a.price_category, a.resource_class, day)
    except NoPrice as e:
        raise ValidationError(f"cannot invoice {_label(a)}: {e}") from None


#: How many days before its period an invoice looks for use that arrived after the period
#: it belongs to was invoiced (Django setting ``REGNEKRAFT_LATE_USE_DAYS``). The bound keeps
#: the search on the usage-date index; use older than that is left unbilled (and shows in
#: ``unbilled_usage`` with a wider window).
LATE_USE_DAYS = 92


def late_use_since(start: dt.date) -> dt.date:
    return start - dt.timedelta(days=getattr(settings, "REGNEKRAFT_LATE_USE_DAYS", LATE_USE_DAYS))


def _billable_days(org: Organisation, start: dt.date, end: dt.date) -> Q:
    """The usage dates an invoice for [start, end) bills: its own period, and the late-use
    window's days inside periods the organisation has already invoiced (use of a period
    not invoiced yet waits for that period's own invoice)."""
    since = late_use_since(start)
    days = Q(usage_date__gte=start, usage_date__lt=end)
    for ps, pe in Invoice.objects.filter(
        organisation=org, period_end__gt=since, period_start__lt=start
    ).values_list("period_start", "period_end"):
        days |= Q(usage_date__gte=max(ps, since), usage_date__lt=min(pe, start))
    return days


def unbilled_usage(
    org: Organisation, allocation_ids: Iterable[int], start: dt.date, end: dt.date
) -> QuerySet:
    """Usage of these allocations on the days an invoice for [start, end) bills that no
    invoice has billed yet."""
    return UsageDay.objects.filter(
        _billable_days(org, start, end),
        allocation_id__in=list(allocation_ids),
        invoice__isnull=True,
    )


def _billed_by(invoice: Invoice, allocation_ids: Iterable[int] | None = None) -> QuerySet:
    """The day rows ``invoice`` took."""
    usage = UsageDay.objects.filter(
        invoice=invoice,
        usage_date__gte=late_use_since(invoice.period_start),
        usage_date__lt=invoice.period_end,
    )
    return usage if allocation_ids is None else usage.filter(allocation_id__in=list(allocation_ids))


def allocation_lines(
    allocations: Iterable[Allocation],
    start: dt.date,
    end: dt.date,
    book: PriceBook,
    invoice: Invoice | None = None,
    period_use: bool = False,
    org: Organisation | None = None,
) -> list[LineDraft]:
    """The charges of ``allocations`` for the period, by their charging models (unrounded).
    Consumption bills the records ``invoice`` holds, or (no invoice: a preview for ``org``)
    those not yet billed; ``period_use`` takes instead every record dated in the period,
    billed or not (what the period's use was worth, for take-or-pay)."""
    allocs = list(allocations)
    by_id = {a.pk: a for a in allocs}
    out: list[LineDraft] = []
    consumption = [a.pk for a in allocs if a.charging_model == ChargingModel.CONSUMPTION]
    if consumption:
        if period_use:
            usage = UsageDay.objects.filter(
                allocation_id__in=consumption, usage_date__gte=start, usage_date__lt=end
            )
        elif invoice is not None:
            usage = _billed_by(invoice, consumption)
        else:
            usage = unbilled_usage(org, consumption, start, end)
        for late, part in (
            (False, usage.filter(usage_date__gte=start)),
            (True, usage.filter(usage_date__lt=start)),
        ):
            what = f"use before {start}, reported late" if late else "use"
            for (a_id, price), (q, c) in sorted(
                aggregates.sums(part, ["allocation_id", "unit_price_nok"]).items()
            ):
                a = by_id[a_id]
                out.append(
                    LineDraft(
                        Kind.USAGE,
                        f"{_label(a)}: {what}",
                        q,
                        a.resource_class.unit,
                        price,
                        c,
                        a.project_id,
                        a.pk,
                        a.resource_class_id,
                        price_category=a.price_category,
                    )
                )
    subscribed = set(
        InvoiceLine.objects.filter(
            kind=Kind.SUBSCRIPTION, allocation_id__in=[a.pk for a in allocs]
        ).values_list("allocation_id", flat=True)
    )
    for a in allocs:
        if not a.is_live:
            continue
        days = overlap_days(start, end, a.start, a.end)
        if days <= 0:
            continue
        if a.charging_model == ChargingModel.UNIT_PRICE:
            first_day = max(start, a.start)
            qty = to_record(a.amount * Decimal(days) / Decimal((a.end - a.start).days))
            price = _price(book, a, first_day)
            out.append(
                LineDraft(
                    Kind.UNIT,
                    f"{_label(a)}: allocated, {days} of {(a.end - a.start).days} days",
                    qty,
                    a.resource_class.unit,
                    price,
                    qty * price,
                    a.project_id,
                    a.pk,
                    a.resource_class_id,
                    price_category=a.price_category,
                )
            )
        elif a.charging_model == ChargingModel.SUBSCRIPTION and a.pk not in subscribed:
            price = _price(book, a, a.start)
            out.append(
                LineDraft(
                    Kind.SUBSCRIPTION,
                    f"{_label(a)}: subscription {a.start}..{a.end}",
                    a.amount,
                    a.resource_class.unit,
                    price,
                    a.amount * price,
                    a.project_id,
                    a.pk,
                    a.resource_class_id,
                    price_category=a.price_category,
                )
            )
    return out


def _category0_waiver(
    org: Organisation, start: dt.date, lines: Sequence[LineDraft], book: PriceBook
) -> LineDraft | None:
    """Category 0 is free until the organisation's yearly category 0 total passes the allowance.

    BOTT universities pay nothing in category 0; others pay only what passes the allowance of
    the category 0 price list valid on the period's first day (Sigma2 user contribution model).
    """
    gross = sum((to_ore(d.amount) for d in lines if d.price_category == PriceCategory.ZERO), ZERO)
    if gross <= 0:
        return None
    if org.is_bott:
        waived = gross
    else:
        allowance = book.free_allowance(PriceCategory.ZERO, start)
        earlier = (
            InvoiceLine.objects.filter(
                invoice__organisation=org,
                invoice__period_start__gte=dt.date(start.year, 1, 1),
                invoice__period_start__lt=start,
                allocation__price_category=PriceCategory.ZERO,
            )
            .exclude(kind=Kind.WAIVER)
            .values_list("amount_nok", flat=True)
        )
        before = sum(earlier, ZERO)
        waived = min(gross, max(ZERO, allowance - before))
    if waived <= 0:
        return None
    return LineDraft(
        Kind.WAIVER,
        f"Category 0 waiver {start.year} (small projects)",
        Decimal(1),
        "waiver",
        -waived,
        -waived,
    )


def _take_or_pay(
    org: Organisation, start: dt.date, end: dt.date, book: PriceBook
) -> list[LineDraft]:
    """Top-up = max(0, commitment_share x the order's value for the period
    - the period's charges of its sub-allocations, whoever's invoice they are on)."""
    out = []
    orders = SectorOrder.objects.filter(
        organisation=org,
        status=OrderStatus.CONFIRMED,
        year__gte=start.year,
        year__lte=(end - dt.timedelta(days=1)).year,
    )
    for order in orders.prefetch_related("lines__resource_class__system"):
        days = overlap_days(start, end, order.start, order.end)
        if days <= 0:
            continue
        year_days = Decimal((order.end - order.start).days)
        category = policy.order_category(org)
        first_day = max(start, order.start)
        value = ZERO
        for line in order.lines.all():
            try:
                price = book.unit_price(category, line.resource_class, first_day)
            except NoPrice as e:
                raise ValidationError(f"cannot value order {order}: {e}") from None
            value += line.amount * Decimal(days) / year_days * price
        committed = to_ore(order.commitment_share * value)
        subs = Allocation.objects.filter(order_line__order=order).select_related(
            "project", "resource_class__system"
        )
        charged = sum(
            (to_ore(d.amount) for d in allocation_lines(subs, start, end, book, period_use=True)),
            ZERO,
        )
        top_up = committed - charged
        if top_up > 0:
            out.append(
                LineDraft(
                    Kind.TAKE_OR_PAY,
                    f"Committed minimum of {order}: {order.commitment_share:.1%} "
                    f"of {to_ore(value)} NOK for {days} days, "
                    f"less {charged} NOK charged to its sub-allocations",
                    Decimal(1),
                    "period",
                    to_record(top_up),
                    top_up,
                    sector_order_id=order.pk,
                )
            )
    return out


def _consumption_allocations(org: Organisation) -> QuerySet:
    return Allocation.objects.filter(
        project__organisation=org, charging_model=ChargingModel.CONSUMPTION
    )


def draft_lines(
    org: Organisation,
    start: dt.date,
    end: dt.date,
    book: PriceBook | None = None,
    invoice: Invoice | None = None,
) -> list[LineDraft]:
    """Every line an invoice for ``org`` and the period would have (amounts unrounded)."""
    if end <= start:
        raise ValidationError(f"invoice period {start}..{end} is empty")
    book = book or PriceBook()
    if invoice is not None:
        with_usage = set(_billed_by(invoice).values_list("allocation_id", flat=True).distinct())
    else:
        with_usage = set(
            unbilled_usage(
                org, _consumption_allocations(org).values_list("pk", flat=True), start, end
            )
            .values_list("allocation_id", flat=True)
            .distinct()
        )
    allocs = (
        Allocation.objects.filter(project__organisation=org)
        .filter(Q(start__lt=end, end__gt=start) | Q(pk__in=with_usage))
        .select_related("project", "resource_class__system")
        .order_by("project__code", "pk")
    )
    lines = allocation_lines(allocs, start, end, book, invoice, org=org)
    waiver = _category0_waiver(org, start, lines, book)
    if waiver:
        lines.append(waiver)
    return lines + _take_or_pay(org, start, end, book)


def preview_invoice(org: Organisation, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The invoice as it would be issued now, without storing it."""
    lines, total = assemble(draft_lines(org, start, end))
    return {
        "organisation": org.short_name,
        "period_start": start,
        "period_end": end,
        "total_nok": total,
        "lines": [_line_dict(d) for d in lines],
    }


def _line_dict(d: LineDraft) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "description": d.description,
        "quantity": d.quantity,
        "unit": d.unit,
        "unit_price_nok": d.unit_price,
        "amount_nok": d.amount,
        "project": d.project_id,
        "allocation": d.allocation_id,
        "resource_class": d.resource_class_id,
        "sector_order": d.sector_order_id,
    }


def issue_invoice(
    org: Organisation, start: dt.date, end: dt.date, book: PriceBook | None = None
) -> Invoice | None:
    """Issue ``org``'s invoice for the period; return the existing one if already issued.

    Returns None when there is nothing to charge. Refuses a period that overlaps another of
    the organisation's invoices (that would charge the same use twice).
    """
    with transaction.atomic():
        # One invoice run per organisation at a time: the overlap check and the lines see the
        # same data.
        Organisation.objects.select_for_update().filter(pk=org.pk).exists()
        return _issue_locked(org, start, end, book)


def _issue_locked(
    org: Organisation, start: dt.date, end: dt.date, book: PriceBook | None
) -> Invoice | None:
    existing = Invoice.objects.filter(organisation=org, period_start=start, period_end=end).first()
    if existing is not None:
        logger.debug("invoice %s for %s, %s..%s already issued", existing.pk, org, start, end)
        return existing
    clash = Invoice.objects.filter(
        organisation=org, period_start__lt=end, period_end__gt=start
    ).first()
    if clash is not None:
        logger.warning(
            "refused: %s's invoice for %s..%s would overlap invoice %s (%s..%s)",
            org,
            start,
            end,
            clash.pk,
            clash.period_start,
            clash.period_end,
        )
        raise ValidationError(
            f"{org}: period {start}..{end} overlaps invoice "
            f"{clash.period_start}..{clash.period_end}"
        )
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                organisation=org, period_start=start, period_end=end, total_nok=ZERO
            )
            # the invoice takes its usage first, so that a record imported meanwhile is
            # either on it (and billed) or left for the next one, never lost
            consumption = _consumption_allocations(org).values_list("pk", flat=True)
            unbilled_usage(org, consumption, start, end).update(invoice=invoice)
            lines, total = assemble(draft_lines(org, start, end, book, invoice))
            if not lines:
                raise _NothingToCharge
            invoice.total_nok = total
            invoice.save(update_fields=["total_nok"])
            InvoiceLine.objects.bulk_create(
                [
                    InvoiceLine(
                        invoice=invoice,
                        kind=d.kind,
                        description=d.description[:300],
                        quantity=d.quantity,
                        unit=d.unit,
                        unit_price_nok=to_record(d.unit_price),
                        amount_nok=d.amount,
                        project_id=d.project_id,
                        allocation_id=d.allocation_id,
                        resource_class_id=d.resource_class_id,
                        sector_order_id=d.sector_order_id,
                    )
                    for d in lines
                ]
            )
    except _NothingToCharge:
        logger.debug("nothing to charge %s for %s..%s", org, start, end)
        return None
    except IntegrityError:  # issued concurrently by someone else: theirs stands
        logger.info("invoice for %s, %s..%s was issued concurrently; keeping it", org, start, end)
        return Invoice.objects.get(organisation=org, period_start=start, period_end=end)
    logger.info(
        "issued invoice %s for %s, %s..%s: %d line(s), %s NOK",
        invoice.pk,
        org,
        start,
        end,
        len(lines),
        total,
    )
    return invoice


class _NothingToCharge(Exception):
    """Rolls back an invoice that would have no line."""


def organisations_to_invoice(period_start: dt.date, period_end: dt.date) -> QuerySet:
    """The organisations that may have something to charge for the period: an allocation
    in it, use in it, late use, or a confirmed sector order."""
    ids = set(
        Allocation.objects.overlapping(period_start, period_end).values_list(
            "project__organisation_id", flat=True
        )
    )
    ids |= set(
        UsageDay.objects.filter(
            usage_date__gte=period_start, usage_date__lt=period_end, allocation__isnull=False
        )
        .values_list("project__organisation_id", flat=True)
        .distinct()
    )
    ids |= set(
        UsageDay.objects.filter(
            invoice__isnull=True,
            usage_date__gte=late_use_since(period_start),
            usage_date__lt=period_end,
            allocation__charging_model=ChargingModel.CONSUMPTION,
        )
        .values_list("project__organisation_id", flat=True)
        .distinct()
    )  # late use
    ids |= set(
        SectorOrder.objects.filter(
            status=OrderStatus.CONFIRMED, year__gte=period_start.year, year__lte=period_end.year
        ).values_list("organisation_id", flat=True)
    )
    return Organisation.objects.filter(pk__in=ids).order_by("short_name")


def draft_invoices_for_month(period_start: dt.date, period_end: dt.date) -> dict[str, Any]:
    """What the period's invoice run would issue, per organisation not yet invoiced for it:
    the month-end drafts finance looks over before issuing (nothing is stored)."""
    book = PriceBook()
    issued = set(
        Invoice.objects.filter(period_start=period_start, period_end=period_end).values_list(
            "organisation_id", flat=True
        )
    )
    drafts = []
    for org in organisations_to_invoice(period_start, period_end):
        if org.pk in issued:
            continue
        lines, total = assemble(draft_lines(org, period_start, period_end, book))
        if lines:
            drafts.append({"organisation": org.short_name, "lines": len(lines), "total_nok": total})
    return {
        "period_start": period_start,
        "period_end": period_end,
        "already_issued": len(issued),
        "drafts": drafts,
        "total_nok": sum((d["total_nok"] for d in drafts), ZERO),
    }


def issue_invoices(
    period_start: dt.date, period_end: dt.date, organisations: Iterable[Organisation] | None = None
) -> list[Invoice]:
    """Issue the period's invoice of every organisation with something to charge (idempotent)."""
    if organisations is None:
        organisations = organisations_to_invoice(period_start, period_end)
    organisations = list(organisations)
    logger.info(
        "invoice run %s..%s: %d organisation(s) to look at",
        period_start,
        period_end,
        len(organisations),
    )
    book = PriceBook()
    out = []
    for org in organisations:
        invoice = issue_invoice(org, period_start, period_end, book)
        if invoice is not None:
            out.append(invoice)
    logger.info(
        "invoice run %s..%s done: %d invoice(s), %s NOK in all",
        period_start,
        period_end,
        len(out),
        sum((invoice.total_nok for invoice in out), ZERO),
    )
    return out


def invoice_dict(invoice: Invoice) -> dict[str, Any]:
    lines = list(
        invoice.lines.order_by("pk").values(
            "kind",
            "description",
            "quantity",
            "unit",
            "unit_price_nok",
            "amount_nok",
            "project__code",
            "allocation_id",
            "resource_class_id",
            "sector_order_id",
        )
    )
    return {
        "id": invoice.pk,
        "organisation": invoice.organisation.short_name,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "issued": invoice.issued,
        "total_nok": invoice.total_nok,
        "lines": lines,
    }
