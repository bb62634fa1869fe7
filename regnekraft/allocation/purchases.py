"""Industry purchases: an industry customer buys capacity for their own organisation's projects
at market price (category C), within the economic-activity cap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from regnekraft.catalog.models import PriceCategory, ResourceClass
from regnekraft.catalog.prices import NoPrice, PriceBook, to_ore
from regnekraft.parties.actors import is_operator, require_person, require_role, user_of
from regnekraft.parties.models import Project, RoleKind

from . import services
from .models import Allocation


def market_price(rc: ResourceClass, day: dt.date, book: PriceBook | None = None) -> Decimal | None:
    """NOK per unit of ``rc`` at market price on ``day``; None when no price list prices it."""
    try:
        return (book or PriceBook()).unit_price(PriceCategory.C, rc, day)
    except NoPrice:
        return None


def quote(
    rc: ResourceClass, amount: Decimal, day: dt.date, book: PriceBook | None = None
) -> Decimal | None:
    """What ``amount`` units cost at market price, rounded to øre as on the invoice."""
    price = market_price(rc, day, book)
    return None if price is None else to_ore(price * amount)


@transaction.atomic
def purchase(
    actor: Any,
    project: Project,
    resource_class: ResourceClass,
    amount: Decimal,
    start: dt.date,
    end: dt.date,
) -> Allocation:
    """Buy units for ``project``: industry for their own organisation's projects, or an operator."""
    require_role(actor, RoleKind.INDUSTRY, RoleKind.OPERATOR, action="buy capacity")
    if not is_operator(actor):
        person = require_person(actor, action="buy capacity")
        if project.organisation_id != person.organisation_id:
            raise PermissionDenied(
                f"you buy for {person.organisation}, not for {project.organisation}"
            )
    return services.purchase(project, resource_class, amount, start, end, decided_by=user_of(actor))
