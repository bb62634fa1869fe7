"""CSV for spreadsheets, in two dialects.

- ``no`` (the default): what a spreadsheet set to Norwegian reads without an import dialog —
  semicolons between fields, a decimal comma, and a UTF-8 byte-order mark so that æ, ø and å
  survive;
- ``plain``: commas and a decimal point, for programs.

Numbers are never grouped and never rounded (a CSV is for computing with); times are written in
Oslo time as ``YYYY-MM-DD HH:MM:SS``. Text a spreadsheet would run as a formula is kept as
text (CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.conf import settings


@dataclass(frozen=True)
class Dialect:
    name: str
    delimiter: str
    decimal: str
    byte_order_mark: bool


NORWEGIAN = Dialect("no", ";", ",", True)
PLAIN = Dialect("plain", ",", ".", False)
DIALECTS = {d.name: d for d in (NORWEGIAN, PLAIN)}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def dialect(name: str | None) -> Dialect:
    """The dialect called ``name``; the Norwegian one when none is asked for."""
    if not name:
        return NORWEGIAN
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"unknown CSV dialect {name!r}: choose one of {', '.join(DIALECTS)}"
        ) from None


def cell(value: Any, d: Dialect) -> str:
    """One value as CSV text in dialect ``d``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        text = format(value, "f") if isinstance(value, Decimal) else str(value)
        return text.replace(".", d.decimal)  # a negative number is a number, not a formula
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def write(
    stream: _Writable, header: Sequence[Any], rows: Iterable[Sequence[Any]], d: Dialect
) -> None:
    """The header and rows to ``stream`` (a text stream, or an HttpResponse)."""
    if d.byte_order_mark:
        stream.write("\ufeff")
    writer = csv.writer(stream, delimiter=d.delimiter)
    writer.writerow([cell(h, d) for h in header])
    for row in rows:
        writer.writerow([cell(v, d) for v in row])
