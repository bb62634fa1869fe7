"""One place that turns numbers, money, quantities, shares and times into text for people.

Every page, mail, CSV export and PDF formats through these functions (templates through the
filters in :mod:`regnekraft.formats.templatetags.formats`, which every template has without a
``{% load %}``). They follow the active language (Django's ``get_language()``):

- bokmål: ``77 971,20 kr``, ``1 234 kjernetimer``, ``80,0 %``, ``1. des. 2026, 20:32``;
- English: ``NOK 77,971.20``, ``1,234 core-hours``, ``80.0%``, ``1 Dec 2026, 20:32``.

Babel does the locale work (CLDR's separators, month names and patterns for ``nb`` and
``en_GB``); Django's own l10n has no currency formats and formats dates only by server-wide
patterns. Thousands are grouped with a narrow no-break space in bokmål (the typographic thin
space of Norwegian numbers), so a figure never breaks across lines. Times are shown in
Europe/Oslo (``settings.TIME_ZONE``), whatever the database stored.
"""

from __future__ import annotations

from .text import (
    MISSING,
    date,
    datetime,
    locale_for,
    money,
    number,
    percent,
    quantity,
    share,
    unit_label,
)

__all__ = [
    "MISSING",
    "date",
    "datetime",
    "locale_for",
    "money",
    "number",
    "percent",
    "quantity",
    "share",
    "unit_label",
]
