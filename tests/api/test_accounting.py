"""Invoices issued and previewed by finance, and the platform reports, through the API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regnekraft.accounting.models import Invoice

from .conftest import YEAR

pytestmark = pytest.mark.django_db

H1 = {"period_start": f"{YEAR}-01-01", "period_end": f"{YEAR}-07-01"}


def test_finance_issues_an_invoice_whose_total_is_the_sum_of_its_lines(world, as_user):
    world.invoice_uio.delete()  # the fixture's hand-made invoice would overlap the period
    response = as_user(world.finance).post(
        "/api/invoices/issue/", {**H1, "organisation": world.uio.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    [invoice] = response.json()
    assert invoice["organisation"] == world.uio.pk
    assert invoice["lines"]
    assert Decimal(invoice["total_nok"]) == sum(
        Decimal(line["amount_nok"]) for line in invoice["lines"]
    )
    again = as_user(world.finance).post(
        "/api/invoices/issue/", {**H1, "organisation": world.uio.pk}, format="json"
    )
    assert [row["id"] for row in again.json()] == [invoice["id"]]  # idempotent
    assert Invoice.objects.filter(organisation=world.uio).count() == 1


def test_an_overlapping_period_is_refused(world, as_user):
    response = as_user(world.finance).post(
        "/api/invoices/issue/", {**H1, "organisation": world.uio.pk}, format="json"
    )
    assert response.status_code == 400
    assert "overlaps" in str(response.json())


@pytest.mark.parametrize("role", ["pi_a", "coordinator_climate", "industry", "decision_maker"])
def test_only_finance_and_operators_issue_or_preview(world, as_user, role):
    client = as_user(world.by_role(role))
    assert client.post("/api/invoices/issue/", H1, format="json").status_code == 403
    assert client.get("/api/invoices/preview/", {"organisation": world.uio.pk}).status_code == 403


def test_preview_writes_nothing(world, as_user):
    before = Invoice.objects.count()
    response = as_user(world.finance).get(
        "/api/invoices/preview/",
        {"organisation": world.uio.pk, "start": H1["period_start"], "end": H1["period_end"]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert Decimal(body["total_nok"]) == sum(Decimal(line["amount_nok"]) for line in body["lines"])
    assert Invoice.objects.count() == before


@pytest.mark.parametrize(
    "report, params",
    [
        ("capacity", {"start": H1["period_start"], "end": H1["period_end"]}),
        ("groups", {"start": H1["period_start"], "end": H1["period_end"]}),
        ("economic-share", {"year": YEAR}),
        ("research-share", {"year": YEAR}),
        ("unallocated", {}),
    ],
)
def test_reports_for_decision_makers_not_for_pis(world, as_user, report, params):
    assert as_user(world.decision_maker).get(f"/api/reports/{report}/", params).status_code == 200
    refused = as_user(world.pi_a).get(f"/api/reports/{report}/", params)
    assert refused.status_code == 403
    assert "decision_maker" in refused.json()["detail"]


def test_capacity_report_figures(world, as_user):
    rows = (
        as_user(world.operator)
        .get(
            "/api/reports/capacity/",
            {"start": H1["period_start"], "end": H1["period_end"], "system": "betzy"},
        )
        .json()
    )
    [row] = rows
    assert Decimal(row["capacity"]) == 1000 * 24 * 181
    assert Decimal(row["used"]) == 3000  # the two imported records
    assert Decimal(row["allocated"]) == 110_000


def test_a_bad_year_is_400_naming_it(world, as_user):
    response = as_user(world.operator).get("/api/reports/economic-share/", {"year": "abc"})
    assert response.status_code == 400
    assert "year" in response.json()
