"""Each role's main flow end to end in Chromium, in bokmål and English, with axe-core on
every page and screenshots under artifacts/screenshots/."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regnekraft.allocation.models import Allocation, Application, ChangeRequest, Review, SectorOrder
from tests.portal.world import PASSWORD

from .walker import Walker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LANGS = ["nb", "en"]


@pytest.fixture
def walk(page, live_server, axe_source, screenshots, browser_world):
    def start(role: str, lang: str) -> Walker:
        return Walker(page, live_server.url, lang, axe_source, screenshots, role)

    return start


@pytest.mark.parametrize("lang", LANGS)
def test_pi_applies_manages_members_and_asks_for_a_change(walk, browser_world, lang):
    w = browser_world
    me = walk("pi", lang)
    me.sign_in("pia", PASSWORD)
    me.nav("/pi/")
    assert "nn1001k" in me.page.content() and "nn2002k" not in me.page.content()
    me.nav("/pi/apply/")
    me.follow(f'a[href="{me.prefix}/pi/apply/{w.open_call.pk}/nn1001k/"]', "apply-form")
    me.page.fill("#id_justification", "Coupled ocean-ice runs at 1 km resolution.")
    me.page.fill(f"#id_rc_{w.cpu.pk}", "120000")
    me.page.fill("#id_support_hours", "20")
    me.submit("main form button[type=submit]", "applied")
    assert me.success()
    app = Application.objects.get(call=w.open_call, project=w.projects["a"])
    assert app.requests.get().amount == Decimal(120000)
    me.follow(f'a[href="{me.prefix}/pi/projects/nn1001k/"]', "project")
    me.page.fill("#id_email", "member@example.no")
    me.submit("section[aria-labelledby=members-h] form:not(.inline) button", "member-added")
    assert w.projects["a"].members.filter(pk=w.people["member"].pk).exists()
    me.follow(f'a[href="{me.prefix}/pi/allocations/{w.allocation_a.pk}/change/"]', "change-form")
    me.page.select_option("#id_kind", "increase")
    me.page.fill("#id_amount", "10000")
    me.page.fill("#id_reason", "A finer grid than planned.")
    me.submit("main form button[type=submit]", "change-sent")
    assert ChangeRequest.objects.filter(allocation=w.allocation_a, status="pending").count() == 1


@pytest.mark.parametrize("lang", LANGS)
def test_reviewer_scores_an_assigned_application(walk, browser_world, lang):
    w = browser_world
    me = walk("reviewer", lang)
    me.sign_in("rev", PASSWORD)
    me.nav("/reviews/")
    assert "nn2002k" not in me.page.content()
    me.follow(f'a[href="{me.prefix}/reviews/{w.review.pk}/"]', "review-form")
    me.submit(
        "main form button[type=submit]", "review-errors"
    )  # nothing scored: errors, checked by axe too
    assert (
        me.page.locator(".field-errors").count() == 3
        and not Review.objects.get(pk=w.review.pk).submitted
    )
    for criterion, score in {"excellence": "6", "impact": "5", "feasibility": "7"}.items():
        me.page.select_option(f"#id_score_{criterion}", score)
    me.page.fill("#id_comment", "Strong and feasible.")
    me.submit("main form button[type=submit]", "reviewed")
    review = Review.objects.get(pk=w.review.pk)
    assert review.submitted and review.scores == {"excellence": 6, "impact": 5, "feasibility": 7}


@pytest.mark.parametrize("lang", LANGS)
def test_coordinator_orders_confirms_and_passes_on(walk, browser_world, lang):
    w = browser_world
    me = walk("coordinator", lang)
    me.sign_in("coord", PASSWORD)
    me.nav("/sector/")
    assert "nn4004k" not in me.page.content()
    me.follow(f'a[href="{me.prefix}/sector/orders/new/"]', "order-form")
    me.page.select_option("#id_organisation", str(w.projects["health"].organisation_id))
    me.page.fill("#id_year", "2028")
    me.page.fill(f"#id_rc_{w.cpu.pk}", "100000")
    me.submit("main form button[type=submit]", "order-price")
    assert me.page.locator("#table-order_lines").count() == 1
    me.submit("main form button[type=submit]", "order-confirmed")
    order = SectorOrder.objects.get(organisation=w.projects["health"].organisation, year=2028)
    assert order.status == "confirmed"
    line = order.lines.get()
    me.follow(f'a[href="{me.prefix}/sector/lines/{line.pk}/"]', "pass-on-form")
    me.page.select_option("#id_project", str(w.projects["health"].pk))
    me.page.fill("#id_amount", "40000")
    me.submit("main form button[type=submit]", "passed-on")
    assert Allocation.objects.get(order_line=line).amount == Decimal(40000)


@pytest.mark.parametrize("lang", LANGS)
def test_industry_customer_checks_the_price_and_buys(walk, browser_world, lang):
    w = browser_world
    me = walk("industry", lang)
    me.sign_in("ind", PASSWORD)
    me.nav("/industry/")
    me.page.select_option("#id_project", str(w.projects["acme"].pk))
    me.page.select_option("#id_resource_class", str(w.cpu.pk))
    me.page.fill("#id_amount", "5000")
    me.page.fill("#id_start", "2027-03-01")
    me.page.fill("#id_end", "2027-04-01")
    me.submit("button[value=check]", "quoted")
    assert me.page.locator(".quote").count() == 1 and me.page.locator(".verdicts.ok").count() == 1
    me.submit("button[value=confirm]", "bought")
    assert Allocation.objects.get(project=w.projects["acme"]).price_category == "C"


@pytest.mark.parametrize("lang", LANGS)
def test_operator_runs_the_round_and_decides_a_change(walk, browser_world, lang):
    w = browser_world
    Review.objects.filter(pk=w.review.pk).update(
        scores={"excellence": 6, "impact": 6, "feasibility": 6}, submitted=True
    )
    ChangeRequest.objects.create(
        allocation=w.allocation_a, kind="increase", amount=Decimal(1000), reason="More."
    )
    me = walk("operator", lang)
    me.sign_in("op", PASSWORD)
    for href in [
        "/operator/catalogue/",
        "/operator/sync/",
        "/operator/audit/",
    ]:  # finance, dashboard: other tests
        me.nav(href)
    me.nav("/operator/calls/")
    me.follow(f'a[href="{me.prefix}/operator/calls/{w.review_call.pk}/"]', "round")
    field = f"#g_{w.review_app.pk}_{w.cpu.pk}"
    me.page.fill(field, "99999999")
    me.submit("button[value=check]", "round-refused")
    assert me.page.locator(".verdicts.bad").count() == 1
    me.page.fill(field, "20000")
    me.page.fill(f"#g_{w.review_app.pk}_{w.gpu.pk}", "100")
    me.page.fill(f"#g_{w.other_app.pk}_{w.cpu.pk}", "10000")
    me.submit("button[value=check]", "round-checked")
    assert me.page.locator(".verdicts.ok").count() == 1
    me.submit("button[value=decide]", "round-decided")
    assert Allocation.objects.filter(application__call=w.review_call).count() == 3
    me.nav("/operator/changes/")
    me.submit("button[value=approve]", "change-approved")
    w.allocation_a.refresh_from_db()
    assert w.allocation_a.amount == Decimal(101000)


@pytest.mark.parametrize("lang", LANGS)
def test_finance_follows_invoices_and_exports(walk, browser_world, lang):
    w = browser_world
    me = walk("finance", lang)
    me.sign_in("fin", PASSWORD)
    me.nav("/finance/")
    with me.page.expect_download() as download:
        me.page.locator('a[href="?export=invoices"]').click()
    assert download.value.suggested_filename == "invoices.csv"
    me.follow(f'a[href="{me.prefix}/finance/invoices/{w.invoice_a.pk}/"]', "invoice")
    assert "nn1001k" in me.page.content()
    me.nav("/finance/")
    me.follow(f'a[href="{me.prefix}/finance/prices/new/"]', "new price list")
    me.page.select_option("#id_category", "C")
    me.page.fill("#id_name", f"Market {lang}")
    me.page.fill("#id_price_cpu", "0.12")
    me.page.fill("#id_source", "Board decision")
    me.submit(
        'main form button[type="submit"]', "price list published"
    )  # the earliest day is filled in
    assert me.success()


@pytest.mark.parametrize("lang", LANGS)
def test_decision_maker_reads_the_dashboard(walk, browser_world, lang):
    from regnekraft.allocation.models import SimulationRun
    from tests import factories as f

    shares = {
        "research": {"entitlement": 0.7, "delivered_share": 0.68},
        "public": {"entitlement": 0.3, "delivered_share": 0.32},
    }
    SimulationRun.objects.create(
        call=f.call("2026.2"),
        trace="hpc2n-first3171.swf",
        results=[
            {
                "name": name,
                "jobs": 3145,
                "utilisation": 0.4,
                "mean_wait": 3600.0,
                "median_wait": 0.0,
                "p95_wait": 7200.0,
                "mean_bounded_slowdown": 2.0,
                "makespan": 1e6,
                "groups": [],
                "user_groups": shares,
            }
            for name in ("2026.2 as decided", "fcfs without fair-share")
        ],
    )
    me = walk("decision_maker", lang)
    me.sign_in("dm", PASSWORD)
    me.nav("/dashboard/")  # axe-core runs on every page the walker visits
    assert me.page.locator("figure svg").count() == 5  # four figures and the simulated round
    assert me.page.locator("#table-economic_share tbody tr").count() == 2
    assert me.page.locator("#table-simulation tbody tr").count() == 2
    assert [a.get_attribute("href") for a in me.page.locator(".main-nav a").all()] == [
        f"{me.prefix}/dashboard/"
    ]
