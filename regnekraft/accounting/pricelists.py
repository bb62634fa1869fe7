"""Price lists: finance (or an operator) publishes, changes and deletes them. No list may
reprice use that is already rated or invoiced (``rating.check_price_list_start``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.catalog.models import Price, PriceList
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind
from regnekraft.rows import write_row

from .rating import check_price_list_start

logger = logging.getLogger(__name__)

LIST_FIELDS = ("category", "name", "valid_from", "tier_multipliers", "free_allowance_nok", "source")


def _require_pricing(actor: Any) -> None:
    require_role(actor, RoleKind.OPERATOR, RoleKind.FINANCE, action="publish or change prices")


def _require_free_day(category: str, valid_from: dt.date, price_list: PriceList | None) -> None:
    taken = PriceList.objects.filter(category=category, valid_from=valid_from)
    if price_list is not None:
        taken = taken.exclude(pk=price_list.pk)
    if taken.exists():
        raise ValidationError(
            {
                "valid_from": _(
                    "Category %(category)s already has a list taking effect on %(day)s."
                )
                % {"category": category, "day": valid_from}
            }
        )


def _write_prices(price_list: PriceList, prices: Iterable[Mapping[str, Any]]) -> None:
    price_list.prices.all().delete()
    seen: set[tuple[str, str]] = set()
    for given in prices:
        key = (given["kind"], given.get("gpu_type", ""))
        if key in seen:
            raise ValidationError({"prices": _("Two prices for %(k)s.") % {"k": " ".join(key)}})
        seen.add(key)
        write_row(
            Price,
            None,
            {
                "price_list": price_list,
                "kind": key[0],
                "gpu_type": key[1],
                "unit_price": given["unit_price"],
            },
        )


def _multipliers(given: Mapping[str, Any]) -> dict[str, str]:
    return {str(tier): str(Decimal(str(factor))) for tier, factor in given.items()}


@transaction.atomic
def publish_price_list(
    actor: Any, *, prices: Iterable[Mapping[str, Any]] = (), **fields: Any
) -> PriceList:
    """A new list (``LIST_FIELDS``) with its prices (``kind``, optional ``gpu_type``,
    ``unit_price``); it takes effect after the last rated or invoiced use."""
    _require_pricing(actor)
    check_price_list_start(fields["valid_from"])
    _require_free_day(fields["category"], fields["valid_from"], None)
    if "tier_multipliers" in fields:
        fields["tier_multipliers"] = _multipliers(fields["tier_multipliers"])
    price_list = write_row(PriceList, None, fields)
    _write_prices(price_list, prices)
    logger.info("price list %s published by %s", price_list, actor)
    return price_list


@transaction.atomic
def update_price_list(
    actor: Any,
    price_list: PriceList,
    *,
    prices: Iterable[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> PriceList:
    """Change a list that has priced nothing yet; ``prices``, when given, replace all of its."""
    _require_pricing(actor)
    check_price_list_start(
        fields.get("valid_from", price_list.valid_from), existing=price_list.valid_from
    )
    _require_free_day(
        fields.get("category", price_list.category),
        fields.get("valid_from", price_list.valid_from),
        price_list,
    )
    if "tier_multipliers" in fields:
        fields["tier_multipliers"] = _multipliers(fields["tier_multipliers"])
    price_list = write_row(PriceList, price_list, fields)
    if prices is not None:
        _write_prices(price_list, prices)
    return price_list


@transaction.atomic
def delete_price_list(actor: Any, price_list: PriceList) -> None:
    """Delete a list that has priced nothing (rated and invoiced use keep their lists)."""
    _require_pricing(actor)
    check_price_list_start(price_list.valid_from, existing=price_list.valid_from)
    price_list.delete()
