"""Paged portal tables: no page shows an unbounded list.

``paged(request, table, rows)`` returns the rows of the page asked for (``?<table id>_page=N``,
so two tables on one page page on their own) and gives the table a ``pager`` that
``_table.html`` shows as previous/next links (``_pager.html``). It reads one row more than a
page to know whether there is a next one and never counts the rows, so a page costs the same
whatever the table's size. The CSV download (``?export=``) is of the page shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest

from ..tables import EXPORT_PARAM, Table
from .base import int_param

PER_PAGE = 50
MAX_PAGE = 100_000  # a mangled page number beyond this gets the first page

Row = TypeVar("Row")


@dataclass
class Pager:
    table_id: str
    number: int
    previous_url: str
    next_url: str
    export_url: str

    @property
    def several(self) -> bool:
        return bool(self.previous_url or self.next_url)


def page_param(table_id: str) -> str:
    return f"{table_id}_page"


def _url(request: HttpRequest, **changes: Any) -> str:
    query = request.GET.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = str(value)
    return f"?{query.urlencode()}" if query else "?"


def paged(
    request: HttpRequest,
    table: Table,
    rows: QuerySet[Row] | Sequence[Row],
    per_page: int | None = None,
) -> list[Row]:
    """The rows of this request's page of ``table`` (at most ``per_page``); sets
    ``table.pager``. A queryset must be ordered (the pages would overlap otherwise)."""
    per_page = per_page or PER_PAGE
    name = page_param(table.id)
    number = int_param(request.GET.get(name), 1, lo=1, hi=MAX_PAGE) or 1
    start = (number - 1) * per_page
    found = list(rows[start : start + per_page + 1])
    more = len(found) > per_page
    before = None if number == 2 else number - 1  # page 1 is the plain URL
    table.pager = Pager(  # type: ignore[attr-defined]
        table_id=table.id,
        number=number,
        previous_url=_url(request, **{name: before, EXPORT_PARAM: None}) if number > 1 else "",
        next_url=_url(request, **{name: number + 1, EXPORT_PARAM: None}) if more else "",
        export_url=_url(request, **{EXPORT_PARAM: table.id}),
    )
    return found[:per_page]
