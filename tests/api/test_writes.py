"""Writes through the API go through the services and the policy rules, with the same answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from regnekraft.allocation import policy
from regnekraft.allocation.models import (
    Allocation,
    ApplicationStatus,
    ChangeRequest,
    ChangeStatus,
    PolicySettings,
    Review,
    SectorOrder,
)
from regnekraft.audit.models import AuditEntry
from regnekraft.catalog.models import PriceList
from regnekraft.parties.models import Sensitivity
from tests import factories as f

from .conftest import YEAR, usage_record

pytestmark = pytest.mark.django_db

H1 = (dt.date(YEAR, 1, 1), dt.date(YEAR, 7, 1))


def rules(response) -> list[str]:
    return sorted(v["rule"] for v in response.json()["violations"])


# --- authentication -------------------------------------------------------------------------


def test_token_from_user_name_and_password(world):
    client = APIClient()
    response = client.post(
        "/api/token/", {"username": "pi_a", "password": "pw-test-123"}, format="json"
    )
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/me/").json()["username"] == "pi_a"


def test_token_refused_for_a_wrong_password(world):
    response = APIClient().post(
        "/api/token/", {"username": "pi_a", "password": "nope"}, format="json"
    )
    assert response.status_code == 400


def test_session_sign_in_works_and_writes_need_csrf(world):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="operator", password="pw-test-123")
    assert client.get("/api/projects/").status_code == 200
    response = client.post("/api/calls/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- catalogue ------------------------------------------------------------------------------


def test_only_operators_change_the_catalogue(world, as_user):
    body = {
        "name": "Olivia",
        "slug": "olivia",
        "kind": "national",
        "operator": "Sigma2",
        "country": "NO",
        "commissioned": "2025-06-01",
    }
    refused = as_user(world.pi_a).post("/api/systems/", body, format="json")
    assert refused.status_code == 403
    assert "operator" in refused.json()["detail"]
    created = as_user(world.operator).post("/api/systems/", body, format="json")
    assert created.status_code == 201, created.content
    entry = AuditEntry.objects.get(
        object_type="catalog.System", object_id=str(created.json()["id"])
    )
    assert entry.actor_label == "operator"  # token users are named in the audit log


def test_a_system_with_a_lowercase_country_is_refused_naming_the_field(world, as_user):
    body = {
        "name": "X",
        "slug": "x",
        "kind": "cloud",
        "operator": "Y",
        "country": "no",
        "commissioned": "2025-01-01",
    }
    response = as_user(world.operator).post("/api/systems/", body, format="json")
    assert response.status_code == 400
    assert "country" in response.json()


def test_capacity_of_a_class_in_a_period(world, as_user):
    response = as_user(world.pi_a).get(
        f"/api/resource-classes/{world.cpu.pk}/capacity/", {"start": H1[0], "end": H1[1]}
    )
    assert response.status_code == 200
    body = response.json()
    assert Decimal(body["capacity"]) == 1000 * 24 * 181
    assert Decimal(body["committed"]) > 110_000  # the two grants and the health order's share


def test_price_list_with_prices_and_bad_multipliers(world, as_user):
    client = as_user(world.operator)
    body = {
        "category": "B",
        "name": "Dedicated",
        "valid_from": "2027-06-01",
        "tier_multipliers": {"1": "1", "2": "1.3"},
        "prices": [{"kind": "cpu", "unit_price": "0.09"}],
    }
    created = client.post("/api/price-lists/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["prices"][0]["unit_price"] == "0.0900"
    bad = client.post(
        "/api/price-lists/",
        {**body, "valid_from": "2027-07-01", "tier_multipliers": {"9": "1"}},
        format="json",
    )
    assert bad.status_code == 400
    assert "tier_multipliers" in bad.json()


def test_a_price_list_never_reprices_rated_or_invoiced_use(world, as_user):
    from regnekraft.accounting.rating import earliest_new_list_day

    earliest = earliest_new_list_day()
    assert earliest is not None
    body = {
        "category": "A",
        "name": "Retroactive",
        "valid_from": str(earliest - dt.timedelta(days=1)),
        "prices": [{"kind": "cpu", "unit_price": "0.05"}],
    }
    refused = as_user(world.operator).post("/api/price-lists/", body, format="json")
    assert refused.status_code == 400 and "already rated or invoiced" in str(
        refused.json()["valid_from"]
    )
    old = PriceList.objects.filter(valid_from__lt=earliest).first()
    changed = as_user(world.operator).patch(
        f"/api/price-lists/{old.pk}/", {"name": "Renamed"}, format="json"
    )
    assert changed.status_code == 400 and "cannot change" in str(changed.json()["valid_from"])
    deleted = as_user(world.finance).delete(f"/api/price-lists/{old.pk}/")
    assert deleted.status_code == 400 and PriceList.objects.filter(pk=old.pk).exists()
    # finance sets prices too; a PI does not
    on_time = {**body, "valid_from": str(earliest), "name": "From the next day"}
    assert as_user(world.pi_a).post("/api/price-lists/", on_time, format="json").status_code == 403
    assert (
        as_user(world.finance).post("/api/price-lists/", on_time, format="json").status_code == 201
    )


# --- projects -------------------------------------------------------------------------------


def test_a_pi_creates_a_project_of_their_own(world, as_user):
    response = as_user(world.pi_a).post(
        "/api/projects/", {"code": "nn9999k", "title": "New"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["pi"] == world.pi_a.pk
    assert response.json()["organisation"] == world.uio.pk


def test_a_pi_cannot_create_a_project_for_someone_else(world, as_user):
    response = as_user(world.pi_a).post(
        "/api/projects/", {"code": "nn9998k", "title": "New", "pi": world.pi_b.pk}, format="json"
    )
    assert response.status_code == 403


def test_the_pi_manages_members_others_may_not(world, as_user):
    added = as_user(world.pi_a).post(
        f"/api/projects/{world.proj_a.pk}/members/", {"username": "pi_b"}, format="json"
    )
    assert added.status_code == 201
    assert world.pi_b.pk in added.json()["members"]
    assert (
        as_user(world.member_a)
        .post(
            f"/api/projects/{world.proj_a.pk}/members/",
            {"person": world.reviewer_a.pk},
            format="json",
        )
        .status_code
        == 403
    )
    removed = as_user(world.pi_a).delete(
        f"/api/projects/{world.proj_a.pk}/members/{world.pi_b.pk}/"
    )
    assert removed.status_code == 204
    assert not world.proj_a.members.filter(pk=world.pi_b.pk).exists()


def test_a_pi_may_not_change_the_purpose(world, as_user):
    response = as_user(world.pi_a).patch(
        f"/api/projects/{world.proj_a.pk}/", {"purpose": "commercial"}, format="json"
    )
    assert response.status_code == 403
    assert "purpose" in response.json()["detail"]


# --- applications and reviews ---------------------------------------------------------------


def _application(world, project, call=None) -> dict:
    return {
        "call": (call or world.open_call).pk,
        "project": project.pk,
        "justification": "Climate runs",
        "requests": [{"resource_class": world.cpu.pk, "amount": "250000"}],
    }


def test_a_pi_applies_with_request_lines(world, as_user):
    response = as_user(world.pi_a).post(
        "/api/applications/", _application(world, world.proj_a), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == ApplicationStatus.SUBMITTED
    assert body["requests"] == [{"resource_class": world.cpu.pk, "amount": "250000.00"}]


@pytest.mark.parametrize(
    "who, project, field_or_status",
    [
        ("pi_a", "proj_b", "project"),  # not their project: they cannot even see it
        ("member_a", "proj_a", 403),  # a member is not the PI
        ("reviewer_a", "proj_a", "project"),
    ],
)
def test_only_the_projects_pi_applies(world, as_user, who, project, field_or_status):
    response = as_user(world.by_role(who)).post(
        "/api/applications/", _application(world, getattr(world, project)), format="json"
    )
    if isinstance(field_or_status, int):
        assert response.status_code == field_or_status
    else:
        assert response.status_code == 400
        assert field_or_status in response.json()


def test_no_application_to_a_closed_call_or_with_repeated_lines(world, as_user):
    client = as_user(world.pi_a)
    second = f.project(world.uio, pi=world.pi_a, code="nn0003k")
    closed = client.post(
        "/api/applications/", _application(world, second, world.review_call), format="json"
    )
    assert closed.status_code == 400
    assert "not open" in str(closed.json()["call"])
    body = _application(world, world.proj_a)
    body["requests"] *= 2
    repeated = client.post("/api/applications/", body, format="json")
    assert repeated.status_code == 400
    assert "requests" in repeated.json()


def test_a_reviewer_scores_only_their_own_review(world, as_user):
    client = as_user(world.reviewer_a)
    scores = {"excellence": 6, "impact": 5, "feasibility": 7}
    done = client.patch(
        f"/api/reviews/{world.review_a.pk}/",
        {"scores": scores, "submitted": True, "comment": "Strong"},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert (
        as_user(world.operator).get(f"/api/applications/{world.app_a.pk}/").json()["score"]
        == "6.000"
    )
    assert (
        client.patch(
            f"/api/reviews/{world.review_b.pk}/", {"comment": "x"}, format="json"
        ).status_code
        == 404
    )
    assert (
        as_user(world.pi_a)
        .patch(f"/api/reviews/{world.review_a.pk}/", {"comment": "x"}, format="json")
        .status_code
        == 404
    )


def test_scores_out_of_range_are_refused_and_a_conflict_clears_them(world, as_user):
    client = as_user(world.reviewer_a)
    bad = client.patch(
        f"/api/reviews/{world.review_a.pk}/", {"scores": {"excellence": 9}}, format="json"
    )
    assert bad.status_code == 400
    assert "scores" in bad.json()
    conflict = client.patch(
        f"/api/reviews/{world.review_a.pk}/",
        {"conflict_of_interest": True, "scores": {"excellence": 7}, "submitted": True},
        format="json",
    )
    assert conflict.status_code == 200
    assert Review.objects.get(pk=world.review_a.pk).scores == {}
    world.app_a.refresh_from_db()
    assert world.app_a.score() is None


def test_operators_assign_reviewers_but_not_the_applicant(world, as_user):
    client = as_user(world.operator)
    assigned = client.post(
        "/api/reviews/",
        {"application": world.app_a.pk, "reviewer": world.reviewer_b.pk},
        format="json",
    )
    assert assigned.status_code == 201
    world.pi_b.roles.create(kind="reviewer")
    own = client.post(
        "/api/reviews/", {"application": world.app_b.pk, "reviewer": world.pi_b.pk}, format="json"
    )
    assert own.status_code == 400
    assert "reviewer" in own.json()


# --- decisions through the rules ------------------------------------------------------------


def test_operator_decides_an_application(world, as_user):
    response = as_user(world.operator).post(
        f"/api/applications/{world.app_a.pk}/decide/",
        {"grants": [{"resource_class": world.cpu.pk, "amount": "80000"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == ApplicationStatus.DECIDED
    [allocation] = body["allocations"]
    assert Decimal(allocation["amount"]) == 80_000
    assert allocation["decided_by"] == world.operator.user.pk


def test_a_pi_cannot_decide(world, as_user):
    response = as_user(world.pi_a).post(
        f"/api/applications/{world.app_a.pk}/decide/",
        {"grants": [{"resource_class": world.cpu.pk, "amount": "80000"}]},
        format="json",
    )
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]


def test_a_rule_breaking_decision_is_409_naming_the_rule_like_the_services(world, as_user):
    too_much = Decimal(5_000_000)  # more than the half-year's 4 344 000 core-hours
    before = Allocation.objects.count()
    response = as_user(world.operator).post(
        f"/api/applications/{world.app_a.pk}/decide/",
        {"grants": [{"resource_class": world.cpu.pk, "amount": str(too_much)}]},
        format="json",
    )
    assert response.status_code == 409
    assert rules(response) == ["capacity"]
    assert "committed" in response.json()["violations"][0]["message"]
    same = policy.check([policy.Proposal.grant(world.proj_a, world.cpu, too_much, *H1)])
    assert [v.message for v in same] == [v["message"] for v in response.json()["violations"]]
    assert Allocation.objects.count() == before
    world.app_a.refresh_from_db()
    assert world.app_a.status == ApplicationStatus.SUBMITTED


def test_a_round_is_decided_together_or_not_at_all(world, as_user):
    client = as_user(world.operator)
    url = f"/api/calls/{world.review_call.pk}/decide/"
    grants = [
        {"application": world.app_a.pk, "resource_class": world.cpu.pk, "amount": "100000"},
        {"application": world.app_b.pk, "resource_class": world.cpu.pk, "amount": "9000000"},
    ]
    refused = client.post(url, {"grants": grants}, format="json")
    assert refused.status_code == 409
    assert "capacity" in rules(refused)
    assert not Allocation.objects.filter(application__in=[world.app_a, world.app_b]).exists()
    grants[1]["amount"] = "150000"
    decided = client.post(url, {"grants": grants}, format="json")
    assert decided.status_code == 200, decided.content
    amounts = {row["application"]: row["allocations"][0]["amount"] for row in decided.json()}
    assert amounts == {world.app_a.pk: "100000.00", world.app_b.pk: "150000.00"}


def test_grants_for_a_class_not_asked_for_are_400(world, as_user):
    response = as_user(world.operator).post(
        f"/api/applications/{world.app_a.pk}/decide/",
        {"grants": [{"resource_class": world.graded_cpu.pk, "amount": "10"}]},
        format="json",
    )
    assert response.status_code == 400


def test_dry_run_lists_violations_and_writes_nothing(world, as_user):
    sensitive = f.project(
        world.uio, pi=world.pi_a, sensitivity=Sensitivity.SHIELDED, code="nn7777k"
    )
    before = Allocation.objects.count()
    response = as_user(world.pi_a).post(
        "/api/policy/check/",
        {
            "project": sensitive.pk,
            "resource_class": world.cpu.pk,
            "amount": "1000",
            "start": str(H1[0]),
            "end": str(H1[1]),
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["allowed"] is False
    assert rules(response) == ["placement"]
    assert Allocation.objects.count() == before
    fine = as_user(world.pi_a).post(
        "/api/policy/check/",
        {
            "project": world.proj_a.pk,
            "resource_class": world.cpu.pk,
            "amount": "1000",
            "start": str(H1[0]),
            "end": str(H1[1]),
        },
        format="json",
    )
    assert fine.json() == {"allowed": True, "violations": []}


def test_dry_run_only_for_visible_projects(world, as_user):
    response = as_user(world.pi_a).post(
        "/api/policy/check/",
        {
            "project": world.proj_b.pk,
            "resource_class": world.cpu.pk,
            "amount": "1",
            "start": str(H1[0]),
            "end": str(H1[1]),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "project" in response.json()


# --- sector orders, sub-allocations, purchases ----------------------------------------------


def _order(world, org, year=YEAR + 1, amount="10000") -> dict:
    return {
        "organisation": org.pk,
        "year": year,
        "commitment_share": "0.800",
        "lines": [{"resource_class": world.cpu.pk, "amount": amount}],
    }


def test_a_coordinator_orders_for_their_sector_and_sees_the_price(world, as_user):
    response = as_user(world.coordinator_climate).post(
        "/api/sector-orders/", _order(world, world.met), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sector"] == "climate" and body["status"] == "draft"
    assert body["ordered_by"] == world.coordinator_climate.pk
    estimate = body["price_estimate"]
    assert estimate["category"] == "A"
    assert Decimal(estimate["total_nok"]) == Decimal("400.00")  # 10 000 core-hours x 0.04 NOK
    assert Decimal(estimate["committed_nok"]) == Decimal("320.00")  # x the 80 % take-or-pay share


def test_a_coordinator_cannot_order_for_another_sector(world, as_user):
    response = as_user(world.coordinator_climate).post(
        "/api/sector-orders/", _order(world, world.fhi), format="json"
    )
    assert response.status_code == 403
    assert "health" in response.json()["detail"]
    assert (
        as_user(world.pi_a)
        .post("/api/sector-orders/", _order(world, world.uio), format="json")
        .status_code
        == 400
    )  # UiO has no sector


def test_confirm_then_sub_allocate_within_the_order(world, as_user):
    client = as_user(world.coordinator_climate)
    confirmed = client.post(f"/api/sector-orders/{world.order_met.pk}/confirm/")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "confirmed"
    line = world.order_met.lines.get()
    ok = client.post(
        "/api/sub-allocations/",
        {"order_line": line.pk, "project": world.proj_met.pk, "amount": "60000"},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["source"] == "sector_order"
    over = client.post(
        "/api/sub-allocations/",
        {"order_line": line.pk, "project": world.proj_met.pk, "amount": "50000"},
        format="json",
    )
    assert over.status_code == 409
    assert rules(over) == ["order_bounds"]
    elsewhere = client.post(
        "/api/sub-allocations/",
        {"order_line": line.pk, "project": world.proj_fhi.pk, "amount": "10"},
        format="json",
    )
    assert elsewhere.status_code == 400
    assert "project" in elsewhere.json()


def test_another_sectors_coordinator_cannot_confirm(world, as_user):
    response = as_user(world.coordinator_health).post(
        f"/api/sector-orders/{world.order_met.pk}/confirm/"
    )
    assert response.status_code == 404
    assert SectorOrder.objects.get(pk=world.order_met.pk).status == "draft"


def test_industry_buys_within_the_economic_cap(world, as_user):
    client = as_user(world.industry)
    year = {"start": f"{YEAR}-01-01", "end": f"{YEAR + 1}-01-01"}
    bought = client.post(
        "/api/purchases/",
        {"project": world.proj_sme.pk, "resource_class": world.cpu.pk, "amount": "100000", **year},
        format="json",
    )
    assert bought.status_code == 201, bought.content
    assert bought.json()["price_category"] == "C"
    # 5 % of 8 760 000 core-hours is 438 000; 100 000 are taken
    over = client.post(
        "/api/purchases/",
        {"project": world.proj_sme.pk, "resource_class": world.cpu.pk, "amount": "400000", **year},
        format="json",
    )
    assert over.status_code == 409
    assert rules(over) == ["economic_cap"]
    assert (
        as_user(world.pi_a)
        .post(
            "/api/purchases/",
            {"project": world.proj_a.pk, "resource_class": world.cpu.pk, "amount": "1", **year},
            format="json",
        )
        .status_code
        == 403
    )


# --- change requests ------------------------------------------------------------------------


def test_pi_asks_operator_approves_through_the_rules(world, as_user):
    asked = as_user(world.pi_a).post(
        "/api/change-requests/",
        {
            "allocation": world.alloc_a.pk,
            "kind": "increase",
            "amount": "1000",
            "reason": "More runs",
        },
        format="json",
    )
    assert asked.status_code == 201, asked.content
    decided = as_user(world.operator).post(
        f"/api/change-requests/{asked.json()['id']}/decide/", {"approve": True}, format="json"
    )
    assert decided.status_code == 200
    assert decided.json()["status"] == ChangeStatus.APPROVED
    world.alloc_a.refresh_from_db()
    assert world.alloc_a.amount == 51_000

    huge = as_user(world.pi_a).post(
        "/api/change-requests/",
        {
            "allocation": world.alloc_a.pk,
            "kind": "increase",
            "amount": "9000000",
            "reason": "All of it",
        },
        format="json",
    )
    refused = as_user(world.operator).post(
        f"/api/change-requests/{huge.json()['id']}/decide/", {"approve": True}, format="json"
    )
    assert refused.status_code == 409
    assert rules(refused) == ["capacity"]
    assert ChangeRequest.objects.get(pk=huge.json()["id"]).status == ChangeStatus.PENDING


def test_change_requests_need_the_pi_and_the_right_fields(world, as_user):
    assert (
        as_user(world.pi_b)
        .post(
            "/api/change-requests/",
            {"allocation": world.alloc_a.pk, "kind": "increase", "amount": "1", "reason": "x"},
            format="json",
        )
        .status_code
        == 400
    )
    missing = as_user(world.pi_a).post(
        "/api/change-requests/",
        {"allocation": world.alloc_a.pk, "kind": "extend", "reason": "x"},
        format="json",
    )
    assert missing.status_code == 400
    assert "new_end" in missing.json()


# --- policy settings ------------------------------------------------------------------------


def test_policy_settings_operator_only_and_never_above_the_legal_cap(world, as_user):
    assert as_user(world.pi_a).get("/api/policy/settings/").status_code == 200
    assert (
        as_user(world.pi_a)
        .patch("/api/policy/settings/", {"economic_cap_share": "0.1"}, format="json")
        .status_code
        == 403
    )
    client = as_user(world.operator)
    too_high = client.patch("/api/policy/settings/", {"economic_cap_share": "0.3"}, format="json")
    assert too_high.status_code == 400
    assert "economic_cap_share" in too_high.json()
    ok = client.patch("/api/policy/settings/", {"economic_cap_share": "0.1"}, format="json")
    assert ok.status_code == 200
    assert PolicySettings.current().economic_cap_share == Decimal("0.1")
    assert AuditEntry.objects.filter(
        object_type="allocation.PolicySettings", actor_label="operator"
    ).exists()


# --- accounting -----------------------------------------------------------------------------


def test_usage_import_is_operator_only_idempotent_and_all_or_nothing(world, as_user):
    records = [usage_record(world.proj_a, world.cpu, "100", "10")]
    body = {"source": "api-test", "records": records}
    assert as_user(world.pi_a).post("/api/usage/import/", body, format="json").status_code == 403
    client = as_user(world.operator)
    first = client.post("/api/usage/import/", body, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["new"] == 1
    again = client.post("/api/usage/import/", body, format="json")
    assert (again.json()["new"], again.json()["duplicate"]) == (0, 1)
    bad = client.post(
        "/api/usage/import/",
        {
            "source": "api-test",
            "records": [
                usage_record(world.proj_a, world.cpu, "101", "1"),
                {**records[0], "job_id": "102", "quantity": "lots"},
            ],
        },
        format="json",
    )
    assert bad.status_code == 400
    assert "line 2" in str(bad.json())
    assert not world.proj_a.usage.filter(job_id="101").exists()


def test_balances_show_use_of_the_visible_allocations(world, as_user):
    rows = as_user(world.pi_a).get("/api/balances/").json()["results"]
    assert [(row["allocation"], Decimal(row["used"])) for row in rows] == [
        (world.alloc_a.pk, Decimal(1000))
    ]


def test_the_service_catalogue_shows_capacity_and_todays_prices(world, as_user):
    rows = as_user(world.industry).get("/api/catalogue/").json()["results"]
    betzy = next(row for row in rows if row["id"] == world.cpu.pk)
    assert betzy["country"] == "NO" and betzy["unit"] == "core-hours"
    assert Decimal(betzy["prices_today"]["A"]) == Decimal("0.04")
    assert Decimal(betzy["prices_today"]["C"]) == Decimal("0.40")
    assert betzy["prices_today"]["D"] is None  # no list of category D


# --- hostile input is refused, never a server error (PostgreSQL is the stricter engine) ------

HUGE = "9" * 30


def test_huge_numbers_in_paths_queries_pagination_and_bodies(world, as_user):
    client = as_user(world.operator)
    assert client.get(f"/api/projects/{HUGE}/").status_code == 404
    assert client.get("/api/allocations/", {"project": HUGE}).json()["count"] == 0
    page = client.get("/api/roles/", {"limit": HUGE, "offset": HUGE})
    assert page.status_code == 200 and page.json()["results"] == []
    body = {
        "project": HUGE,
        "resource_class": world.cpu.pk,
        "amount": "1",
        "start": "2027-01-01",
        "end": "2027-02-01",
    }
    response = client.post("/api/policy/check/", body, format="json")
    assert response.status_code == 400
    assert "project" in response.json()


def test_nul_characters_are_refused_with_400(world, as_user):
    client = as_user(world.operator)
    assert client.get("/api/audit/", {"object_type": "a\x00b"}).status_code == 400
    body = {
        "call": world.open_call.pk,
        "project": world.proj_a.pk,
        "justification": "x",
        "extra_fields": {"note": "a\x00b"},
        "requests": [{"resource_class": world.cpu.pk, "amount": "1"}],
    }
    response = client.post("/api/applications/", body, format="json")
    assert response.status_code == 400
    assert "extra_fields" in response.json()
    records = {
        "source": "t",
        "records": [
            {
                "cluster": "betzy",
                "kind": "cpu",
                "job_id": "x\x00",
                "account": "nn0001k",
                "quantity": "1",
                "start": "2027-02-01T10:00:00",
                "end": "2027-02-01T11:00:00",
            }
        ],
    }
    assert client.post("/api/usage/import/", records, format="json").status_code == 400


def test_a_write_that_fails_halfway_leaves_nothing(world, as_user, monkeypatch):
    """Every unsafe request is one transaction: the application row made before the failing
    request line is rolled back with it."""
    from django.db import IntegrityError

    from regnekraft.allocation.models import Application, ApplicationRequest

    def fail(*args, **kwargs):
        raise IntegrityError("simulated failure while writing a request line")

    monkeypatch.setattr(ApplicationRequest, "save", fail)
    before = Application.objects.count()
    response = as_user(world.pi_a).post(
        "/api/applications/", _application(world, world.proj_a), format="json"
    )
    assert response.status_code == 409
    assert Application.objects.count() == before


# --- co-location ----------------------------------------------------------------------------


def test_colocated_equipment_serves_only_its_owner(world, as_user):
    rack = f.system("MET rack", owner=world.met, kind="colocated", tier=2)
    rack_cpu = f.resource_class(rack, units=64)
    client = as_user(world.operator)
    unowned = client.post(
        "/api/colocated-equipment/",
        {
            "system": world.betzy.pk,
            "hosting_fee_nok_per_month": "1",
            "contract_start": f"{YEAR}-01-01",
        },
        format="json",
    )
    assert unowned.status_code == 400
    assert "system" in unowned.json()
    registered = client.post(
        "/api/colocated-equipment/",
        {
            "system": rack.pk,
            "hosting_fee_nok_per_month": "12000.00",
            "contract_start": f"{YEAR}-01-01",
        },
        format="json",
    )
    assert registered.status_code == 201, registered.content
    assert registered.json()["owner"] == world.met.pk
    assert [
        row["id"]
        for row in as_user(world.coordinator_climate)
        .get("/api/colocated-equipment/")
        .json()["results"]
    ] == [registered.json()["id"]]
    assert (
        as_user(world.coordinator_health).get("/api/colocated-equipment/").json()["results"] == []
    )

    period = {
        "resource_class": rack_cpu.pk,
        "amount": "10000",
        "start": f"{YEAR}-01-01",
        "end": f"{YEAR}-07-01",
    }
    granted = client.post(
        "/api/colocation-grants/", {"project": world.proj_met.pk, **period}, format="json"
    )
    assert granted.status_code == 201, granted.content
    assert (granted.json()["price_category"], granted.json()["charging_model"]) == (
        "B",
        "subscription",
    )
    foreign = client.post(
        "/api/colocation-grants/", {"project": world.proj_fhi.pk, **period}, format="json"
    )
    assert foreign.status_code == 409
    assert "ownership" in rules(foreign)
    assert (
        as_user(world.coordinator_climate)
        .post("/api/colocation-grants/", {"project": world.proj_met.pk, **period}, format="json")
        .status_code
        == 403
    )


def test_a_whole_round_through_the_api_proposal_then_decision(world, as_user):
    client = as_user(world.operator)
    for review, reviewer in (
        (world.review_a, world.reviewer_a),
        (world.review_b, world.reviewer_b),
    ):
        as_user(reviewer).patch(
            f"/api/reviews/{review.pk}/",
            {"scores": {"excellence": 6, "impact": 6, "feasibility": 6}, "submitted": True},
            format="json",
        )
    proposal = client.get(f"/api/calls/{world.review_call.pk}/proposal/")
    assert proposal.status_code == 200, proposal.content
    body = proposal.json()
    assert body["policy_violations"] == []
    assert body["funded"] == 2  # both fit easily
    grants = [
        {"application": int(app), "resource_class": int(rc), "amount": units}
        for app, lines in body["grants"].items()
        for rc, units in lines.items()
    ]
    decided = client.post(
        f"/api/calls/{world.review_call.pk}/decide/", {"grants": grants}, format="json"
    )
    assert decided.status_code == 200, decided.content
    assert {row["status"] for row in decided.json()} == {ApplicationStatus.DECIDED}
    assert (
        as_user(world.pi_a).get(f"/api/calls/{world.review_call.pk}/proposal/").status_code == 403
    )


def test_a_proposal_for_a_call_without_applications(world, as_user):
    response = as_user(world.operator).get(f"/api/calls/{world.open_call.pk}/proposal/")
    assert response.status_code == 200, response.content
    assert (response.json()["applications"], response.json()["grants"]) == (0, {})
