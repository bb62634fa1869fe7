"""The formatting functions (see the package's docstring for what they print)."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from django.conf import settings
from django.utils import translation
from django.utils.translation import npgettext

MISSING = "–"
"""What a missing value (``None``) is shown as."""

NARROW_NBSP = "\u202f"
NBSP = "\u00a0"

Number = int | float | Decimal

_LOCALES = {"nb": "nb_NO", "en": "en_GB"}


def locale_for(language: str | None = None) -> str:
    """The Babel locale of a Django language code (``nb``, ``en``, ``en-us``...); bokmål for
    anything else, as the portal's default language is."""
    code = (language or translation.get_language() or settings.LANGUAGE_CODE).lower()
    return _LOCALES.get(code.split("-")[0].split("_")[0], _LOCALES["nb"])


def _decimal(value: Number | str) -> Decimal:
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(f"not a number: {value!r}") from error


def _grouped(text: str, locale: str) -> str:
    # CLDR gives bokmål a no-break space between thousands; Norwegian typesetting uses a thin one.
    return text.replace(NBSP, NARROW_NBSP) if locale.startswith("nb") else text


def number(
    value: Number | str | None, decimals: int | None = None, language: str | None = None
) -> str:
    """A number with thousands grouped: ``decimals`` fixed places, or (``None``) as many as the
    value needs up to two (``1 234``, ``0,5``, ``12,25``)."""
    if value is None:
        return MISSING
    locale = locale_for(language)
    if decimals is None:
        pattern = "#,##0.##"
    else:
        pattern = "#,##0." + "0" * decimals if decimals else "#,##0"
    # Rounded half up here, as invoices round (Babel alone would round half to even).
    places = Decimal(1).scaleb(-(2 if decimals is None else decimals))
    rounded = _decimal(value).quantize(places, rounding=ROUND_HALF_UP)
    return _grouped(format_decimal(rounded, format=pattern, locale=locale), locale)


def money(value: Number | str | None, language: str | None = None) -> str:
    """An amount in Norwegian kroner with two decimals: ``77 971,20 kr`` / ``NOK 77,971.20``."""
    if value is None:
        return MISSING
    locale = locale_for(language)
    amount = number(value, 2, language)
    return f"{amount}{NBSP}kr" if locale.startswith("nb") else f"NOK{NBSP}{amount}"


def percent(value: Number | str | None, decimals: int = 1, language: str | None = None) -> str:
    """A percentage given in percent (``80`` -> ``80,0 %`` / ``80.0%``)."""
    if value is None:
        return MISSING
    text = number(_decimal(value), decimals, language)
    return f"{text}{NBSP}%" if locale_for(language).startswith("nb") else f"{text}%"


def share(value: Number | str | None, decimals: int = 1, language: str | None = None) -> str:
    """A fraction shown as a percentage (``0.8`` -> ``80,0 %``)."""
    if value is None:
        return MISSING
    return percent(_decimal(value) * 100, decimals, language)


def _units() -> dict[str, tuple[str, str]]:
    # (singular, plural) in English; translated with npgettext at the moment of use.
    return {
        "core-hours": ("core-hour", "core-hours"),
        "GPU-hours": ("GPU-hour", "GPU-hours"),
        "TB-months": ("TB-month", "TB-months"),
        "node-hours": ("node-hour", "node-hours"),
        "person-hours": ("person-hour", "person-hours"),
        "TB": ("TB", "TB"),
    }


def unit_label(unit: str, value: Number | str | None = None) -> str:
    """A unit code (``core-hours``) in the active language, singular for exactly one."""
    singular, plural = _units().get(unit, (unit, unit))
    count = 2 if value is None or _decimal(value) != 1 else 1
    return _translated_unit(singular, plural, count)


def _translated_unit(singular: str, plural: str, count: int) -> str:
    # Each pair is spelled out so that makemessages finds it.
    match singular:
        case "core-hour":
            return npgettext("unit", "core-hour", "core-hours", count)
        case "GPU-hour":
            return npgettext("unit", "GPU-hour", "GPU-hours", count)
        case "TB-month":
            return npgettext("unit", "TB-month", "TB-months", count)
        case "node-hour":
            return npgettext("unit", "node-hour", "node-hours", count)
        case "person-hour":
            return npgettext("unit", "person-hour", "person-hours", count)
    return singular if count == 1 else plural


def quantity(
    value: Number | str | None, unit: str, decimals: int | None = None, language: str | None = None
) -> str:
    """An amount with its translated unit: ``1 234 kjernetimer`` / ``1,234 core-hours``."""
    if value is None:
        return MISSING
    with translation.override(language) if language else nullcontext():
        return f"{number(value, decimals)}{NBSP}{unit_label(unit, value)}"


def _local(value: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(settings.TIME_ZONE)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # the database stores UTC
    return value.astimezone(zone)


def date(value: dt.date | dt.datetime | None, language: str | None = None) -> str:
    """A date: ``1. des. 2026`` / ``1 Dec 2026`` (a datetime is first moved to Oslo time)."""
    if value is None:
        return MISSING
    if isinstance(value, dt.datetime):
        value = _local(value).date()
    return format_date(value, "medium", locale=locale_for(language))


def datetime(value: dt.datetime | None, language: str | None = None) -> str:
    """A moment in Oslo time to the minute: ``1. des. 2026, 20:32`` / ``1 Dec 2026, 20:32``."""
    if value is None:
        return MISSING
    locale = locale_for(language)
    local = _local(value)
    pattern = Locale.parse(locale).datetime_formats["medium"]
    day = format_date(local.date(), "medium", locale=locale)
    time = format_time(local.time(), "HH:mm", locale=locale)
    return str(pattern).replace("{1}", day).replace("{0}", time)
