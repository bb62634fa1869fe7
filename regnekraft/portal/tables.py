"""Tables shown on portal pages; every one can also be downloaded as CSV (``?export=<id>``,
with ``&dialect=plain`` for commas and decimal points instead of the Norwegian spreadsheet's
semicolons and decimal commas). Pages show values through :mod:`regnekraft.formats`; the CSV
gets them unformatted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from regnekraft import formats
from regnekraft.formats import spreadsheet

EXPORT_PARAM = "export"
DIALECT_PARAM = "dialect"


@dataclass
class Column:
    """A column; ``kind`` says how its numbers read: ``number`` (``decimals`` places, or as
    many as needed up to two when ``None``), ``money`` (kroner), ``percent`` (the value is in
    percent), ``share`` (the value is a fraction) or ``unit`` (the cell holds a unit code,
    shown translated). ``unit=`` (a unit code such as ``core-hours``) adds the translated unit
    to every number of the column."""

    label: str
    numeric: bool = False
    decimals: int | None = 0
    kind: str = "number"
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _FORMATTERS:
            raise ValueError(f"unknown column kind {self.kind!r}: one of {', '.join(_FORMATTERS)}")
        if self.kind not in ("number", "unit"):
            self.numeric = True


@dataclass
class Cell:
    """A value with an optional link; the CSV gets the raw value, the page the formatted one."""

    value: Any
    href: str = ""


@dataclass
class Table:
    id: str
    caption: str
    columns: Sequence[Column]
    rows: list[list[Any]] = field(default_factory=list)
    empty_text: str = ""

    def add(self, *values: Any) -> None:
        self.rows.append(list(values))

    def html_rows(self) -> list[list[dict[str, Any]]]:
        out = []
        for row in self.rows:
            cells = []
            for col, raw in zip(self.columns, row, strict=True):
                cell = raw if isinstance(raw, Cell) else Cell(raw)
                cells.append(
                    {"text": _display(cell.value, col), "href": cell.href, "numeric": col.numeric}
                )
            out.append(cells)
        return out

    def body_html(self) -> SafeString:
        """The ``<tbody>`` rows as ``_table.html``'s loop writes them, built here in one pass:
        the same markup, escaped the same way, without a template node per cell (which costs
        more than the data behind a page of rows). ``_rows_table.html`` shows it."""
        if not self.rows:
            empty = self.empty_text or gettext("Nothing to show.")
            return mark_safe(
                f'<tr><td colspan="{len(self.columns)}">{conditional_escape(empty)}</td></tr>'
            )
        columns = [(col, ' class="num"' if col.numeric else "") for col in self.columns]
        out = []
        for row in self.rows:
            tds = []
            for (col, num), raw in zip(columns, row, strict=True):
                value, href = (raw.value, raw.href) if isinstance(raw, Cell) else (raw, "")
                text = conditional_escape(_display(value, col))
                if href:
                    text = f'<a href="{conditional_escape(href)}">{text}</a>'
                tds.append(f"<td{num}>{text}</td>")
            out.append(f"<tr>{''.join(tds)}</tr>\n  ")
        return mark_safe("".join(out))  # escaped above


_FORMATTERS = {
    "number": lambda v, col: formats.number(v, col.decimals),
    "money": lambda v, col: formats.money(v),
    "percent": lambda v, col: formats.percent(v, col.decimals or 0),
    "share": lambda v, col: formats.share(v, col.decimals or 0),
    "unit": lambda v, col: formats.unit_label(str(v)),
}


def _display(value: Any, col: Column) -> str:
    if value is None:
        return formats.MISSING
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, dt.datetime):
        return formats.datetime(value)
    if isinstance(value, dt.date):
        return formats.date(value)
    if col.kind == "unit":
        return formats.unit_label(str(value))
    if col.numeric and isinstance(value, int | float | Decimal):
        text = _FORMATTERS[col.kind](value, col)
        return f"{text}\u00a0{formats.unit_label(col.unit, value)}" if col.unit else text
    return str(value)


def csv_response(table: Table, dialect: str | None = None) -> HttpResponse:
    """The table as a CSV download in the dialect named (the Norwegian one by default)."""
    chosen = spreadsheet.dialect(dialect)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.id}.csv"'
    rows = ([v.value if isinstance(v, Cell) else v for v in row] for row in table.rows)
    spreadsheet.write(response, [c.label for c in table.columns], rows, chosen)
    return response


def find(tables: Iterable[Table], table_id: str) -> Table | None:
    return next((t for t in tables if t.id == table_id), None)
