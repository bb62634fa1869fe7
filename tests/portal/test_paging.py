"""No portal page shows an unbounded list: each table is paged (previous/next links in a labelled
navigation, in bokmål and English), and a page's query count does not grow with the rows
behind it."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from regnekraft.allocation import changes
from regnekraft.allocation.models import Review, SectorOrder, SectorOrderLine
from regnekraft.parties.actors import SYSTEM
from regnekraft.portal.views import paging
from tests import factories as f

SMALL_PAGE = 3
_seq = itertools.count(1)


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(paging, "PER_PAGE", SMALL_PAGE)


def _grow(world, n: int) -> None:
    """``n`` more of every kind of row the portal's tables list, visible to the world's people."""
    people = world.people
    uio = people["pi"].organisation
    for _ in range(n):
        i = next(_seq)
        member = f.person(uio, username=f"grow{i}")
        project = f.project(uio, pi=people["pi"], code=f"gr{i:04d}k")
        project.members.add(member)
        world.projects["a"].members.add(member)
        allocation = f.granted(project, world.cpu, 100)
        f.granted(world.projects["a"], world.cpu, 10)
        Review.objects.create(application=allocation.application, reviewer=people["reviewer"])
        changes.request_change(
            SYSTEM, allocation, kind="increase", amount=Decimal(10), new_end=None, reason="more"
        )
        for org, sector, by in (
            (f.organisation("public", sector="health"), "health", people["coordinator"]),
        ):
            order = SectorOrder.objects.create(
                organisation=org, sector=sector, year=2030 + i, ordered_by=by
            )
            SectorOrderLine.objects.create(order=order, resource_class=world.cpu, amount=10)
            health = f.project(org, pi=f.person(org, "pi"), code=f"gh{i:04d}k")
            f.granted(health, world.cpu, 10)
        for organisation in (uio, people["industry"].organisation):
            period = (dt.date(1900 + i, 1, 1), dt.date(1900 + i, 4, 1))
            f.invoice(organisation, project, period, total=2, lines=2)
        world.invoice_a.lines.create(
            project=world.projects["a"],
            description="CPU",
            quantity=Decimal(1),
            unit="core-hours",
            unit_price_nok=Decimal(1),
            amount_nok=Decimal(1),
        )
        f.price_list("B", valid_from=dt.date(2021, 1, 1) + dt.timedelta(days=i))
        f.system()
        purchase(world, i)


def purchase(world, i: int) -> None:
    """A purchase for the industry customer's project (an allocation of its own source)."""
    from regnekraft.allocation import services

    services.purchase(
        world.projects["acme"],
        world.cpu,
        Decimal(1),
        dt.date(2027, 1, 1) + dt.timedelta(days=i),
        dt.date(2027, 7, 1),
    )


def _pages(world) -> list[tuple[str, str, list[str]]]:
    """(role, page, its paged tables) for every portal page with a list."""
    round_call = world.review_app.call
    return [
        ("pi", "/pi/", ["projects", "allocations", "applications", "invoices"]),
        ("pi", f"/pi/projects/{world.projects['a'].code}/", ["members", "allocations"]),
        ("reviewer", "/reviews/", ["reviews"]),
        ("coordinator", "/sector/", ["orders", "sector_use"]),
        ("industry", "/industry/", ["purchases", "invoices"]),
        ("operator", "/operator/calls/", ["calls"]),
        ("operator", f"/operator/calls/{round_call.pk}/", []),
        ("operator", "/operator/changes/", ["change_requests"]),
        ("operator", "/operator/audit/", ["audit"]),
        ("operator", "/operator/catalogue/", ["systems"]),
        ("finance", "/finance/", ["prices", "invoices"]),
        ("finance", f"/finance/invoices/{world.invoice_a.pk}/", ["invoice_lines"]),
    ]


def _client(world, role: str) -> Client:
    client = Client()
    client.force_login(world.people[role].user)
    return client


def _rows(html: str, table_id: str) -> int:
    match = re.search(rf'<table id="table-{table_id}">(.*?)</table>', html, re.S)
    assert match, f"no table {table_id}"
    body = match.group(1).split("<tbody>")[1]
    return body.count("<tr>")


def _next_link(html: str, table_id: str) -> str | None:
    match = re.search(rf'href="(\?[^"]*{table_id}_page=\d+[^"]*)" rel="next"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_every_portal_list_is_paged(world, small_pages):
    _grow(world, SMALL_PAGE + 1)
    for role, url, tables in _pages(world):
        client = _client(world, role)
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        for table_id in tables:
            assert _rows(html, table_id) == SMALL_PAGE, (url, table_id)
            link = _next_link(html, table_id)
            assert link, (url, table_id, "no next page")
            second = client.get(url + link).content.decode()
            assert 1 <= _rows(second, table_id) <= SMALL_PAGE, (url, table_id)
            assert 'rel="prev"' in second


def test_the_round_pages_its_applications(world, small_pages):
    call = world.review_app.call
    for _ in range(SMALL_PAGE + 1):
        f.application(call, f.project(world.people["pi"].organisation), {world.cpu: 10})
    html = _client(world, "operator").get(f"/operator/calls/{call.pk}/").content.decode()
    section = html.split('id="apps-h"')[1].split("</section>")[0]
    assert section.count("<li><strong>") == SMALL_PAGE
    assert "round_applications_page=2" in section and 'rel="next"' in section


def test_pager_is_labelled_and_translated(world, small_pages):
    _grow(world, SMALL_PAGE + 1)
    client = _client(world, "operator")
    bokmal = client.get("/operator/audit/").content.decode()
    english = client.get("/en/operator/audit/").content.decode()
    for html in (bokmal, english):
        assert re.search(r'<nav class="pager" aria-label="[^"]+">', html)
        assert '<span aria-current="page">' in html
    assert "Next page" in english and "Page 1" in english
    assert "Next page" not in bokmal and "Neste side" in bokmal and "Side 1" in bokmal


def test_a_mangled_page_number_is_the_first_page(world, small_pages):
    _grow(world, SMALL_PAGE + 1)
    client = _client(world, "operator")
    for value in ("x", "0", "-3", "1e9", "99999999999999999999"):
        response = client.get("/operator/audit/", {"audit_page": value})
        assert response.status_code == 200
        assert _rows(response.content.decode(), "audit") == SMALL_PAGE


def test_csv_download_is_of_the_page_shown(world, small_pages):
    _grow(world, SMALL_PAGE + 1)
    client = _client(world, "operator")
    response = client.get("/operator/audit/", {"audit_page": 2, "export": "audit"})
    assert response["Content-Type"].startswith("text/csv")
    assert len(response.content.decode().strip().splitlines()) == 1 + SMALL_PAGE


@pytest.mark.parametrize(
    "role", ["pi", "reviewer", "coordinator", "industry", "operator", "finance"]
)
def test_no_page_query_count_grows_with_rows(world, role):
    urls = [url for who, url, _ in _pages(world) if who == role]
    client = _client(world, role)

    def counts() -> dict[str, int]:
        out = {}
        for url in urls:
            client.get(url)  # warm per-process caches (price book, roles)
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200, url
            out[url] = len(ctx)
        return out

    _grow(world, 1)
    few = counts()
    _grow(world, 4)
    many = counts()
    assert {u: (few[u], many[u]) for u in urls if many[u] > few[u]} == {}
