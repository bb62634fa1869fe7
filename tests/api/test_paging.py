"""Every API list is paged and bounded, and a page's query count does not grow with the rows
behind it. Usage records and the audit log page by keyset (a cursor), the others by limit and
offset."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from regnekraft.accounting import importer
from regnekraft.accounting.models import UsageRecord
from regnekraft.allocation.models import Review, SectorOrder, SectorOrderLine
from regnekraft.api import pagination
from tests import factories as f

from .conftest import YEAR

# Bounds are made small for the tests, so "more rows than the largest page" stays cheap.
SMALL_MAX = 3


def _records(project, rc, n: int, first: int = 0, day: int = 1) -> list[dict]:
    """``n`` usage records, spread over a few days so the cursor crosses days and ties."""
    return [
        {
            "cluster": rc.system.slug,
            "kind": rc.kind,
            "job_id": f"p{first + i}",
            "account": project.code,
            "quantity": "1",
            "start": f"{YEAR}-03-{day + i % 3:02d}T10:00:00+01:00",
            "end": f"{YEAR}-03-{day + i % 3:02d}T11:00:00+01:00",
        }
        for i in range(n)
    ]


def _import(world, n: int, first: int = 0, project=None) -> None:
    importer.import_records(_records(project or world.proj_a, world.cpu, n, first), source="paging")


def _list_paths(client) -> list[str]:
    """Every collection path of the API that answers a list (from the schema)."""
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    found = []
    for path, operations in paths.items():
        get = operations.get("get")
        if "{" in path or get is None:
            continue
        body = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        schema = body.get("schema", {})
        if schema.get("type") == "array" or "$ref" in schema and "Paginated" in schema["$ref"]:
            found.append(path)
    return sorted(found)


def _walk(client, url: str, params: dict) -> list[dict]:
    rows, pages = [], 0
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
        pages += 1
        assert pages < 100
        if not body["next"]:
            return rows
        response = client.get(body["next"])


def _usage_order(rows: list[dict]) -> list[int]:
    """Newest first: the order of the pagination's keyset (the records' indexes serve it)."""
    return sorted((row["id"] for row in rows), reverse=True)


# -- usage: keyset pages ---------------------------------------------------------------------


def test_usage_pages_by_cursor_through_every_record_once_in_order(world, as_user):
    _import(world, 40)
    client = as_user(world.operator)
    rows = _walk(client, "/api/usage/", {"limit": 7})
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == UsageRecord.objects.count() == 42
    assert ids == _usage_order(rows)
    first = client.get("/api/usage/", {"limit": 7}).json()
    assert set(first) == {"next", "previous", "results"}
    assert first["previous"] is None and len(first["results"]) == 7


def test_usage_previous_links_lead_back_through_the_same_pages(world, as_user):
    _import(world, 20)
    client = as_user(world.operator)
    pages = [client.get("/api/usage/", {"limit": 6}).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    assert len(pages) == 4 and pages[-1]["next"] is None
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        back = client.get(back["previous"]).json()
        assert [r["id"] for r in back["results"]] == [r["id"] for r in expected["results"]]
    assert back["previous"] is None


def test_usage_cursor_keeps_the_filters(world, as_user):
    _import(world, 10)
    _import(world, 10, first=100, project=world.proj_b)
    client = as_user(world.operator)
    rows = _walk(client, "/api/usage/", {"limit": 3, "project": world.proj_b.pk})
    assert {r["project"] for r in rows} == {world.proj_b.pk} and len(rows) == 11
    rows = _walk(client, "/api/usage/", {"limit": 4, "allocation": world.alloc_a.pk})
    assert {r["allocation"] for r in rows} == {world.alloc_a.pk} and len(rows) == 11
    next_url = client.get("/api/usage/", {"limit": 3, "project": world.proj_b.pk}).json()["next"]
    assert parse_qs(urlsplit(next_url).query)["project"] == [str(world.proj_b.pk)]


def test_usage_visibility_holds_across_pages(world, as_user):
    _import(world, 10)
    _import(world, 10, first=100, project=world.proj_b)
    rows = _walk(as_user(world.pi_b), "/api/usage/", {"limit": 4})
    assert {r["project"] for r in rows} == {world.proj_b.pk} and len(rows) == 11


def test_usage_refuses_an_offset_and_a_forged_cursor(world, as_user):
    client = as_user(world.operator)
    response = client.get("/api/usage/", {"offset": 3_000_000})
    assert response.status_code == 400 and "cursor" in response.json()["offset"][0]
    for cursor in ("x", "!!!", "WyJuIiwxXQ", "WyJuIixbMSwyXV0", "WyJxIixbIjIwMjctMDEtMDEiLDFdXQ"):
        response = client.get("/api/usage/", {"cursor": cursor})
        assert response.status_code == 400, cursor
        assert "cursor" in response.json()


def test_usage_page_size_has_a_default_and_a_maximum(world, as_user, monkeypatch):
    monkeypatch.setattr(pagination.KeysetPagination, "default_limit", 2)
    monkeypatch.setattr(pagination.KeysetPagination, "max_limit", SMALL_MAX)
    _import(world, 10)
    client = as_user(world.operator)
    assert len(client.get("/api/usage/").json()["results"]) == 2
    for limit in (SMALL_MAX + 1, 10**30, "all", -1, 0):
        assert len(client.get("/api/usage/", {"limit": limit}).json()["results"]) <= SMALL_MAX


def test_usage_page_query_count_does_not_grow_with_records(world, as_user):
    client = as_user(world.pi_a)

    def queries() -> int:
        page = client.get("/api/usage/", {"limit": 5}).json()
        with CaptureQueriesContext(connection) as first:
            assert client.get("/api/usage/", {"limit": 5}).status_code == 200
        with CaptureQueriesContext(connection) as deep:
            assert client.get(page["next"]).status_code == 200
        return max(len(first), len(deep))

    _import(world, 12)
    few = queries()
    _import(world, 60, first=1000)
    assert queries() == few


def test_audit_log_pages_by_cursor_through_every_entry_once(world, as_user):
    from regnekraft.audit.models import AuditEntry

    client = as_user(world.operator)
    rows = _walk(client, "/api/audit/", {"limit": 5})
    ids = [r["id"] for r in rows]
    expected = list(AuditEntry.objects.order_by("-at", "-id").values_list("id", flat=True))
    assert ids == expected and len(ids) > 10
    kind = "allocation.Allocation"
    rows = _walk(client, "/api/audit/", {"limit": 1, "object_type": kind})
    assert {r["object_type"] for r in rows} == {kind}
    assert len(rows) == AuditEntry.objects.filter(object_type=kind).count()


# -- every list ------------------------------------------------------------------------------


_days = itertools.count()


def _grow(world, n: int) -> None:
    """``n`` more of each kind of row the lists show, each with its nested rows."""
    for _ in range(n):
        org = f.organisation("public", sector="climate")
        pi = f.person(org, "pi", "reviewer")
        member = f.person(org)
        project = f.project(org, pi=pi)
        project.members.add(member, world.member_a)
        allocation = f.granted(project, world.cpu, 100)
        app = allocation.application
        Review.objects.create(application=app, reviewer=world.reviewer_a)
        order = SectorOrder.objects.create(
            organisation=org, sector="climate", year=YEAR, ordered_by=world.coordinator_climate
        )
        SectorOrderLine.objects.create(order=order, resource_class=world.cpu, amount=Decimal(10))
        f.invoice(org, project, (dt.date(YEAR, 1, 1), dt.date(YEAR, 4, 1)), total=1, lines=2)
        f.price_list("B", valid_from=dt.date(2021, 1, 1) + dt.timedelta(days=next(_days)))
        f.resource_class(f.system())
        _import(world, 2, first=10_000 + 10 * next(_days), project=project)


def test_the_schema_lists_the_lists(world, as_user):
    paths = _list_paths(as_user(world.operator))
    assert {"/api/usage/", "/api/audit/", "/api/balances/", "/api/projects/"} <= set(paths)
    assert len(paths) >= 20


# Reports answered whole: one row per resource class of the catalogue (tens), or per user group
# and organisation (60 nationally); none grows with projects, people or history.
WHOLE_REPORTS = {
    "/api/reports/capacity/",
    "/api/reports/economic-share/",
    "/api/reports/research-share/",
}


def test_every_list_is_paged_and_bounded(world, as_user, monkeypatch):
    monkeypatch.setattr(pagination.BoundedLimitOffsetPagination, "max_limit", SMALL_MAX)
    monkeypatch.setattr(pagination.KeysetPagination, "max_limit", SMALL_MAX)
    _grow(world, SMALL_MAX + 1)
    client = as_user(world.operator)
    unbounded = []
    for path in _list_paths(client):
        if path in WHOLE_REPORTS:
            continue
        response = client.get(path, {"limit": 1000})
        assert response.status_code == 200, (path, response.content[:300])
        body = response.json()
        if not isinstance(body, dict) or "results" not in body or "next" not in body:
            unbounded.append((path, "not paged"))
            continue
        if len(body["results"]) > SMALL_MAX:
            unbounded.append((path, len(body["results"])))
        elif len(body["results"]) == SMALL_MAX and not body["next"]:
            unbounded.append((path, "full page without a next link"))
    assert unbounded == []


@pytest.mark.parametrize("role", ["operator", "pi_a", "coordinator_climate"])
def test_no_list_query_count_grows_with_rows(world, as_user, role):
    client = as_user(world.by_role(role))
    # The whole reports cost a few queries per resource class of the catalogue (their figures
    # are accounting.reports'); every other list is checked.
    paths = [p for p in _list_paths(client) if p not in WHOLE_REPORTS]

    def counts() -> dict[str, int]:
        out = {}
        for path in paths:
            client.get(path, {"limit": 50})  # warm caches (roles, price book)
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(path, {"limit": 50}).status_code in (200, 403), path
            out[path] = len(ctx)
        return out

    _grow(world, 1)
    few = counts()
    _grow(world, 4)
    many = counts()
    grown = {p: (few[p], many[p]) for p in paths if many[p] > few[p]}
    assert grown == {}
