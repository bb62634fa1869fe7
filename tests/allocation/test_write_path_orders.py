"""Orders, sub-allocations, purchases, co-location, external capacity and change requests: each
write driven through the API, the portal and the admin (where they offer it) gives the same
result, and the same refusal in the same words, because each interface calls one service."""

from __future__ import annotations

import datetime as dt
import html
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from regnekraft.allocation import orders
from regnekraft.allocation.models import (
    Allocation,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    OrderStatus,
    SectorOrder,
)
from regnekraft.catalog.models import ChargingModel
from regnekraft.formats import money
from regnekraft.parties.actors import SYSTEM
from regnekraft.parties.models import Person
from tests import factories as f
from tests.api.conftest import YEAR, World, build_world


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> World:
    return build_world()


def nb(message: str) -> str:
    with translation.override("nb"):
        return translation.gettext(message)


def api(person: Person) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="nb")  # the portal's pages below are in bokmål
    client.force_authenticate(person.user)
    return client


def web(person: Person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def admin(world: World) -> Client:
    world.operator.user.is_staff = world.operator.user.is_superuser = True
    world.operator.user.save()
    return web(world.operator)


def shown(text: str, response) -> bool:
    """Is ``text`` on the page (as the template escapes it)?"""
    return html.escape(text) in response.content.decode()


def admin_messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def _order_body(org, year: int, lines: dict) -> dict:
    return {
        "organisation": org.pk,
        "year": year,
        "commitment_share": "0.800",
        "lines": [{"resource_class": rc.pk, "amount": str(a)} for rc, a in lines.items()],
    }


def _order_form(org, year: int, lines: dict) -> dict:
    return {
        "organisation": org.pk,
        "year": str(year),
        "commitment_share": "0.800",
        **{f"rc_{rc.pk}": str(amount) for rc, amount in lines.items()},
    }


def _lines(order: SectorOrder) -> dict:
    return {line.resource_class_id: line.amount for line in order.lines.all()}


# --- sector orders -------------------------------------------------------------------------


def test_an_order_saved_through_api_portal_and_admin_is_the_same_draft(world):
    lines = {world.cpu: Decimal(10_000)}
    made = api(world.coordinator_climate).post(
        "/api/sector-orders/", _order_body(world.met, YEAR + 1, lines), format="json"
    )
    assert made.status_code == 201, made.content
    posted = web(world.coordinator_climate).post(
        "/sector/orders/new/", _order_form(world.met, YEAR + 2, lines)
    )
    assert posted.status_code == 302
    added = admin(world).post(
        "/admin/allocation/sectororder/add/",
        {
            "organisation": world.met.pk,
            "year": str(YEAR + 3),
            "commitment_share": "0.800",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-resource_class": world.cpu.pk,
            "lines-0-amount": "10000",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    made_orders = [
        SectorOrder.objects.get(organisation=world.met, year=YEAR + i) for i in (1, 2, 3)
    ]
    assert {(o.sector, o.status, o.commitment_share) for o in made_orders} == {
        ("climate", OrderStatus.DRAFT, Decimal("0.800"))
    }
    assert [_lines(o) for o in made_orders] == [{world.cpu.pk: Decimal(10_000)}] * 3
    assert [o.ordered_by for o in made_orders] == [
        world.coordinator_climate,
        world.coordinator_climate,
        world.operator,
    ]


def test_a_draft_is_replaced_but_a_confirmed_order_is_refused_alike(world):
    client = api(world.coordinator_climate)
    again = client.post(
        "/api/sector-orders/", _order_body(world.met, YEAR, {world.cpu: 5_000}), format="json"
    )
    assert again.status_code == 201, again.content
    assert again.json()["id"] == world.order_met.pk  # the draft, replaced
    assert _lines(world.order_met) == {world.cpu.pk: Decimal(5_000)}

    orders.confirm_order(SYSTEM, world.order_met)
    refused = client.post(
        "/api/sector-orders/", _order_body(world.met, YEAR, {world.cpu: 1}), format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["year"]
    assert world.met.name in text and str(YEAR) in text
    page = web(world.coordinator_climate).post(
        "/sector/orders/new/", _order_form(world.met, YEAR, {world.cpu: 1})
    )
    assert page.status_code == 200 and shown(text, page)
    assert _lines(world.order_met) == {world.cpu.pk: Decimal(5_000)}

    changed = client.patch(
        f"/api/sector-orders/{world.order_met.pk}/", {"commitment_share": "0.5"}, format="json"
    )
    assert changed.status_code == 400
    (text,) = changed.json()["status"]
    assert text.startswith(nb("only a draft order can be changed; this one is %(status)s")[:20])
    edited = admin(world).post(
        f"/admin/allocation/sectororder/{world.order_met.pk}/change/",
        {
            "organisation": world.met.pk,
            "year": str(YEAR),
            "commitment_share": "0.500",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "lines-0-id": world.order_met.lines.get().pk,
            "lines-0-order": world.order_met.pk,
            "lines-0-resource_class": world.cpu.pk,
            "lines-0-amount": "5000",
        },
        follow=True,
    )
    assert text in admin_messages(edited)
    world.order_met.refresh_from_db()
    assert world.order_met.commitment_share == Decimal("0.800")


def test_the_estimate_has_one_rounding_rule_in_api_and_portal(world):
    """1.5 TB at 66.67 NOK is 100.005 NOK: half up it is 100.01 (the API's rule before), half
    even 100.00 (the portal's); the commitment, 80 % of the total, was 80.01 against 80.00."""
    storage = f.resource_class(world.betzy, kind="storage", units=1000)
    amount, price = Decimal("1.5"), Decimal("66.67")
    portal_before = (amount * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert portal_before == Decimal("100.00")  # so this case tells the two rules apart

    made = api(world.coordinator_climate).post(
        "/api/sector-orders/", _order_body(world.met, YEAR + 1, {storage: amount}), format="json"
    )
    assert made.status_code == 201, made.content
    body = made.json()["price_estimate"]
    assert (Decimal(body["total_nok"]), Decimal(body["committed_nok"])) == (
        Decimal("100.01"),
        Decimal("80.01"),
    )
    assert Decimal(body["lines"][0]["value_nok"]) == Decimal("100.01")

    order = SectorOrder.objects.get(pk=made.json()["id"])
    found = orders.estimate(order)
    assert (found.total, found.committed, found.complete) == (
        Decimal("100.01"),
        Decimal("80.01"),
        True,
    )
    page = web(world.coordinator_climate).get(f"/sector/orders/{order.pk}/")
    assert page.context["estimate"] == found
    on_admin = admin(world).get(f"/admin/allocation/sectororder/{order.pk}/change/")
    assert "committed 80.01 NOK" in on_admin.content.decode()
    with translation.override("nb"):
        total, committed = money(found.total), money(found.committed)
    content = page.content.decode()
    assert f"<dd>{total}</dd>" in content and f" {committed} " in content


def test_confirming_agrees_and_a_rule_refuses_in_the_same_words(world):
    too_big = orders.save_order(
        SYSTEM,
        organisation=world.met,
        year=YEAR + 1,
        commitment_share=Decimal("0.8"),
        lines={world.cpu: Decimal(9_000_000)},  # more than the 8 760 000 core-hours of a year
    )
    refused = api(world.coordinator_climate).post(f"/api/sector-orders/{too_big.pk}/confirm/")
    assert refused.status_code == 409
    violations = refused.json()["violations"]
    assert "capacity" in {v["rule"] for v in violations}
    page = web(world.coordinator_climate).post(f"/sector/orders/{too_big.pk}/")
    assert page.status_code == 200
    assert all(shown(v["message"], page) for v in violations)
    action = admin(world).post(
        "/admin/allocation/sectororder/",
        {"action": "confirm", "_selected_action": [too_big.pk]},
        follow=True,
    )
    assert all(v["message"] in admin_messages(action) for v in violations)
    too_big.refresh_from_db()
    assert too_big.status == OrderStatus.DRAFT

    fine = {world.cpu: Decimal(1_000)}
    drafts = [
        orders.save_order(
            SYSTEM,
            organisation=world.met,
            year=YEAR + i,
            commitment_share=Decimal("0.8"),
            lines=fine,
        )
        for i in (2, 3, 4)
    ]
    assert (
        api(world.coordinator_climate)
        .post(f"/api/sector-orders/{drafts[0].pk}/confirm/")
        .status_code
        == 200
    )
    assert web(world.coordinator_climate).post(f"/sector/orders/{drafts[1].pk}/").status_code == 302
    admin(world).post(
        "/admin/allocation/sectororder/", {"action": "confirm", "_selected_action": [drafts[2].pk]}
    )
    assert {SectorOrder.objects.get(pk=d.pk).status for d in drafts} == {OrderStatus.CONFIRMED}
    # Confirming twice returns the order as it is.
    assert orders.confirm_order(SYSTEM, drafts[0]).status == OrderStatus.CONFIRMED


def test_cancelling_only_drafts_through_api_and_admin(world):
    cancelled = api(world.coordinator_climate).post(
        f"/api/sector-orders/{world.order_met.pk}/cancel/"
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == OrderStatus.CANCELLED
    refused = api(world.coordinator_health).post(f"/api/sector-orders/{world.order_fhi.pk}/cancel/")
    assert refused.status_code == 400
    (text,) = refused.json()["status"]
    assert text.startswith(nb("only a draft order can be cancelled; this one is %(status)s")[:20])
    action = admin(world).post(
        "/admin/allocation/sectororder/",
        {"action": "cancel", "_selected_action": [world.order_fhi.pk]},
        follow=True,
    )
    assert text in admin_messages(action)
    world.order_fhi.refresh_from_db()
    assert world.order_fhi.status == OrderStatus.CONFIRMED


def test_sub_allocations_through_api_and_portal(world):
    orders.confirm_order(SYSTEM, world.order_met)
    line = world.order_met.lines.get()
    made = api(world.coordinator_climate).post(
        "/api/sub-allocations/",
        {"order_line": line.pk, "project": world.proj_met.pk, "amount": "60000"},
        format="json",
    )
    assert made.status_code == 201, made.content
    posted = web(world.coordinator_climate).post(
        f"/sector/lines/{line.pk}/", {"project": world.proj_met.pk, "amount": "30000"}
    )
    assert posted.status_code == 302
    subs = list(Allocation.objects.filter(order_line=line).order_by("pk"))
    assert [(a.amount, a.source, a.price_category, a.charging_model) for a in subs] == [
        (Decimal(60_000), "sector_order", "A", ChargingModel.UNIT_PRICE),
        (Decimal(30_000), "sector_order", "A", ChargingModel.UNIT_PRICE),
    ]
    assert {a.decided_by for a in subs} == {world.coordinator_climate.user}

    over = api(world.coordinator_climate).post(
        "/api/sub-allocations/",
        {"order_line": line.pk, "project": world.proj_met.pk, "amount": "20000"},
        format="json",
    )
    assert over.status_code == 409
    (violation,) = over.json()["violations"]
    assert violation["rule"] == "order_bounds"
    page = web(world.coordinator_climate).post(
        f"/sector/lines/{line.pk}/", {"project": world.proj_met.pk, "amount": "20000"}
    )
    assert page.status_code == 200 and shown(violation["message"], page)
    assert Allocation.objects.filter(order_line=line).count() == 2


def test_a_sub_allocation_goes_only_to_the_orders_sector(world):
    orders.confirm_order(SYSTEM, world.order_met)
    line = world.order_met.lines.get()
    with pytest.raises(ValidationError) as refused, translation.override("en"):
        orders.sub_allocate(SYSTEM, line, world.proj_fhi, Decimal(10))
    assert refused.value.message_dict["project"] == [
        f"{world.proj_fhi.code} is not a project of the sector climate"
    ]


# --- purchases -----------------------------------------------------------------------------


def test_purchases_through_api_and_portal_and_the_cap_refuses_alike(world):
    period = {"start": f"{YEAR}-01-01", "end": f"{YEAR + 1}-01-01"}
    buy = {"project": world.proj_sme.pk, "resource_class": world.cpu.pk, **period}
    made = api(world.industry).post("/api/purchases/", {**buy, "amount": "100000"}, format="json")
    assert made.status_code == 201, made.content
    posted = web(world.industry).post("/industry/", {**buy, "amount": "20000", "action": "confirm"})
    assert posted.status_code == 302
    bought = list(Allocation.objects.filter(project=world.proj_sme).order_by("pk"))
    assert [(a.amount, a.source, a.price_category, a.decided_by) for a in bought] == [
        (Decimal(100_000), "purchase", "C", world.industry.user),
        (Decimal(20_000), "purchase", "C", world.industry.user),
    ]

    over = api(world.industry).post("/api/purchases/", {**buy, "amount": "400000"}, format="json")
    assert over.status_code == 409
    (violation,) = over.json()["violations"]
    assert violation["rule"] == "economic_cap"
    page = web(world.industry).post("/industry/", {**buy, "amount": "400000", "action": "confirm"})
    assert page.status_code == 200 and shown(violation["message"], page)
    assert Allocation.objects.filter(project=world.proj_sme).count() == 2


# --- co-location ---------------------------------------------------------------------------


def _equipment(system) -> dict:
    return {
        "system": system.pk,
        "rack_units": "42",
        "hosting_fee_nok_per_month": "12000.00",
        "contract_start": f"{YEAR}-01-01",
    }


def test_equipment_through_api_and_admin(world):
    racks = [f.system(f"MET rack {i}", owner=world.met, kind="colocated", tier=2) for i in (1, 2)]
    made = api(world.operator).post(
        "/api/colocated-equipment/", _equipment(racks[0]), format="json"
    )
    assert made.status_code == 201, made.content
    added = admin(world).post(
        "/admin/allocation/colocatedequipment/add/",
        {**_equipment(racks[1]), "contract_end": ""},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    rows = ColocatedEquipment.objects.order_by("pk")
    assert [(e.system.owner, e.hosting_fee_nok_per_month) for e in rows] == [
        (world.met, Decimal("12000.00"))
    ] * 2

    backwards = {"contract_end": f"{YEAR - 1}-01-01"}
    refused = api(world.operator).patch(
        f"/api/colocated-equipment/{rows[0].pk}/", backwards, format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["contract_end"]
    changed = admin(world).post(
        f"/admin/allocation/colocatedequipment/{rows[1].pk}/change/",
        {**_equipment(racks[1]), **backwards},
        follow=True,
    )
    assert text in admin_messages(changed)
    assert not ColocatedEquipment.objects.filter(contract_end__isnull=False).exists()

    period = {"resource_class": f.resource_class(racks[0], units=64).pk, "amount": "10000"}
    period |= {"start": f"{YEAR}-01-01", "end": f"{YEAR}-07-01"}
    granted = api(world.operator).post(
        "/api/colocation-grants/", {"project": world.proj_met.pk, **period}, format="json"
    )
    assert granted.status_code == 201, granted.content
    assert (granted.json()["price_category"], granted.json()["decided_by"]) == (
        "B",
        world.operator.user.pk,
    )


# --- external capacity ---------------------------------------------------------------------


def _external(org, **extra) -> dict:
    return {
        "organisation": org.pk,
        "provider": "LUMI",
        "country": "FI",
        "kind": "gpu",
        "amount": "1000",
        "cost_nok": "50000",
        "start": f"{YEAR}-01-01",
        "end": f"{YEAR + 1}-01-01",
        "reference": "",
        **extra,
    }


def test_external_capacity_through_api_and_admin(world):
    made = api(world.coordinator_climate).post(
        "/api/external-capacity/", _external(world.met), format="json"
    )
    assert made.status_code == 201, made.content
    added = admin(world).post("/admin/allocation/externalcapacity/add/", _external(world.met))
    assert added.status_code == 302, added.content.decode()[:2000]
    rows = ExternalCapacity.objects.order_by("pk")
    assert [(e.organisation, e.provider, e.amount) for e in rows] == [
        (world.met, "LUMI", Decimal(1000))
    ] * 2

    backwards = _external(world.met, end=f"{YEAR - 1}-01-01")
    refused = api(world.coordinator_climate).post(
        "/api/external-capacity/", backwards, format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["end"]
    page = admin(world).post("/admin/allocation/externalcapacity/add/", backwards, follow=True)
    assert text in admin_messages(page)
    assert ExternalCapacity.objects.count() == 2
    foreign = api(world.coordinator_climate).post(
        "/api/external-capacity/", _external(world.uio), format="json"
    )
    assert foreign.status_code == 403
    assert "without a sector" in foreign.json()["detail"]


# --- change requests -----------------------------------------------------------------------


def test_change_requests_through_api_portal_and_admin(world):
    ask = {"kind": "increase", "amount": "1000", "reason": "More runs"}
    made = api(world.pi_a).post(
        "/api/change-requests/", {"allocation": world.alloc_a.pk, **ask}, format="json"
    )
    assert made.status_code == 201, made.content
    posted = web(world.pi_a).post(f"/pi/allocations/{world.alloc_a.pk}/change/", ask)
    assert posted.status_code == 302
    added = admin(world).post(
        "/admin/allocation/changerequest/add/",
        {"allocation": world.alloc_a.pk, "new_end": "", **ask},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    asked = list(ChangeRequest.objects.order_by("pk"))
    assert [(c.kind, c.amount, c.status) for c in asked] == [
        ("increase", Decimal(1000), "pending")
    ] * 3
    assert [c.requested_by for c in asked] == [world.pi_a, world.pi_a, world.operator]

    early = {"kind": "extend", "new_end": str(world.alloc_a.end - dt.timedelta(days=1))}
    early["reason"] = "Longer"
    refused = api(world.pi_a).post(
        "/api/change-requests/", {"allocation": world.alloc_a.pk, **early}, format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["new_end"]
    assert str(world.alloc_a.end) in text
    page = web(world.pi_a).post(f"/pi/allocations/{world.alloc_a.pk}/change/", early)
    assert page.status_code == 200 and shown(text, page)
    form = admin(world).post(
        "/admin/allocation/changerequest/add/",
        {"allocation": world.alloc_a.pk, "amount": "", **early},
    )
    assert form.status_code == 200 and shown(text, form)
    assert ChangeRequest.objects.count() == 3

    stranger = api(world.pi_b).post(
        "/api/change-requests/", {"allocation": world.alloc_b.pk, **ask}, format="json"
    )
    assert stranger.status_code == 201  # pi_b's own allocation
    operator_only = api(world.pi_b).post(
        f"/api/change-requests/{stranger.json()['id']}/decide/", {"approve": True}, format="json"
    )
    assert operator_only.status_code == 403
    assert operator_only.json()["detail"] == "only the role operator may decide change requests"


def _asked(world, amount: int) -> ChangeRequest:
    return ChangeRequest.objects.create(
        allocation=world.alloc_a, kind="increase", amount=Decimal(amount), reason="x"
    )


def test_change_decisions_through_api_portal_and_admin_and_the_rules_refuse_alike(world):
    small = [_asked(world, 1000) for _ in range(3)]
    assert (
        api(world.operator)
        .post(f"/api/change-requests/{small[0].pk}/decide/", {"approve": True}, format="json")
        .status_code
        == 200
    )
    web(world.operator).post("/operator/changes/", {"change": small[1].pk, "decision": "approve"})
    admin(world).post(
        "/admin/allocation/changerequest/", {"action": "approve", "_selected_action": [small[2].pk]}
    )
    assert {ChangeRequest.objects.get(pk=c.pk).status for c in small} == {"approved"}
    world.alloc_a.refresh_from_db()
    assert world.alloc_a.amount == Decimal(53_000)

    huge = _asked(world, 9_000_000)
    refused = api(world.operator).post(
        f"/api/change-requests/{huge.pk}/decide/", {"approve": True}, format="json"
    )
    assert refused.status_code == 409
    (violation,) = refused.json()["violations"]
    page = web(world.operator).post(
        "/operator/changes/", {"change": huge.pk, "decision": "approve"}, follow=True
    )
    assert shown(violation["message"], page)
    action = admin(world).post(
        "/admin/allocation/changerequest/",
        {"action": "approve", "_selected_action": [huge.pk]},
        follow=True,
    )
    assert violation["message"] in admin_messages(action)
    huge.refresh_from_db()
    assert huge.status == "pending"
