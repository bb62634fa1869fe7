"""The formatting layer as template filters; ``settings.TEMPLATES`` makes them built in.

``{{ invoice.total|money }}``, ``{{ x|num }}`` (``{{ x|num:0 }}`` for whole numbers),
``{{ pct|percent }}``, ``{{ fraction|share }}``, ``{{ amount|qty:unit }}``, ``{{ d|day }}``,
``{{ t|moment }}``. A value that is not a number is shown as it is, so that a page never
fails on a blank cell.
"""

from __future__ import annotations

from typing import Any

from django import template

from regnekraft import formats

register = template.Library()


def _safe(fn, value: Any, *args: Any) -> str:
    if value is None or value == "":
        return formats.MISSING
    try:
        return fn(value, *args)
    except (ValueError, TypeError):
        return str(value)


@register.filter
def money(value: Any) -> str:
    return _safe(formats.money, value)


@register.filter
def num(value: Any, decimals: Any = None) -> str:
    return _safe(formats.number, value, None if decimals is None else int(decimals))


@register.filter
def percent(value: Any, decimals: Any = 1) -> str:
    return _safe(formats.percent, value, int(decimals))


@register.filter
def share(value: Any, decimals: Any = 1) -> str:
    return _safe(formats.share, value, int(decimals))


@register.filter
def qty(value: Any, unit: str) -> str:
    return _safe(formats.quantity, value, unit)


@register.filter
def unit(value: str, amount: Any = None) -> str:
    return formats.unit_label(value, amount)


@register.filter
def day(value: Any) -> str:
    return _safe(formats.date, value)


@register.filter
def moment(value: Any) -> str:
    return _safe(formats.datetime, value)
