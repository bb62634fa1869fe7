"""Each role sees only what regnekraft.access lets it see, through every list endpoint."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ALL = "all"

# role -> endpoint -> names of the World objects it must see (exactly)
EXPECTED: dict[str, dict[str, set[str] | str]] = {
    "operator": {
        "projects": ALL,
        "applications": ALL,
        "allocations": ALL,
        "sector-orders": ALL,
        "invoices": ALL,
        "reviews": ALL,
        "usage": ALL,
        "balances": ALL,
    },
    "finance": {
        "projects": ALL,
        "applications": ALL,
        "allocations": ALL,
        "sector-orders": ALL,
        "invoices": ALL,
        "reviews": set(),
        "usage": ALL,
        "balances": ALL,
    },
    "decision_maker": {
        "projects": ALL,
        "applications": ALL,
        "allocations": ALL,
        "sector-orders": ALL,
        "invoices": set(),
        "reviews": ALL,
        "usage": ALL,
        "balances": ALL,
    },
    "pi_a": {
        "projects": {"proj_a"},
        "applications": {"app_a", "grant_of_alloc_a"},
        "allocations": {"alloc_a"},
        "sector-orders": set(),
        "invoices": {"invoice_uio"},
        "reviews": set(),
        "usage": {"proj_a"},
        "balances": {"alloc_a"},
    },
    "pi_b": {
        "projects": {"proj_b"},
        "applications": {"app_b", "grant_of_alloc_b"},
        "allocations": {"alloc_b"},
        "sector-orders": set(),
        "invoices": {"invoice_uio"},
        "reviews": set(),
        "usage": {"proj_b"},
        "balances": {"alloc_b"},
    },
    "member_a": {
        "projects": {"proj_a"},
        "applications": {"app_a", "grant_of_alloc_a"},
        "allocations": {"alloc_a"},
        "sector-orders": set(),
        "invoices": set(),
        "reviews": set(),
        "usage": {"proj_a"},
        "balances": {"alloc_a"},
    },
    "reviewer_a": {
        "projects": set(),
        "applications": {"app_a"},
        "allocations": set(),
        "sector-orders": set(),
        "invoices": set(),
        "reviews": {"review_a"},
        "usage": set(),
        "balances": set(),
    },
    "reviewer_b": {
        "projects": set(),
        "applications": {"app_b"},
        "allocations": set(),
        "sector-orders": set(),
        "invoices": set(),
        "reviews": {"review_b"},
        "usage": set(),
        "balances": set(),
    },
    "coordinator_climate": {
        "projects": {"proj_met"},
        "applications": set(),
        "allocations": set(),
        "sector-orders": {"order_met"},
        "invoices": {"invoice_met"},
        "reviews": set(),
        "usage": set(),
        "balances": set(),
    },
    "coordinator_health": {
        "projects": {"proj_fhi"},
        "applications": set(),
        "allocations": set(),
        "sector-orders": {"order_fhi"},
        "invoices": {"invoice_fhi"},
        "reviews": set(),
        "usage": set(),
        "balances": set(),
    },
    "industry": {
        "projects": {"proj_sme"},
        "applications": set(),
        "allocations": set(),
        "sector-orders": set(),
        "invoices": {"invoice_sme"},
        "reviews": set(),
        "usage": set(),
        "balances": set(),
    },
}

EVERYTHING = {
    "projects": {"proj_a", "proj_b", "proj_met", "proj_fhi", "proj_sme"},
    "applications": {"app_a", "app_b", "grant_of_alloc_a", "grant_of_alloc_b"},
    "allocations": {"alloc_a", "alloc_b"},
    "sector-orders": {"order_met", "order_fhi"},
    "invoices": {"invoice_uio", "invoice_met", "invoice_fhi", "invoice_sme"},
    "reviews": {"review_a", "review_b"},
    "usage": {"proj_a", "proj_b"},
    "balances": {"alloc_a", "alloc_b"},
}


def _ids_seen(client, endpoint: str) -> set[int]:
    response = client.get(f"/api/{endpoint}/", {"limit": 1000})
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    if endpoint == "usage":
        return {row["project"] for row in rows}
    if endpoint == "balances":
        return {row["allocation"] for row in rows}
    return {row["id"] for row in rows}


def _pk(world, name: str) -> int:
    if name.startswith("grant_of_"):  # the application behind an allocation made through a call
        return getattr(world, name.removeprefix("grant_of_")).application_id
    return getattr(world, name).pk


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_exactly_its_own(world, as_user, role):
    client = as_user(world.by_role(role))
    wrong = {}
    for endpoint, everything in EVERYTHING.items():
        expected = EXPECTED[role][endpoint]
        want = {_pk(world, name) for name in (everything if expected == ALL else expected)}
        seen = _ids_seen(client, endpoint)
        if seen != want:
            wrong[endpoint] = {"seen": sorted(seen), "want": sorted(want)}
    assert not wrong, f"{role} sees the wrong objects: {wrong}"


def test_another_pis_project_is_not_found(world, as_user):
    client = as_user(world.pi_a)
    assert client.get(f"/api/projects/{world.proj_a.pk}/").status_code == 200
    response = client.get(f"/api/projects/{world.proj_b.pk}/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_a_reviewer_cannot_open_an_unassigned_application_or_review(world, as_user):
    client = as_user(world.reviewer_a)
    assert client.get(f"/api/applications/{world.app_a.pk}/").status_code == 200
    assert client.get(f"/api/applications/{world.app_b.pk}/").status_code == 404
    assert client.get(f"/api/reviews/{world.review_b.pk}/").status_code == 404


def test_a_coordinator_cannot_open_another_sectors_order(world, as_user):
    client = as_user(world.coordinator_climate)
    assert client.get(f"/api/sector-orders/{world.order_met.pk}/").status_code == 200
    assert client.get(f"/api/sector-orders/{world.order_fhi.pk}/").status_code == 404


def test_people_are_limited_to_those_on_visible_projects(world, as_user):
    seen = {row["username"] for row in as_user(world.pi_a).get("/api/people/").json()["results"]}
    assert seen == {"pi_a", "member_a"}


@pytest.mark.parametrize(
    "role", ["pi_a", "finance", "reviewer_a", "coordinator_climate", "industry"]
)
def test_only_operators_read_the_audit_log_and_roles(world, as_user, role):
    client = as_user(world.by_role(role))
    for url in ("/api/audit/", "/api/roles/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "operator" in response.json()["detail"]


def test_operator_reads_the_audit_log(world, as_user):
    response = as_user(world.operator).get("/api/audit/", {"object_type": "allocation.Allocation"})
    assert response.status_code == 200
    assert len(response.json()["results"]) >= 2  # paged by cursor: no count


def test_anonymous_requests_are_refused(world):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/projects/")
    assert response.status_code == 401
