"""The invoice and project lists write a page in a few queries, whatever its rows: the invoices'
lines and the projects' member ids are read for the whole page at once (serializers
``InvoiceListSerializer`` and ``attach_member_ids``), and they write exactly what the detail
endpoints (the plain serializers) write."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from regnekraft.accounting.models import Invoice, InvoiceLine
from tests import factories as f

from .conftest import YEAR

_seq = itertools.count(1)


def _invoices(world, n: int) -> None:
    """``n`` invoices of UiO (pi_a sees only proj_a's lines) and of MET (the climate
    coordinator's sector), with lines of several projects, none, and odd decimals."""
    for _ in range(n):
        i = next(_seq)
        for org, own in ((world.uio, world.proj_a), (world.met, world.proj_met)):
            inv = Invoice.objects.create(
                organisation=org,
                period_start=dt.date(YEAR + i, 1, 1),
                period_end=dt.date(YEAR + i, 4, 1),
                total_nok=Decimal("1234.56"),
            )
            for project, quantity, price, amount, allocation in (
                (own, "12.3456", "0.0150", "0.19", world.alloc_a),
                (world.proj_b, "1000000.0001", "1.2500", "1250000.00", None),
                (None, "1", "99.9999", "100.00", None),
                (own, "0.0001", "1234.5678", "0.12", None),
            ):
                InvoiceLine.objects.create(
                    invoice=inv,
                    kind=InvoiceLine.Kind.USAGE,
                    project=project,
                    allocation=allocation,
                    resource_class=world.cpu if allocation else None,
                    description=f"CPU <{i}> & more",
                    quantity=Decimal(quantity),
                    unit="core-hours",
                    unit_price_nok=Decimal(price),
                    amount_nok=Decimal(amount),
                )


def _projects(world, n: int, members: int = 3) -> None:
    for _ in range(n):
        i = next(_seq)
        project = f.project(world.uio, pi=world.pi_a, code=f"lc{i:04d}k")
        for j in range(members):
            project.members.add(f.person(world.uio, "member", username=f"lc{i}m{j}"))
        project.members.add(world.member_a)


def _results(client, path: str) -> list[dict]:
    response = client.get(path, {"limit": 1000})
    assert response.status_code == 200, response.content[:300]
    return response.json()["results"]


@pytest.mark.parametrize("role", ["operator", "finance", "pi_a", "coordinator_climate", "industry"])
def test_invoice_list_writes_what_the_detail_writes(world, as_user, role):
    _invoices(world, 3)
    client = as_user(world.by_role(role))
    listed = _results(client, "/api/invoices/")
    assert listed
    for invoice in listed:
        detail = client.get(f"/api/invoices/{invoice['id']}/")
        assert detail.status_code == 200
        assert invoice == detail.json()
    if role == "pi_a":  # sees only proj_a's lines on UiO's invoices, and their total
        partial = [inv for inv in listed if not inv["whole"]]
        assert partial
        assert all(line["project"] == world.proj_a.pk for i in partial for line in i["lines"])
        assert {inv["total_nok"] for inv in partial if len(inv["lines"]) == 2} == {"0.31"}


@pytest.mark.parametrize("role", ["operator", "pi_a", "member_a"])
def test_project_list_writes_what_the_detail_writes(world, as_user, role):
    _projects(world, 3)
    client = as_user(world.by_role(role))
    listed = _results(client, "/api/projects/")
    assert any(len(p["members"]) > 1 for p in listed)
    for project in listed:
        detail = client.get(f"/api/projects/{project['id']}/")
        assert detail.status_code == 200
        assert project == detail.json()


def _count(client, path: str) -> int:
    client.get(path)  # warm the per-process caches (roles, price book)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx)


@pytest.mark.parametrize("role", ["operator", "pi_a", "coordinator_climate"])
def test_invoice_list_queries_do_not_grow_with_invoices_or_lines(
    world, as_user, role, django_assert_max_num_queries
):
    client = as_user(world.by_role(role))
    _invoices(world, 1)
    few = _count(client, "/api/invoices/")
    _invoices(world, 30)  # 60 more invoices, 240 more lines
    with django_assert_max_num_queries(few):
        body = client.get("/api/invoices/").json()
    assert len(body["results"]) >= 30


@pytest.mark.parametrize("role", ["operator", "pi_a"])
def test_project_list_queries_do_not_grow_with_projects_or_members(
    world, as_user, role, django_assert_max_num_queries
):
    client = as_user(world.by_role(role))
    _projects(world, 1, members=1)
    few = _count(client, "/api/projects/")
    _projects(world, 20, members=6)  # 20 more projects, 140 more memberships
    with django_assert_max_num_queries(few):
        body = client.get("/api/projects/").json()
    assert len(body["results"]) >= 20
