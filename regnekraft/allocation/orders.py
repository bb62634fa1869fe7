"""Sector orders: a sector coordinator orders a year's capacity for one of the sector's
organisations (a draft they may replace), sees its price and usage commitment, confirms it (the
rules then apply) and passes parts of its lines on to the sector's projects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.catalog.models import ResourceClass
from regnekraft.catalog.prices import NoPrice, PriceBook, to_ore
from regnekraft.parties.actors import person_of, require_sector, user_of
from regnekraft.parties.models import Organisation, Project

from . import policy, services
from .models import Allocation, OrderStatus, SectorOrder, SectorOrderLine


@dataclass(frozen=True)
class EstimateLine:
    resource_class: ResourceClass
    amount: Decimal
    unit_price: Decimal | None  # None: no price list prices it (``problem`` says why)
    value: Decimal | None
    problem: str = ""


@dataclass(frozen=True)
class OrderEstimate:
    """What an order costs at the prices valid on 1 January of its year.

    One rounding rule, as on invoices: each line's value is rounded to øre half up, the total is
    the sum of the rounded lines, and the take-or-pay commitment is the total x the commitment
    share, rounded to øre half up once.
    """

    category: str
    lines: list[EstimateLine]
    total: Decimal
    committed: Decimal

    @property
    def complete(self) -> bool:
        """False if some line has no price (the total then leaves it out)."""
        return all(line.value is not None for line in self.lines)


def _lines(order: SectorOrder) -> list:
    """The order's lines by id: the ones a list prefetched (no query per order), else read."""
    if "lines" in getattr(order, "_prefetched_objects_cache", {}):
        return sorted(order.lines.all(), key=lambda line: line.pk)
    return list(order.lines.select_related("resource_class__system").order_by("pk"))


def estimate(order: SectorOrder, book: PriceBook | None = None) -> OrderEstimate:
    """The order's price and commitment: the one figure the API, the portal and the admin show."""
    book = book or PriceBook()
    category = policy.order_category(order.organisation)
    lines = []
    for line in _lines(order):
        try:
            unit_price = book.unit_price(category, line.resource_class, order.start)
        except NoPrice as exc:
            lines.append(EstimateLine(line.resource_class, line.amount, None, None, str(exc)))
            continue
        value = to_ore(line.amount * unit_price)
        lines.append(EstimateLine(line.resource_class, line.amount, unit_price, value))
    total = sum((line.value for line in lines if line.value is not None), Decimal(0))
    return OrderEstimate(category, lines, total, to_ore(total * order.commitment_share))


def _require_sector_of(actor: Any, organisation: Organisation, *, action: str) -> None:
    if not organisation.sector:
        raise ValidationError(
            {
                "organisation": _(
                    "%(org)s has no sector; only a sector's organisations order capacity"
                )
                % {"org": organisation}
            }
        )
    require_sector(actor, organisation.sector, action=action)


def _existing(organisation: Organisation, year: int, order: SectorOrder | None):
    """The order to write: ``order`` itself, else the organisation's order for the year (a
    draft is replaced, anything else refused), else a new one."""
    if order is not None:
        return SectorOrder.objects.select_for_update().get(pk=order.pk)
    found = (
        SectorOrder.objects.select_for_update().filter(organisation=organisation, year=year).first()
    )
    if found is not None and found.status != OrderStatus.DRAFT:
        raise ValidationError(
            {
                "year": _("%(org)s already has a %(status)s order for %(year)s.")
                % {"org": organisation, "status": found.get_status_display(), "year": year}
            }
        )
    return found or SectorOrder(organisation=organisation, year=year)


@transaction.atomic
def save_order(
    actor: Any,
    *,
    organisation: Organisation,
    year: int,
    commitment_share: Decimal,
    lines: Mapping[ResourceClass, Decimal],
    order: SectorOrder | None = None,
) -> SectorOrder:
    """Create an order as a draft, or replace a draft (``order``, or the organisation's draft
    for ``year``) with these lines. Only the sector's coordinator or an operator."""
    _require_sector_of(actor, organisation, action="order capacity for a sector")
    wanted = {rc: Decimal(amount) for rc, amount in lines.items() if amount}
    if not wanted:
        raise ValidationError({"lines": _("An order needs at least one line.")})
    order = _existing(organisation, year, order)
    if order.pk is not None:
        require_sector(actor, order.sector, action="change a sector order")
        if order.status != OrderStatus.DRAFT:
            raise ValidationError(
                {
                    "status": _("only a draft order can be changed; this one is %(status)s")
                    % {"status": order.status}
                }
            )
    order.organisation, order.year, order.sector = organisation, year, organisation.sector
    order.commitment_share = commitment_share
    order.ordered_by = order.ordered_by or person_of(actor)
    order.full_clean()
    order.save()
    order.lines.all().delete()
    for rc, amount in wanted.items():
        line = SectorOrderLine(order=order, resource_class=rc, amount=amount)
        line.full_clean()
        line.save()
    return order


@transaction.atomic
def confirm_order(actor: Any, order: SectorOrder) -> SectorOrder:
    """Confirm the order: its lines then hold capacity for the year, within the rules.
    Confirming a confirmed order returns it."""
    require_sector(actor, order.sector, action="confirm a sector order")
    return services.confirm_order(order)


@transaction.atomic
def cancel_order(actor: Any, order: SectorOrder) -> SectorOrder:
    """Cancel a draft (a confirmed order is a commitment and stays). Cancelling twice is fine."""
    order = SectorOrder.objects.select_for_update().get(pk=order.pk)
    require_sector(actor, order.sector, action="cancel a sector order")
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status != OrderStatus.DRAFT:
        raise ValidationError(
            {
                "status": _("only a draft order can be cancelled; this one is %(status)s")
                % {"status": order.status}
            }
        )
    order.status = OrderStatus.CANCELLED
    order.full_clean()
    order.save(update_fields=["status"])
    return order


@transaction.atomic
def sub_allocate(
    actor: Any,
    line: SectorOrderLine,
    project: Project,
    amount: Decimal,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Allocation:
    """Pass part of a confirmed order line on to one of the order's sector's projects."""
    order = line.order
    require_sector(actor, order.sector, action="sub-allocate a sector order")
    if project.organisation.sector != order.sector:
        raise ValidationError(
            {
                "project": _("%(code)s is not a project of the sector %(sector)s")
                % {"code": project.code, "sector": order.sector}
            }
        )
    return services.sub_allocate(
        line, project, amount, start=start, end=end, decided_by=user_of(actor)
    )
