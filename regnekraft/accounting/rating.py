"""Rating: what use costs, and which price lists may still change.

Prices are looked up in :mod:`regnekraft.catalog.prices` (re-exported here); this module adds
the rules that tie price lists to rated and invoiced use.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Max, Sum

from regnekraft.catalog.models import ResourceClass
from regnekraft.catalog.prices import (
    ORE,
    RECORD_QUANTUM,
    ZERO,
    NoPrice,
    PriceBook,
    rate,
    to_ore,
    to_record,
)

from .models import Invoice, UsageDay


def rate_usage(
    category: str, rc: ResourceClass, quantity: Decimal, day: dt.date, book: PriceBook | None = None
) -> Decimal:
    """Convenience: the charge for ``quantity`` of ``rc`` used on ``day`` in price ``category``."""
    book = book or PriceBook()
    return rate(quantity, book.unit_price(category, rc, day))


__all__ = [
    "ZERO",
    "NoPrice",
    "PriceBook",
    "rate",
    "rate_usage",
    "to_ore",
    "to_record",
    "earliest_new_list_day",
    "has_priced_use",
    "check_price_list_start",
    "RECORD_QUANTUM",
    "ORE",
]


def earliest_new_list_day() -> dt.date | None:
    """The first day a new or changed price list may take effect: the day after the latest
    rated use, and not inside an invoiced period. Rated use keeps the price it was rated
    with and invoices keep theirs, so a list starting earlier would make the records, the
    invoices and the price book disagree. None: nothing is rated or invoiced yet."""
    last_use = UsageDay.objects.aggregate(d=Max("usage_date"))["d"]
    last_invoiced = Invoice.objects.aggregate(d=Max("period_end"))["d"]
    days = [d for d in (last_use + dt.timedelta(days=1) if last_use else None, last_invoiced) if d]
    return max(days) if days else None


def has_priced_use(valid_from: dt.date) -> bool:
    """Whether a list taking effect on ``valid_from`` has already priced rated or invoiced use."""
    earliest = earliest_new_list_day()
    return earliest is not None and valid_from < earliest


def check_price_list_start(valid_from: dt.date, *, existing: dt.date | None = None) -> None:
    """Refuse a list that would reprice rated or invoiced use (``existing``: the day an
    already published list took effect, when it is being changed)."""
    earliest = earliest_new_list_day()
    if earliest is None:
        return
    if existing is not None and existing < earliest:
        raise ValidationError(
            {
                "valid_from": f"this list has priced use up to {earliest - dt.timedelta(days=1)} "
                f"and cannot change; publish a new list from {earliest} or later"
            }
        )
    if valid_from < earliest:
        raise ValidationError(
            {
                "valid_from": f"use up to {earliest - dt.timedelta(days=1)} is already rated or "
                f"invoiced; a new list may take effect on {earliest} at the earliest"
            }
        )


def refuse_repricing(sender: Any, instance: Any, fields: list[str], **_: Any) -> None:
    """Receiver of ``catalog.signals.pricing_fields_changing``: rated and invoiced use keeps
    the kind, GPU type, system and tier it was rated with, so such a change is refused while
    any use is rated with the class (or the system's classes)."""
    rated = UsageDay.objects.filter(
        **(
            {"resource_class": instance}
            if isinstance(instance, ResourceClass)
            else {"resource_class__system": instance}
        )
    )
    count = rated.aggregate(n=Sum("records"))["n"] or 0
    if count:
        raise ValidationError(
            {
                name: f"{count:,} usage records are rated with {instance}'s {name}; changing it "
                "would reprice them. Add a new resource class (or system) instead."
                for name in fields
            }
        )
