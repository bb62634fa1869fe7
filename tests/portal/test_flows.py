"""Each role's main flow through the Django test client: the writes go through the services
and the rules' verdicts reach the page."""

from __future__ import annotations

from decimal import Decimal

from regnekraft.allocation.models import (
    Allocation,
    Application,
    Call,
    ChangeRequest,
    Review,
    SectorOrder,
)


def test_pi_applies_in_an_open_call_with_members(world, client):
    client.force_login(world.people["pi"].user)
    url = f"/pi/apply/{world.open_call.pk}/nn1001k/"
    assert "Spring 2028" in client.get("/pi/apply/").content.decode()
    response = client.post(
        url,
        {
            "justification": "Ocean model runs at 1 km.",
            "support_hours": "40",
            f"rc_{world.cpu.pk}": "250000",
            f"rc_{world.gpu.pk}": "",
            "members": [world.people["member"].pk],
        },
    )
    assert response.status_code == 302
    app = Application.objects.get(call=world.open_call, project=world.projects["a"])
    assert {(r.resource_class_id, r.amount) for r in app.requests.all()} == {
        (world.cpu.pk, Decimal("250000"))
    }
    assert world.projects["a"].members.filter(pk=world.people["member"].pk).exists()
    again = client.post(
        url, {"justification": "again", "support_hours": "0", f"rc_{world.cpu.pk}": "1"}
    )
    assert again.status_code == 200 and "nn1001k" in again.content.decode()
    assert (
        Application.objects.filter(call=world.open_call, project=world.projects["a"]).count() == 1
    )


def test_pi_manages_members_and_requests_a_change(world, client):
    client.force_login(world.people["pi"].user)
    added = client.post("/pi/projects/nn1001k/", {"email": "member@example.no"})
    assert added.status_code == 302
    assert world.projects["a"].members.filter(pk=world.people["member"].pk).exists()
    unknown = client.post("/pi/projects/nn1001k/", {"email": "nobody-here@example.no"})
    assert unknown.status_code == 200
    client.post("/pi/projects/nn1001k/", {"remove": world.people["member"].pk})
    assert not world.projects["a"].members.exists()
    missing = client.post(
        f"/pi/allocations/{world.allocation_a.pk}/change/", {"kind": "increase", "reason": "more"}
    )
    assert missing.status_code == 200 and not ChangeRequest.objects.exists()
    ok = client.post(
        f"/pi/allocations/{world.allocation_a.pk}/change/",
        {"kind": "increase", "amount": "5000", "reason": "A bigger grid."},
    )
    assert ok.status_code == 302
    assert ChangeRequest.objects.get().requested_by == world.people["pi"]


def test_reviewer_scores_and_declares_conflicts(world, client):
    client.force_login(world.people["reviewer"].user)
    url = f"/reviews/{world.review.pk}/"
    incomplete = client.post(url, {"score_excellence": "6"})
    assert incomplete.status_code == 200
    assert not Review.objects.get(pk=world.review.pk).submitted
    client.post(
        url,
        {
            "score_excellence": "6",
            "score_impact": "5",
            "score_feasibility": "7",
            "comment": "Good.",
        },
    )
    review = Review.objects.get(pk=world.review.pk)
    assert review.submitted and review.scores == {"excellence": 6, "impact": 5, "feasibility": 7}
    client.post(url, {"conflict": "on", "comment": "I co-author with the PI."})
    review.refresh_from_db()
    assert review.conflict_of_interest and review.scores == {}


def test_operator_checks_then_decides_the_round_through_the_services(world, client):
    client.force_login(world.people["operator"].user)
    Review.objects.filter(pk=world.review.pk).update(
        scores={"excellence": 6, "impact": 6, "feasibility": 6}, submitted=True
    )
    url = f"/operator/calls/{world.review_call.pk}/"
    page = client.get(url).content.decode()
    field_a = f"g_{world.review_app.pk}_{world.cpu.pk}"
    assert field_a in page
    too_much = {
        field_a: "99999999",
        f"g_{world.review_app.pk}_{world.gpu.pk}": "0",
        f"g_{world.other_app.pk}_{world.cpu.pk}": "0",
    }
    checked = client.post(url, {**too_much, "action": "check"}).content.decode()
    assert (
        "capacity" in checked
        and Allocation.objects.filter(application__call=world.review_call).count() == 0
    )
    refused = client.post(url, {**too_much, "action": "decide"})
    assert refused.status_code == 200
    assert Allocation.objects.filter(application__call=world.review_call).count() == 0
    grants = {
        field_a: "20000",
        f"g_{world.review_app.pk}_{world.gpu.pk}": "100",
        f"g_{world.other_app.pk}_{world.cpu.pk}": "0",
    }
    decided = client.post(url, {**grants, "action": "decide"})
    assert decided.status_code == 302
    made = Allocation.objects.filter(application__call=world.review_call)
    assert {(a.resource_class_id, a.amount) for a in made} == {
        (world.cpu.pk, Decimal(20000)),
        (world.gpu.pk, Decimal(100)),
    }
    assert Call.objects.get(pk=world.review_call.pk).status == "decided"
    assert made.first().decided_by == world.people["operator"].user


def test_operator_creates_and_opens_a_call_and_assigns_a_reviewer(world, client):
    client.force_login(world.people["operator"].user)
    client.post(
        "/operator/calls/",
        {
            "name": "Autumn 2028",
            "opens": "2028-03-01",
            "closes": "2028-04-01",
            "period_start": "2028-07-01",
            "period_end": "2029-01-01",
        },
    )
    call = Call.objects.get(name="Autumn 2028")
    assert call.status == "draft"
    client.post("/operator/calls/", {"call": call.pk, "status": "open"})
    assert Call.objects.get(pk=call.pk).status == "open"
    client.post(
        f"/operator/calls/{world.review_call.pk}/",
        {
            "action": "assign",
            "application": world.other_app.pk,
            "reviewer": world.people["reviewer"].pk,
        },
    )
    assert Review.objects.filter(
        application=world.other_app, reviewer=world.people["reviewer"]
    ).exists()


def test_operator_approves_a_change_through_the_rules(world, client):
    change = ChangeRequest.objects.create(
        allocation=world.allocation_a, kind="increase", amount=Decimal(1000), reason="more"
    )
    client.force_login(world.people["operator"].user)
    client.post("/operator/changes/", {"change": change.pk, "decision": "approve", "note": "ok"})
    change.refresh_from_db()
    world.allocation_a.refresh_from_db()
    assert change.status == "approved" and world.allocation_a.amount == Decimal(101000)


def test_coordinator_orders_sees_price_and_commitment_confirms_and_passes_on(world, client):
    client.force_login(world.people["coordinator"].user)
    hdir = world.projects["health"].organisation
    response = client.post(
        "/sector/orders/new/",
        {
            "organisation": hdir.pk,
            "year": "2028",
            "commitment_share": "0.800",
            f"rc_{world.cpu.pk}": "100000",
        },
    )
    assert response.status_code == 302
    order = SectorOrder.objects.get(organisation=hdir, year=2028)
    review = client.get(response["Location"]).content.decode()
    # 100 000 core-hours x 0.04 NOK x tier-2 multiplier 1.25 = 5 000 NOK;
    # 80 % committed = 4 000 NOK.
    flat = review.replace("\xa0", "").replace("\u202f", "").replace(" ", "")
    assert "5000,00kr" in flat and "4000,00kr" in flat
    assert client.post(response["Location"]).status_code == 302
    order.refresh_from_db()
    assert order.status == "confirmed"
    line = order.lines.get()
    passed = client.post(
        f"/sector/lines/{line.pk}/", {"project": world.projects["health"].pk, "amount": "30000"}
    )
    assert passed.status_code == 302
    sub = Allocation.objects.get(order_line=line)
    assert sub.project == world.projects["health"] and sub.amount == Decimal(30000)
    over = client.post(
        f"/sector/lines/{line.pk}/", {"project": world.projects["health"].pk, "amount": "90000"}
    )
    assert over.status_code == 200 and "order_bounds" in over.content.decode()
    assert Allocation.objects.filter(order_line=line).count() == 1


def test_industry_checks_price_and_cap_then_buys(world, client):
    client.force_login(world.people["industry"].user)
    project = world.projects["acme"]
    form = {
        "project": project.pk,
        "resource_class": world.cpu.pk,
        "amount": "10000",
        "start": "2027-03-01",
        "end": "2027-04-01",
    }
    checked = client.post("/industry/", {**form, "action": "check"}).content.decode()
    assert 'value="confirm"' in checked
    assert client.post("/industry/", {**form, "action": "confirm"}).status_code == 302
    bought = Allocation.objects.get(project=project)
    assert bought.price_category == "C" and bought.source == "purchase"
    huge = {**form, "amount": "90000000"}
    refused = client.post("/industry/", {**huge, "action": "confirm"}).content.decode()
    assert "economic_cap" in refused
    assert Allocation.objects.filter(project=project).count() == 1


def test_finance_publishes_a_price_list_that_never_reprices_rated_use(world, client):
    import datetime as dt

    from regnekraft.accounting.rating import earliest_new_list_day
    from regnekraft.catalog.models import PriceList

    client.force_login(world.people["finance"].user)
    assert 'href="/en/finance/prices/new/"' in client.get("/en/finance/").content.decode()
    earliest = earliest_new_list_day() or dt.date.today()
    form = {
        "category": "A",
        "name": "Cost-plus 2028",
        "tier_1": "1",
        "tier_2": "1.25",
        "tier_3": "1.6",
        "free_allowance_nok": "0",
        "source": "Board decision",
        "price_cpu": "0.045",
        "price_gpu": "6.1",
    }
    early = client.post(
        "/en/finance/prices/new/", {**form, "valid_from": earliest - dt.timedelta(days=1)}
    )
    assert early.status_code == 200 and "already rated or invoiced" in early.content.decode()
    none = client.post(
        "/en/finance/prices/new/",
        {**{k: v for k, v in form.items() if not k.startswith("price_")}, "valid_from": earliest},
    )
    assert "Give at least one price." in none.content.decode()
    assert not PriceList.objects.filter(name="Cost-plus 2028").exists()
    done = client.post("/en/finance/prices/new/", {**form, "valid_from": earliest})
    assert done.status_code == 302
    published = PriceList.objects.get(name="Cost-plus 2028")
    assert (published.category, published.valid_from, published.tier_multipliers["2"]) == (
        "A",
        earliest,
        "1.25",
    )
    assert {p.kind: str(p.unit_price) for p in published.prices.all()} == {
        "cpu": "0.0450",
        "gpu": "6.1000",
    }
    again = client.post("/en/finance/prices/new/", {**form, "valid_from": earliest})
    assert "already has a list taking effect" in again.content.decode()
