"""Each role sees only its pages (a clear 403 with a message elsewhere) and never another
person's data."""

from __future__ import annotations

import csv
import io

import pytest

PAGES = {
    "pi": "/pi/",
    "pi_apply": "/pi/apply/",
    "reviews": "/reviews/",
    "sector": "/sector/",
    "order_new": "/sector/orders/new/",
    "industry": "/industry/",
    "catalogue": "/operator/catalogue/",
    "calls": "/operator/calls/",
    "changes": "/operator/changes/",
    "sync": "/operator/sync/",
    "audit": "/operator/audit/",
    "finance": "/finance/",
    "price_list_new": "/finance/prices/new/",
    "dashboard": "/dashboard/",
}
ALLOWED = {
    "pi": {"pi", "pi_apply"},
    "reviewer": {"reviews"},
    "coordinator": {"sector", "order_new"},
    "industry": {
        "industry",
        "pi",
        "pi_apply",
    },  # the demo's industry customer also leads its project
    "operator": {
        "catalogue",
        "calls",
        "changes",
        "sync",
        "audit",
        "finance",
        "price_list_new",
        "dashboard",
    },
    "finance": {"finance", "price_list_new"},
    "decision_maker": {"dashboard"},
    "nobody": set(),
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_role_gets_its_pages_and_a_clear_refusal_elsewhere(world, client, role):
    client.force_login(world.people[role].user)
    for name, url in PAGES.items():
        response = client.get(url)
        if name in ALLOWED[role]:
            assert response.status_code == 200, (role, url)
        else:
            assert response.status_code == 403, (role, url)
            assert (
                "Denne siden er for" in response.content.decode()
                or "This page is for" in response.content.decode()
            )


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_navigation_lists_only_what_the_role_may_use(world, client, role):
    client.force_login(world.people[role].user)
    html = client.get("/").content.decode()
    for name, url in PAGES.items():
        if name in ("order_new", "price_list_new"):
            continue
        linked = f'href="{url}"' in html
        assert linked == (name in ALLOWED[role]), (role, url)


def test_refusal_is_in_english_under_en(world, client):
    client.force_login(world.people["pi"].user)
    response = client.get("/en/dashboard/")
    assert response.status_code == 403
    assert "This page is for: Decision maker, Platform operator" in response.content.decode()


def test_anonymous_is_sent_to_sign_in(world, client):
    response = client.get("/pi/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/pi/")


def _csv(client, url: str, table: str) -> list[list[str]]:
    response = client.get(url, {"export": table, "dialect": "plain"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_pi_sees_own_projects_and_never_another_pis(world, client):
    client.force_login(world.people["pi"].user)
    html = client.get("/pi/").content.decode()
    assert "nn1001k" in html and "Ocean model A" in html
    assert "nn2002k" not in html and "Secret genome B" not in html
    rows = _csv(client, "/pi/", "allocations")
    assert {r[0] for r in rows[1:]} == {"nn1001k"}
    invoices = _csv(client, "/pi/", "invoices")
    assert [r[0] for r in invoices[1:]] == ["UiO"]
    assert client.get("/pi/projects/nn2002k/").status_code == 403
    assert client.get(f"/pi/allocations/{world.allocation_b.pk}/change/").status_code == 403
    refused = client.get(f"/pi/apply/{world.open_call.pk}/nn2002k/")
    assert refused.status_code == 403 and "Secret genome B" not in refused.content.decode()


def test_member_sees_the_project_but_cannot_manage_it(world, client):
    project = world.projects["a"]
    project.members.add(world.people["member"])
    from regnekraft.parties.models import Role

    Role.objects.create(person=world.people["member"], kind="member")
    client.force_login(world.people["member"].user)
    assert client.get("/pi/projects/nn1001k/").status_code == 200
    response = client.post("/pi/projects/nn1001k/", {"email": "pib@example.no"})
    assert response.status_code == 403
    assert not project.members.filter(pk=world.people["pi_other"].pk).exists()


def test_reviewer_sees_only_assigned_applications(world, client):
    client.force_login(world.people["reviewer"].user)
    html = client.get("/reviews/").content.decode()
    assert "nn1001k" in html and "nn2002k" not in html
    assert client.get(f"/reviews/{world.review.pk}/").status_code == 200
    other = client.get(f"/reviews/{world.other_review.pk}/")
    assert other.status_code == 403 and "Secret genome B" not in other.content.decode()


def test_coordinator_sees_own_sector_only(world, client):
    client.force_login(world.people["coordinator"].user)
    rows = _csv(client, "/sector/", "orders")
    assert {r[1] for r in rows[1:]} == {"health"}
    html = client.get("/sector/").content.decode()
    assert "nn4004k" not in html and "MET" not in html
    assert client.get(f"/sector/orders/{world.order_climate.pk}/").status_code == 403
    line = world.order_climate.lines.get()
    assert client.get(f"/sector/lines/{line.pk}/").status_code == 403


def test_industry_customer_sees_own_organisation_only(world, client):
    client.force_login(world.people["industry"].user)
    html = client.get("/industry/").content.decode()
    assert "nn1001k" not in html and "nn2002k" not in html
    assert all(r[0] != "UiO" for r in _csv(client, "/industry/", "invoices")[1:])


def test_finance_invoice_detail_and_pi_cannot_open_it(world, client):
    client.force_login(world.people["finance"].user)
    response = client.get(f"/finance/invoices/{world.invoice_a.pk}/")
    assert response.status_code == 200 and "CPU use nn1001k" in response.content.decode()
    client.force_login(world.people["pi"].user)
    assert client.get(f"/finance/invoices/{world.invoice_a.pk}/").status_code == 403


def test_every_table_on_a_page_exports_as_csv(world, client):
    client.force_login(world.people["operator"].user)
    for url, tables in {
        "/operator/catalogue/": ["systems", "capacities"],
        "/operator/calls/": ["calls"],
        "/operator/sync/": ["sync", "imports"],
        "/operator/audit/": ["audit"],
        "/finance/": ["prices", "invoices"],
        "/dashboard/": [
            "utilisation",
            "allocated_used",
            "research_floor",
            "economic_share",
            "user_groups",
        ],
    }.items():
        html = client.get(url).content.decode()
        for table in tables:
            assert f"?export={table}" in html, (url, table)
            rows = _csv(client, url, table)
            assert len(rows) >= 1 and rows[0], (url, table)
    systems = _csv(client, "/operator/catalogue/", "systems")
    assert {r[0] for r in systems[1:]} == {"Betzy", "Saga"}
    norwegian = client.get("/operator/catalogue/", {"export": "systems"}).content.decode()
    assert norwegian.startswith("\ufeff") and ";" in norwegian.splitlines()[0]
    bad = client.get("/operator/catalogue/", {"export": "systems", "dialect": "excel"})
    assert bad.status_code == 400 and "excel" in bad.content.decode()


def test_sync_page_shows_the_slurm_bridge_last_runs(world, client):
    from regnekraft.slurm.models import SyncRun

    SyncRun.objects.create(cluster="betzy", mode="reconcile", ok=True, changes=3, applied=0)
    client.force_login(world.people["operator"].user)
    rows = _csv(client, "/en/operator/sync/", "slurm_runs")
    assert rows[1][:2] == ["betzy", "reconcile"] and rows[1][3] == "3"


def test_dashboard_has_the_four_year_plan(world, client):
    client.force_login(world.people["decision_maker"].user)
    rows = _csv(client, "/dashboard/", "four_year_plan")
    assert len(rows) > 1 and {r[1] for r in rows[1:]} <= {"kjøp", "avvikle"}


def test_mangled_parameters_get_defaults_not_errors(world, client):
    client.force_login(world.people["operator"].user)
    assert client.get("/dashboard/", {"year": "abc"}).status_code == 200
    assert client.get("/operator/catalogue/", {"year": "99999"}).status_code == 200
    assert client.post("/operator/changes/", {"change": "x' OR 1=1"}).status_code == 302
    assert client.post("/operator/calls/", {"call": "nope", "status": "open"}).status_code == 302


def test_csv_keeps_formula_like_text_as_text(world, client):
    project = world.projects["a"]
    project.title = "=HYPERLINK(1)"
    project.save()
    client.force_login(world.people["pi"].user)
    rows = _csv(client, "/pi/", "projects")
    assert rows[1][1].startswith("'=HYPERLINK")


def test_dashboard_shows_the_stored_round_simulation(world, client):
    from regnekraft.allocation.models import SimulationRun
    from tests import factories as f

    client.force_login(world.people["decision_maker"].user)
    assert "No round simulation is stored yet" in client.get("/en/dashboard/").content.decode()

    def scenario(name, research, public):
        return {
            "name": name,
            "jobs": 3145,
            "utilisation": 0.4,
            "mean_wait": 7200.0,
            "median_wait": 0.0,
            "p95_wait": 36000.0,
            "mean_bounded_slowdown": 3.5,
            "makespan": 1e6,
            "groups": [],
            "user_groups": {
                "public": {"entitlement": 0.3, "delivered_share": public},
                "research": {"entitlement": 0.7, "delivered_share": research},
            },
        }

    SimulationRun.objects.create(
        call=f.call("2026.2"),
        trace="hpc2n-first3171.swf",
        results=[
            scenario("2026.2 as decided", 0.69, 0.31),
            scenario("fcfs without fair-share", 0.5, 0.5),
        ],
    )
    html = client.get("/en/dashboard/").content.decode()
    assert "Round 2026.2 as decided, replayed on hpc2n-first3171.swf" in html
    figures = _csv(client, "/en/dashboard/", "simulation")
    assert [r[0] for r in figures[1:]] == ["2026.2 as decided", "fcfs without fair-share"]
    shares = _csv(client, "/en/dashboard/", "simulation_shares")
    assert shares[0] == [
        "User group",
        "Entitlement",
        "2026.2 as decided",
        "fcfs without fair-share",
    ]
    assert [r[0] for r in shares[1:]] == ["Public sector", "Research"]
    assert shares[2][1:] == ["70.0", "69.0", "50.0"]
    assert "Simulert runde" in client.get("/dashboard/").content.decode()  # bokmål by default
