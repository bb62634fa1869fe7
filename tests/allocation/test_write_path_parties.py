"""Members, projects, people, price lists, usage imports, invoices and the catalogue: each write
driven through the API, the portal, the admin and the command line (where they offer it) gives
the same result and the same refusal in the same words, because each interface calls one
service."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from regnekraft.accounting.models import Invoice, UsageRecord
from regnekraft.accounting.rating import earliest_new_list_day
from regnekraft.catalog.models import PriceList, System
from regnekraft.parties.models import Organisation
from tests.allocation.conftest import admin_messages, as_json, in_bokmal, shown
from tests.api.conftest import YEAR

PI_ALWAYS = in_bokmal("The PI is always part of the project.")


# --- members -----------------------------------------------------------------------------


def test_members_through_api_and_portal(wp_world, api, web):
    w = wp_world
    w.proj_a.members.clear()
    added = api(w.pi_a).post(
        f"/api/projects/{w.proj_a.pk}/members/", {"person": w.member_a.pk}, format="json"
    )
    assert added.status_code == 201, added.content
    w.member_a.email = "member-a@example.no"
    w.member_a.save()
    posted = web(w.pi_b).post(f"/pi/projects/{w.proj_b.code}/", {"email": "member-a@example.no"})
    assert posted.status_code == 302
    assert [list(p.members.all()) for p in (w.proj_a, w.proj_b)] == [[w.member_a]] * 2

    removed = api(w.pi_a).delete(f"/api/projects/{w.proj_a.pk}/members/{w.member_a.pk}/")
    assert removed.status_code == 204
    web(w.pi_b).post(f"/pi/projects/{w.proj_b.code}/", {"remove": w.member_a.pk})
    assert [list(p.members.all()) for p in (w.proj_a, w.proj_b)] == [[], []]

    # The PI is no member to add: the same refusal under the person (API) and the e-mail (portal).
    refused = api(w.pi_a).post(
        f"/api/projects/{w.proj_a.pk}/members/", {"person": w.pi_a.pk}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["person"] == [PI_ALWAYS]
    # Only the project's PI manages its members.
    forbidden = api(w.pi_b).post(
        f"/api/projects/{w.proj_a.pk}/members/", {"person": w.member_a.pk}, format="json"
    )
    assert forbidden.status_code in (403, 404)
    assert [list(p.members.all()) for p in (w.proj_a, w.proj_b)] == [[], []]


def test_the_portal_refuses_the_pi_as_a_member_like_the_api(wp_world, web):
    """The service names the field "person"; the portal's form has "email" (this was a 500)."""
    w = wp_world
    w.pi_b.email = "pi-b@example.no"
    w.pi_b.save()
    page = web(w.pi_b).post(f"/pi/projects/{w.proj_b.code}/", {"email": "pi-b@example.no"})
    assert page.status_code == 200 and shown(PI_ALWAYS, page)
    assert page.context["form"].errors["email"] == [PI_ALWAYS]
    assert not w.proj_b.members.exists()


def test_the_admin_refuses_the_pi_as_a_member_like_the_api(wp_world, admin):
    w = wp_world
    p = w.proj_b
    page = admin(w.operator).post(
        f"/admin/parties/project/{p.pk}/change/",
        {
            "code": p.code,
            "title": p.title,
            "description": p.description,
            "organisation": p.organisation_id,
            "pi": p.pi_id,
            "purpose": p.purpose,
            "sensitivity": p.sensitivity,
            "members": [w.pi_b.pk],
        },
        follow=True,
    )
    assert f"Refused: {PI_ALWAYS}" in admin_messages(page)
    assert not p.members.exists()


# --- projects ----------------------------------------------------------------------------


def test_a_pi_changes_only_title_and_description_through_the_api(wp_world, api):
    w = wp_world
    changed = api(w.pi_a).patch(
        f"/api/projects/{w.proj_a.pk}/", {"title": "Ocean model"}, format="json"
    )
    assert changed.status_code == 200, changed.content
    refused = api(w.pi_a).patch(
        f"/api/projects/{w.proj_a.pk}/", {"purpose": "commercial"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "a PI may change only description, title; ask an operator to change purpose"
    )
    w.proj_a.refresh_from_db()
    assert (w.proj_a.title, w.proj_a.purpose) == ("Ocean model", "research_rd")


# --- price lists -------------------------------------------------------------------------


def _price_list_body(name: str, day: dt.date) -> dict:
    return {
        "category": "B",
        "name": name,
        "valid_from": str(day),
        "tier_multipliers": {"1": "1", "2": "1.25", "3": "1.6"},
        "free_allowance_nok": "0",
        "source": "Board decision",
        "prices": [{"kind": "cpu", "unit_price": "0.0450"}],
    }


def _price_list_form(name: str, day: dt.date) -> dict:
    return {
        "category": "B",
        "name": name,
        "valid_from": str(day),
        "tier_1": "1",
        "tier_2": "1.25",
        "tier_3": "1.6",
        "free_allowance_nok": "0",
        "source": "Board decision",
        "price_cpu": "0.045",
    }


def _price_list_admin_form(name: str, day: dt.date) -> dict:
    return {
        "category": "B",
        "name": name,
        "valid_from": str(day),
        "tier_multipliers": json.dumps({"1": "1", "2": "1.25", "3": "1.6"}),
        "free_allowance_nok": "0",
        "source": "Board decision",
        "prices-TOTAL_FORMS": "1",
        "prices-INITIAL_FORMS": "0",
        "prices-0-kind": "cpu",
        "prices-0-gpu_type": "",
        "prices-0-unit_price": "0.045",
    }


def test_price_lists_through_api_portal_and_admin(wp_world, api, web, admin):
    w = wp_world
    earliest = earliest_new_list_day()
    assert earliest is not None  # the world has rated use
    days = [earliest + dt.timedelta(days=i) for i in (0, 1, 2)]
    made = api(w.finance).post(
        "/api/price-lists/", _price_list_body("API list", days[0]), format="json"
    )
    assert made.status_code == 201, made.content
    posted = web(w.finance).post("/finance/prices/new/", _price_list_form("Portal list", days[1]))
    assert posted.status_code == 302, posted.content.decode()[:3000]
    added = admin(w.operator).post(
        "/admin/catalog/pricelist/add/", _price_list_admin_form("Admin list", days[2])
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    lists = [PriceList.objects.get(name=n) for n in ("API list", "Portal list", "Admin list")]
    assert [
        (
            pl.category,
            pl.valid_from,
            pl.tier_multipliers,
            [(p.kind, p.unit_price) for p in pl.prices.all()],
        )
        for pl in lists
    ] == [
        ("B", day, {"1": "1", "2": "1.25", "3": "1.6"}, [("cpu", Decimal("0.0450"))])
        for day in days
    ]

    # Before the last rated use: the same refusal under valid_from, nothing published.
    early = earliest - dt.timedelta(days=1)
    refused = api(w.finance).post(
        "/api/price-lists/", _price_list_body("Too early", early), format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["valid_from"]
    assert text == (
        f"use up to {earliest - dt.timedelta(days=1)} is already rated or invoiced; "
        f"a new list may take effect on {earliest} at the earliest"
    )
    page = web(w.finance).post("/finance/prices/new/", _price_list_form("Too early", early))
    assert page.status_code == 200 and page.context["form"].errors["valid_from"] == [text]
    on_admin = admin(w.operator).post(
        "/admin/catalog/pricelist/add/", _price_list_admin_form("Too early", early)
    )
    assert on_admin.status_code == 200 and shown(text, on_admin)
    assert not PriceList.objects.filter(name="Too early").exists()


def test_a_taken_day_is_refused_alike_by_api_and_portal(wp_world, api, web):
    w = wp_world
    day = earliest_new_list_day()
    api(w.finance).post("/api/price-lists/", _price_list_body("First", day), format="json")
    text = in_bokmal(
        "Category %(category)s already has a list taking effect on %(day)s.", category="B", day=day
    )
    page = web(w.finance).post("/finance/prices/new/", _price_list_form("Same day", day))
    assert page.context["form"].errors["valid_from"] == [text]
    taken = api(w.finance).post(
        "/api/price-lists/", _price_list_body("Same day", day), format="json"
    )
    assert taken.status_code == 400
    assert taken.json()["valid_from"] == [text]
    assert not PriceList.objects.filter(name="Same day").exists()


# --- usage import and invoices ------------------------------------------------------------


def _records(w, month: int, first_job: int) -> list[dict]:
    return [
        {
            "cluster": w.cpu.system.slug,
            "kind": "cpu",
            "job_id": str(first_job + i),
            "account": project.code,
            "quantity": "500",
            "start": f"{YEAR}-{month:02d}-03T10:00:00+01:00",
            "end": f"{YEAR}-{month:02d}-03T11:00:00+01:00",
        }
        for i, project in enumerate((w.proj_a, w.proj_b))
    ]


def test_usage_import_and_invoices_through_api_and_cli(wp_world, api, cli, tmp_path):
    w = wp_world
    imported = api(w.operator).post(
        "/api/usage/import/", {"source": "api", "records": _records(w, 4, 100)}, format="json"
    )
    assert imported.status_code == 200, imported.content
    usage = tmp_path / "may.json"
    usage.write_text(json.dumps(_records(w, 5, 200)))
    code, out = cli("import-usage", str(usage), "--source", "cli", "--json")
    assert code == 0, out
    got = (imported.json(), as_json(out))
    assert [(r["read"], r["new"], r["duplicate"]) for r in got] == [(2, 2, 0), (2, 2, 0)]
    code, out = cli("import-usage", str(usage), "--source", "cli", "--json")
    assert (as_json(out)["new"], as_json(out)["duplicate"]) == (0, 2)
    charged = {
        src: sorted(
            (r.project.code, r.quantity, r.charge_nok)
            for r in UsageRecord.objects.filter(source=src)
        )
        for src in ("api", "cli")
    }
    assert charged["api"] == charged["cli"] and len(charged["api"]) == 2

    issued = api(w.finance).post(
        "/api/invoices/issue/",
        {"period_start": f"{YEAR}-04-01", "period_end": f"{YEAR}-05-01"},
        format="json",
    )
    assert issued.status_code == 200, issued.content
    code, out = cli("invoice", "--start", f"{YEAR}-05-01", "--end", f"{YEAR}-06-01", "--json")
    assert code == 0, out
    april = Invoice.objects.filter(period_start=dt.date(YEAR, 4, 1)).order_by("pk")
    may = Invoice.objects.filter(period_start=dt.date(YEAR, 5, 1)).order_by("pk")
    assert {i.organisation for i in april} == {i.organisation for i in may} >= {w.uio}
    assert sorted((x["id"], Decimal(x["total_nok"])) for x in issued.json()) == [
        (i.pk, i.total_nok) for i in april
    ]
    assert sorted((x["organisation"], Decimal(x["total_nok"])) for x in as_json(out)) == sorted(
        (str(i.organisation), i.total_nok) for i in may
    )
    # The same use in each month is charged the same on UiO's invoice.
    used = [
        sorted(
            (line.project_id, line.quantity, line.amount_nok)
            for line in i.lines.filter(quantity=500)
        )
        for i in (april.get(organisation=w.uio), may.get(organisation=w.uio))
    ]
    assert used[0] == used[1] and len(used[0]) == 2, used

    # A period overlapping an issued invoice: the same refusal, nothing issued.
    refused = api(w.finance).post(
        "/api/invoices/issue/",
        {"period_start": f"{YEAR}-02-01", "period_end": f"{YEAR}-03-01"},
        format="json",
    )
    assert refused.status_code == 400
    (text,) = refused.json()["detail"]
    assert "overlaps invoice" in text
    code, out = cli("invoice", "--start", f"{YEAR}-02-01", "--end", f"{YEAR}-03-01")
    assert (code, out.strip()) == (2, f"error: {text}")
    assert not Invoice.objects.filter(period_start=dt.date(YEAR, 2, 1)).exists()


def test_a_bad_usage_record_is_refused_alike(wp_world, api, cli, tmp_path):
    w = wp_world
    bad = _records(w, 4, 100)
    bad[1]["quantity"] = "-5"
    refused = api(w.operator).post(
        "/api/usage/import/", {"source": "api", "records": bad}, format="json"
    )
    assert refused.status_code == 400
    body = refused.json()
    texts = body["detail"] if isinstance(body["detail"], list) else [body["detail"]]
    usage = tmp_path / "bad.json"
    usage.write_text(json.dumps(bad))
    code, out = cli("import-usage", str(usage), "--source", "api")
    assert code == 2
    # The same words after the file's name (the API's "file" is called "api").
    (text,) = texts
    assert text.startswith("usage file api refused, nothing imported: line 2: quantity -5 ")
    assert out.strip() == f"error: usage file {usage}" + text.removeprefix("usage file api")
    assert not UsageRecord.objects.filter(source="api").exists()
    # Importing is the operators'.
    forbidden = api(w.finance).post(
        "/api/usage/import/", {"source": "api", "records": _records(w, 4, 1)}, format="json"
    )
    assert forbidden.status_code == 403


# --- the catalogue and the organisations --------------------------------------------------


def _system(name: str, **extra) -> dict:
    return {
        "name": name,
        "slug": name.lower(),
        "kind": "national",
        "operator": "Sigma2",
        "country": "NO",
        "security_zone": "open",
        "availability_tier": "2",
        "commissioned": f"{YEAR}-01-01",
        "decommissioned": "",
        "power_kw": "100.0",
        "pue": "1.10",
        "description": "",
        "source": "",
        **extra,
    }


def test_systems_through_api_and_admin(wp_world, api, admin):
    w = wp_world
    body = {k: v for k, v in _system("Olivia").items() if v != ""}
    made = api(w.operator).post("/api/systems/", body, format="json")
    assert made.status_code == 201, made.content
    added = admin(w.operator).post("/admin/catalog/system/add/", _system("Fram"))
    assert added.status_code == 302, added.content.decode()[:3000]
    made_systems = [System.objects.get(name=n) for n in ("Olivia", "Fram")]
    assert {
        (s.kind, s.operator, s.country, s.availability_tier, s.commissioned, s.power_kw)
        for s in made_systems
    } == {("national", "Sigma2", "NO", 2, dt.date(YEAR, 1, 1), Decimal("100.0"))}

    backwards = {"decommissioned": f"{YEAR - 1}-01-01"}
    refused = api(w.operator).patch(f"/api/systems/{made_systems[0].pk}/", backwards, format="json")
    assert refused.status_code == 400
    (text,) = refused.json()["decommissioned"]
    page = admin(w.operator).post(
        f"/admin/catalog/system/{made_systems[1].pk}/change/", _system("Fram", **backwards)
    )
    assert page.status_code == 200 and shown(text, page)
    assert not System.objects.filter(decommissioned__isnull=False).exists()


def test_organisations_through_api_and_admin(wp_world, api, admin):
    w = wp_world
    fields = {"kind": "research", "country": "NO", "sector": ""}
    made = api(w.operator).post(
        "/api/organisations/", {"name": "NTNU", "short_name": "NTNU", **fields}, format="json"
    )
    assert made.status_code == 201, made.content
    added = admin(w.operator).post(
        "/admin/parties/organisation/add/", {"name": "UiT", "short_name": "UiT", **fields}
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    made_orgs = Organisation.objects.filter(name__in=["NTNU", "UiT"]).order_by("name")
    assert [(o.name, o.kind, o.country, o.is_sme) for o in made_orgs] == [
        ("NTNU", "research", "NO", False),
        ("UiT", "research", "NO", False),
    ]
