"""Prices shown before a commitment (an order, a purchase), from the accounting app's rating
module (the one place prices are looked up)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from regnekraft.accounting.rating import NoPrice, PriceBook, to_ore
from regnekraft.catalog.models import ResourceClass

__all__ = ["unit_price", "cost"]


def unit_price(
    category: str, rc: ResourceClass, day: dt.date, book: PriceBook | None = None
) -> Decimal | None:
    """NOK per unit of ``rc`` for ``category`` on ``day``; ``None`` when no price list prices it."""
    try:
        return (book or PriceBook()).unit_price(category, rc, day)
    except NoPrice:
        return None


def cost(category: str, rc: ResourceClass, amount: Decimal, day: dt.date) -> Decimal | None:
    price = unit_price(category, rc, day)
    return None if price is None else to_ore(price * amount)
