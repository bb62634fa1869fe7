"""The PI overview's cost: its tables' rows are built in Python (``Table.body_html``, shown by
``_rows_table.html``) with exactly the markup of ``_table.html``, and its query count does not
grow with the PI's projects, allocations, applications or invoices, on one page of projects or
several."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from regnekraft.portal.tables import Cell, Column, Table
from regnekraft.portal.views import paging

from .test_paging import _client, _grow


def _table(rows: list[list]) -> Table:
    table = Table(
        "things",
        "Things & <stuff>",
        [
            Column("Name"),
            Column("Amount", numeric=True, decimals=2),
            Column("Count", numeric=True),
            Column("Flag"),
            Column("When"),
        ],
        empty_text="Nothing <here>",
    )
    for row in rows:
        table.add(*row)
    return table


ROWS = [
    [Cell("nn1001k", "/pi/projects/nn1001k/?a=1&b=<2>"), Decimal("1234567.891"), 12345, True, None],
    ["<script>alert('x')</script> & \"quotes\"", Decimal("-0.5"), 0, False, dt.date(2026, 1, 2)],
    [Cell("no link"), 3.25, Decimal("1000000"), "=SUM(A1)", dt.datetime(2026, 1, 2, 3, 4)],
]


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("rows", [ROWS, []], ids=["rows", "empty"])
def test_rows_table_writes_what_the_table_template_writes(language, rows):
    with translation.override(language):
        for empty_text in ("Nothing <here>", ""):
            table = _table(rows)
            table.empty_text = empty_text
            plain = render_to_string("portal/_table.html", {"table": table})
            fast = render_to_string("portal/_rows_table.html", {"table": table})
            assert fast == plain


def _overview_queries(client) -> int:
    client.get("/pi/")  # warm the per-process caches (roles, price book)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/pi/").status_code == 200
    return len(ctx)


def test_pi_overview_queries_do_not_grow_on_one_page_of_projects(
    world, django_assert_max_num_queries
):
    client = _client(world, "pi")
    _grow(world, 1)
    few = _overview_queries(client)
    _grow(world, 8)  # still one page of projects (50), more of every other table's rows
    with django_assert_max_num_queries(few):
        assert client.get("/pi/").status_code == 200


def test_pi_overview_queries_do_not_grow_over_several_pages_of_projects(
    world, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(paging, "PER_PAGE", 3)
    client = _client(world, "pi")
    _grow(world, 4)  # more projects than a page: their ids are read on their own
    few = _overview_queries(client)
    _grow(world, 10)
    with django_assert_max_num_queries(few):
        assert client.get("/pi/").status_code == 200
    with django_assert_max_num_queries(few):
        assert client.get("/pi/", {"projects_page": 3}).status_code == 200


def test_monthly_charges_are_the_day_sums_folded_into_months(world):
    """The charges per month (summed by month in SQL on PostgreSQL, folded from the day sums
    elsewhere) are the day sums of each month and project."""
    from regnekraft.accounting import aggregates
    from regnekraft.accounting.models import UsageDay, UsageRecord
    from regnekraft.portal import reports

    allocation = world.projects["a"].allocations.first()
    for day in range(0, 70, 3):
        UsageRecord.objects.create(
            source="test",
            cluster="betzy",
            job_id=f"m{day}",
            project=allocation.project,
            resource_class=allocation.resource_class,
            allocation=allocation,
            start=dt.datetime(2030, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day),
            end=dt.datetime(2030, 1, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day),
            usage_date=dt.date(2030, 1, 1) + dt.timedelta(days=day),
            quantity=Decimal("10.1234") + day,
            charge_nok=Decimal("0.4049") + day,
        )
    aggregates.rebuild()
    ids = [world.projects["a"].pk, world.projects["b"].pk]
    expected: dict[tuple, list] = {}
    for d in UsageDay.objects.filter(project_id__in=ids).select_related("project"):
        sums = expected.setdefault((d.usage_date.replace(day=1), d.project.code), [0, 0])
        sums[0] += d.quantity
        sums[1] += d.charge_nok
    got = reports.monthly_charges(ids)
    assert [(r["month"], r["project__code"]) for r in got] == sorted(expected)
    assert {(r["month"], r["project__code"]): [r["q"], r["c"]] for r in got} == expected
    assert len({r["month"] for r in got}) >= 4
