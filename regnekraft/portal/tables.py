"""Tables shown on portal pages; every one can also be downloaded as CSV (``?export=<id>``)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.formats import number_format
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

EXPORT_PARAM = "export"


@dataclass
class Column:
    label: str
    numeric: bool = False
    decimals: int = 0


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


def _display(value: Any, col: Column) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if col.numeric and isinstance(value, int | float | Decimal):
        return number_format(value, decimal_pos=col.decimals, use_l10n=True, force_grouping=True)
    return str(value)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_value(value: Any) -> str:
    """The cell as CSV text. Text a spreadsheet would run as a formula (CSV injection) is kept
    as text by a leading apostrophe, whatever the value is: a string, a lazy translation, a
    model object or anything else whose text starts with = + - @, a tab or a carriage return.
    Numbers are written as they are (a negative number is a number, not a formula)."""
    if isinstance(value, Cell):
        value = value.value
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(table: Table) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.id}.csv"'
    writer = csv.writer(response)
    writer.writerow([_csv_value(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(v) for v in row])
    return response


def find(tables: Iterable[Table], table_id: str) -> Table | None:
    return next((t for t in tables if t.id == table_id), None)
