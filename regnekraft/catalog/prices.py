"""Prices: what a quantity of a resource class costs, in Decimal NOK.

The one place prices are looked up (accounting rates use with it, the slurm bridge weighs
fair-share with it, an order is estimated with it). A unit price is

    Price of the price list of the category valid on the day (latest ``valid_from <= day``),
    for the class's kind (a Price for the class's GPU type wins over the generic one),
    x the list's multiplier for the system's availability tier.

Rounding rule (docs/accounting.md):

* unit prices and usage records keep 4 decimals (``RECORD_QUANTUM``), ROUND_HALF_UP;
* invoice lines are rounded to øre (``ORE``), ROUND_HALF_UP, once, from the unrounded sum;
* an invoice total is the sum of its rounded lines, so total = sum of lines to the øre.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from .models import Price, PriceList, ResourceClass

RECORD_QUANTUM = Decimal("0.0001")
ORE = Decimal("0.01")
ZERO = Decimal(0)


def to_record(value: Decimal) -> Decimal:
    """Round to the 4 decimals usage records and unit prices keep."""
    return value.quantize(RECORD_QUANTUM, rounding=ROUND_HALF_UP)


def to_ore(value: Decimal) -> Decimal:
    """Round to øre (1/100 NOK), half up: the rule for every amount on an invoice."""
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


class NoPrice(LookupError):
    """No price list of the category is valid on the day, or it has no price for the class."""


class PriceBook:
    """All price lists in memory: fast lookups for bulk imports and invoice runs.

    Build one per run (``PriceBook()``); it does not see price lists created afterwards.
    """

    def __init__(self, lists: list[PriceList] | None = None) -> None:
        if lists is None:
            lists = list(PriceList.objects.prefetch_related("prices"))
        by_category: dict[str, list[PriceList]] = defaultdict(list)
        for pl in lists:
            by_category[pl.category].append(pl)
        self._lists = {
            c: sorted(pls, key=lambda pl: pl.valid_from) for c, pls in by_category.items()
        }
        self._starts = {c: [pl.valid_from for pl in pls] for c, pls in self._lists.items()}
        self._prices: dict[int, dict[tuple[str, str], Decimal]] = {
            pl.pk: {(p.kind, p.gpu_type): p.unit_price for p in _prices_of(pl)} for pl in lists
        }
        self._cache: dict[tuple[str, int, dt.date], Decimal] = {}

    def price_list(self, category: str, day: dt.date) -> PriceList:
        """The list of ``category`` valid on ``day``: the one with the latest
        ``valid_from <= day``."""
        starts = self._starts.get(category, [])
        i = bisect.bisect_right(starts, day)
        if i == 0:
            raise NoPrice(f"no price list of category {category} is valid on {day}")
        return self._lists[category][i - 1]

    def valid_until(self, category: str, day: dt.date) -> dt.date | None:
        """The day the next list of ``category`` takes over from the one valid on ``day`` (None:
        open)."""
        starts = self._starts.get(category, [])
        i = bisect.bisect_right(starts, day)
        return starts[i] if i < len(starts) else None

    def unit_price(self, category: str, rc: ResourceClass, day: dt.date) -> Decimal:
        """NOK per unit of ``rc`` for ``category`` on ``day``, tier multiplier included."""
        key = (category, rc.pk, day)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        pl = self.price_list(category, day)
        prices = self._prices[pl.pk]
        base = prices.get((rc.kind, rc.gpu_type)) if rc.gpu_type else None
        if base is None:
            base = prices.get((rc.kind, ""))
        if base is None:
            gpu = f" {rc.gpu_type}" if rc.gpu_type else ""
            raise NoPrice(
                f"price list '{pl.name}' (category {category}, valid from {pl.valid_from}) "
                f"has no price for {rc.kind}{gpu}"
            )
        price = to_record(base * pl.multiplier(rc.system.availability_tier))
        self._cache[key] = price
        return price

    def free_allowance(self, category: str, day: dt.date) -> Decimal:
        """The yearly free allowance of the list valid on ``day`` (category 0); 0 if none is
        valid."""
        try:
            return self.price_list(category, day).free_allowance_nok
        except NoPrice:
            return ZERO


def _prices_of(pl: PriceList) -> list[Price]:
    cache = getattr(pl, "_prefetched_objects_cache", {})
    return list(cache["prices"]) if "prices" in cache else list(Price.objects.filter(price_list=pl))


def rate(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """The charge for ``quantity`` units at ``unit_price``, kept to 4 decimals."""
    return to_record(Decimal(quantity) * unit_price)
