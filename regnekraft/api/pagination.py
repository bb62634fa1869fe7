"""Pagination of the API's lists: every list is paged and bounded.

- ``BoundedLimitOffsetPagination`` for the lists whose size follows the platform's people and
  projects (``?limit=`` and ``?offset=``, with a count): no client value reaches the database
  as an out-of-range LIMIT or OFFSET (PostgreSQL refuses numbers beyond 64 bits).
- ``KeysetPagination`` for the lists that grow with history (usage records, the audit log):
  each page starts where the previous one ended, named by an opaque ``cursor`` that holds the
  last row's ordering values, so the database walks an index from there instead of counting
  and skipping the rows before (page 30,000 costs what page 1 does). No count is given.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10**12


def _limit(request, default: int, maximum: int) -> int:
    """``?limit=`` as a page size in [1, maximum]; missing or not a positive number: the
    default."""
    text = request.query_params.get("limit", "")
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) < 1:
        return default
    return min(int(text), maximum)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)


class KeysetPagination(BasePagination):
    """Keyset ("seek") pagination on ``ordering``, a sequence of non-null model fields ending in
    a unique one (``-`` for descending), which an index should serve: the view's queryset is
    ordered by it here. Answers ``{"next", "previous", "results"}``; ``next`` and ``previous``
    are links carrying ``cursor`` (and the other query parameters), null at either end.
    ``?offset=`` is refused with 400 naming the cursor, rather than silently giving page one."""

    ordering: Sequence[str] = ("-id",)
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT
    cursor_query_param = "cursor"

    def __init__(self, ordering: Sequence[str] | None = None) -> None:
        if ordering is not None:
            self.ordering = tuple(ordering)

    # -- the page ---------------------------------------------------------------------------

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        if "offset" in request.query_params:
            raise ValidationError(
                {"offset": ["this list is paged by cursor: follow the `next` link, not an offset"]}
            )
        self.request = request
        self.limit = _limit(request, self.default_limit, self.max_limit)
        position = self._decode(request.query_params.get(self.cursor_query_param), queryset)
        backwards = position is not None and position[0] == "p"
        ordering = self._reversed() if backwards else tuple(self.ordering)
        rows = queryset.order_by(*ordering)
        if position is not None:
            rows = rows.filter(self._after(ordering, position[1]))
        page = list(rows[: self.limit + 1])
        more = len(page) > self.limit
        page = page[: self.limit]
        if backwards:
            page.reverse()
            self.has_previous, self.has_next = more, True
        else:
            self.has_previous, self.has_next = position is not None, more
        self.page = page
        return page

    def get_paginated_response(self, data) -> Response:
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self._link("n", self.page[-1])

    def get_previous_link(self) -> str | None:
        if not self.has_previous or not self.page:
            return None
        return self._link("p", self.page[0])

    # -- cursors ----------------------------------------------------------------------------

    def _fields(self) -> list[tuple[str, bool]]:
        return [(f.lstrip("-"), f.startswith("-")) for f in self.ordering]

    def _reversed(self) -> tuple[str, ...]:
        return tuple(name if desc else f"-{name}" for name, desc in self._fields())

    @staticmethod
    def _after(ordering: Sequence[str], values: list[Any]) -> Q:
        """Rows after ``values`` in ``ordering``: (a, b) after (x, y) descending is
        a < x or (a = x and b < y). The first field is also bounded on its own
        (a <= x), which lets the database range-scan its index."""
        names = [(f.lstrip("-"), "lt" if f.startswith("-") else "gt") for f in ordering]
        first, first_op = names[0]
        rule = Q()
        for i, (name, op) in enumerate(names):
            step = Q(**{n: values[j] for j, (n, _) in enumerate(names[:i])})
            rule |= step & Q(**{f"{name}__{op}": values[i]})
        return Q(**{f"{first}__{first_op}e": values[0]}) & rule

    def _link(self, direction: str, row: Any) -> str:
        values = [self._value(row, name) for name, _ in self._fields()]
        token = json.dumps([direction, values], separators=(",", ":")).encode()
        cursor = base64.urlsafe_b64encode(token).decode().rstrip("=")
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    @staticmethod
    def _value(row: Any, name: str) -> Any:
        value = getattr(row, name)
        return value.isoformat() if hasattr(value, "isoformat") else value

    def _decode(self, text: str | None, queryset: QuerySet) -> tuple[str, list[Any]] | None:
        if not text:
            return None
        bad = ValidationError({self.cursor_query_param: ["not a cursor this list gave out"]})
        try:
            padded = text + "=" * (-len(text) % 4)
            direction, raw = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, TypeError, binascii.Error, UnicodeError):
            raise bad from None
        fields = self._fields()
        if direction not in ("n", "p") or not isinstance(raw, list) or len(raw) != len(fields):
            raise bad
        meta = queryset.model._meta
        values = []
        for (name, _), value in zip(fields, raw, strict=True):
            field = meta.pk if name == "pk" else meta.get_field(name)
            if value is None or isinstance(value, bool | dict | list | float):
                raise bad
            try:
                parsed = field.to_python(value)
                field.get_prep_value(parsed)
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise bad from None
            if isinstance(parsed, int) and not -(2**63) <= parsed < 2**63:
                raise bad
            values.append(parsed)
        return direction, values

    # -- the schema -------------------------------------------------------------------------

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "where the page starts: take it from the `next` or `previous` "
                "link of the page before (opaque)",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"rows per page (default {self.default_limit}, "
                f"at most {self.max_limit})",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "the next page; null on the last"},
                "previous": {**link, "description": "the page before; null on the first"},
                "results": schema,
            },
        }


class UsageCursorPagination(KeysetPagination):
    """Usage records, newest first (the last imported): the primary key serves the order and the
    seek, and the indexes the records keep, (project, id) and (allocation, id), serve them for
    the ``?project=`` and ``?allocation=`` filters."""

    ordering = ("-id",)


class AuditCursorPagination(KeysetPagination):
    """The audit log, newest first (its ``at`` index; ``id`` breaks ties)."""

    ordering = ("-at", "-id")
