"""Calls, applications, reviews, decisions and the policy knobs: each write driven through the
API, the portal, the admin and the command line (where they offer it) gives the same result
and the same refusal in the same words, because each interface calls one service."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from regnekraft.allocation import applications
from regnekraft.allocation.models import (
    Allocation,
    Application,
    ApplicationStatus,
    Call,
    CallStatus,
    PolicySettings,
    Review,
)
from regnekraft.audit.models import AuditEntry
from regnekraft.parties.actors import SYSTEM
from tests import factories as f
from tests.allocation.conftest import admin_messages, as_json, page_messages, shown
from tests.allocation.conftest import in_bokmal as _in_bokmal
from tests.api.conftest import YEAR

SCORES = {"excellence": 6, "impact": 5, "feasibility": 4}


def _review_form(scores: dict, comment: str = "") -> dict:
    return {"comment": comment, **{f"score_{c}": str(s) for c, s in scores.items()}}


# --- the two rules that were unified --------------------------------------------------------


def test_a_review_changes_only_while_its_application_is_submitted(wp_world, api, web):
    """Rule (1): the API let a review of a withdrawn application change until it was decided;
    now the API and the portal both refuse, in the same words."""
    w = wp_world
    changed = api(w.reviewer_a).patch(
        f"/api/reviews/{w.review_a.pk}/",
        {"scores": SCORES, "comment": "API", "submitted": True},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    posted = web(w.reviewer_b).post(f"/reviews/{w.review_b.pk}/", _review_form(SCORES, "web"))
    assert posted.status_code == 302, posted.content.decode()[:3000]
    saved = Review.objects.filter(pk__in=[w.review_a.pk, w.review_b.pk]).order_by("pk")
    assert [(r.scores, r.submitted, r.comment) for r in saved] == [
        (SCORES, True, "API"),
        (SCORES, True, "web"),
    ]

    for app in (w.app_a, w.app_b):
        applications.withdraw_application(SYSTEM, app)
    refused = api(w.reviewer_a).patch(
        f"/api/reviews/{w.review_a.pk}/", {"comment": "after"}, format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["application"]
    assert text == _in_bokmal(
        "The application is %(status)s; its reviews can no longer change.",
        status=ApplicationStatus.WITHDRAWN.label.lower(),
    )
    page = web(w.reviewer_b).post(
        f"/reviews/{w.review_b.pk}/", _review_form({**SCORES, "impact": 1}, "after")
    )
    assert page.status_code == 200 and shown(text, page)
    saved = Review.objects.filter(pk__in=[w.review_a.pk, w.review_b.pk]).order_by("pk")
    assert [(r.scores, r.comment) for r in saved] == [(SCORES, "API"), (SCORES, "web")]


def _application_body(w, call, project, amount: str = "1000") -> dict:
    return {
        "call": call.pk,
        "project": project.pk,
        "justification": "Ocean runs",
        "support_hours": "0",
        "requests": [{"resource_class": w.cpu.pk, "amount": amount}],
    }


def _application_form(w, amount: str = "1000") -> dict:
    return {"justification": "Ocean runs", "support_hours": "0", f"rc_{w.cpu.pk}": amount}


def _not_open_text(call) -> str:
    return _in_bokmal(
        "The call %(call)s is not open for applications (status %(status)s).",
        call=call,
        status=call.status,
    )


def test_applying_in_an_open_call_through_api_and_portal(wp_world, api, web):
    w = wp_world
    made = api(w.pi_a).post(
        "/api/applications/", _application_body(w, w.open_call, w.proj_a), format="json"
    )
    assert made.status_code == 201, made.content
    posted = web(w.pi_b).post(
        f"/pi/apply/{w.open_call.pk}/{w.proj_b.code}/",
        {**_application_form(w), "members": []},
    )
    assert posted.status_code == 302, posted.content.decode()[:3000]
    made_apps = Application.objects.filter(call=w.open_call).order_by("pk")
    assert [
        (
            a.project,
            a.status,
            a.justification,
            [(r.resource_class, r.amount) for r in a.requests.all()],
        )
        for a in made_apps
    ] == [
        (p, ApplicationStatus.SUBMITTED, "Ocean runs", [(w.cpu, Decimal(1000))])
        for p in (w.proj_a, w.proj_b)
    ]

    # Applying twice: the portal gives the service's refusal on the form.
    page = web(w.pi_b).post(f"/pi/apply/{w.open_call.pk}/{w.proj_b.code}/", _application_form(w))
    assert page.status_code == 200 and shown(_already_applied(w.proj_b), page)
    assert Application.objects.filter(call=w.open_call).count() == 2


def _already_applied(project) -> str:
    return _in_bokmal("Project %(code)s has already applied in this call.", code=project.code)


def test_applying_twice_is_refused_alike(wp_world, api, web):
    w = wp_world
    for person, project in ((w.pi_a, w.proj_a), (w.pi_b, w.proj_b)):
        applications.submit_application(
            person.user, w.open_call, project, justification="x", requests={w.cpu: Decimal(1)}
        )
    again = api(w.pi_a).post(
        "/api/applications/", _application_body(w, w.open_call, w.proj_a), format="json"
    )
    assert again.status_code == 400
    assert again.json()["project"] == [_already_applied(w.proj_a)]
    page = web(w.pi_b).post(f"/pi/apply/{w.open_call.pk}/{w.proj_b.code}/", _application_form(w))
    assert page.status_code == 200 and shown(_already_applied(w.proj_b), page)
    assert Application.objects.filter(call=w.open_call).count() == 2


def test_the_api_refuses_an_application_in_a_call_in_review(wp_world, api):
    """Rule (2): "the call must be open" is one rule (calls.require_open)."""
    w = wp_world
    Application.objects.filter(call=w.review_call).delete()
    refused = api(w.pi_a).post(
        "/api/applications/", _application_body(w, w.review_call, w.proj_a), format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["call"] == [_not_open_text(w.review_call)]
    # Changing an application once the call is in review: the same rule, the same words.
    app = applications.submit_application(
        SYSTEM, w.open_call, w.proj_a, justification="x", requests={w.cpu: Decimal(1)}
    )
    w.open_call.status = CallStatus.REVIEW
    w.open_call.save()
    changed = api(w.pi_a).patch(
        f"/api/applications/{app.pk}/", {"justification": "later"}, format="json"
    )
    assert changed.status_code == 400
    assert changed.json()["call"] == [_not_open_text(w.open_call)]
    app.refresh_from_db()
    assert app.justification == "x"
    assert not Application.objects.filter(call=w.review_call).exists()


def test_the_portal_refuses_an_application_in_a_call_in_review_in_the_apis_words(
    wp_world, api, web
):
    w = wp_world
    Application.objects.filter(call=w.review_call).delete()
    refused = api(w.pi_a).post(
        "/api/applications/", _application_body(w, w.review_call, w.proj_a), format="json"
    )
    (text,) = refused.json()["call"]
    page = web(w.pi_b).post(f"/pi/apply/{w.review_call.pk}/{w.proj_b.code}/", _application_form(w))
    assert page.status_code == 200 and shown(text, page)
    assert not Application.objects.filter(call=w.review_call).exists()


# --- calls -------------------------------------------------------------------------------


def _call_fields(name: str, year: int) -> dict:
    return {
        "name": name,
        "opens": f"{year - 1}-09-01",
        "closes": f"{year - 1}-10-01",
        "period_start": f"{year}-01-01",
        "period_end": f"{year}-07-01",
    }


def test_calls_through_api_portal_and_admin(wp_world, api, web, admin):
    w = wp_world
    made = api(w.operator).post("/api/calls/", _call_fields("API call", YEAR + 1), format="json")
    assert made.status_code == 201, made.content
    posted = web(w.operator).post("/operator/calls/", _call_fields("Portal call", YEAR + 1))
    assert posted.status_code == 302
    added = admin(w.operator).post(
        "/admin/allocation/call/add/", {**_call_fields("Admin call", YEAR + 1), "status": "draft"}
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    names = ("API call", "Portal call", "Admin call")
    calls = [Call.objects.get(name=n) for n in names]
    assert {(c.status, c.opens, c.closes, c.period_start, c.period_end) for c in calls} == {
        (
            CallStatus.DRAFT,
            dt.date(YEAR, 9, 1),
            dt.date(YEAR, 10, 1),
            dt.date(YEAR + 1, 1, 1),
            dt.date(YEAR + 1, 7, 1),
        )
    }

    # Opening: the API's PATCH, the portal's status button and the admin's change form.
    api_call, portal_call, admin_call = calls
    opened = api(w.operator).patch(f"/api/calls/{api_call.pk}/", {"status": "open"}, format="json")
    assert opened.status_code == 200, opened.content
    web(w.operator).post("/operator/calls/", {"call": portal_call.pk, "status": "open"})
    admin(w.operator).post(
        f"/admin/allocation/call/{admin_call.pk}/change/",
        {**_call_fields("Admin call", YEAR + 1), "status": "open"},
    )
    assert [Call.objects.get(pk=c.pk).status for c in calls] == [CallStatus.OPEN] * 3


def test_a_decided_call_keeps_its_status_alike(wp_world, api, web, admin):
    w = wp_world
    applications.decide_round(SYSTEM, w.review_call, {})  # every application rejected
    refused = api(w.operator).patch(
        f"/api/calls/{w.review_call.pk}/", {"status": "open"}, format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["status"]
    assert text == _in_bokmal("a decided call cannot change status")
    page = web(w.operator).post(
        "/operator/calls/", {"call": w.review_call.pk, "status": "open"}, follow=True
    )
    assert text in page_messages(page)
    changed = admin(w.operator).post(
        f"/admin/allocation/call/{w.review_call.pk}/change/",
        {
            "name": w.review_call.name,
            "opens": str(w.review_call.opens),
            "closes": str(w.review_call.closes),
            "period_start": str(w.review_call.period_start),
            "period_end": str(w.review_call.period_end),
            "status": "open",
        },
        follow=True,
    )
    assert f"Refused: {text}" in admin_messages(changed)
    # Nor does anyone make a call decided by hand.
    made_decided = api(w.operator).patch(
        f"/api/calls/{w.open_call.pk}/", {"status": "decided"}, format="json"
    )
    assert made_decided.json()["status"] == [
        _in_bokmal("a call becomes decided only by deciding its round")
    ]
    assert Call.objects.get(pk=w.review_call.pk).status == CallStatus.DECIDED
    assert Call.objects.get(pk=w.open_call.pk).status == CallStatus.OPEN


def test_deleting_calls_through_api_and_admin(wp_world, api, admin):
    w = wp_world
    empty = [f.call(f"Empty {i}") for i in (1, 2)]
    assert api(w.operator).delete(f"/api/calls/{empty[0].pk}/").status_code == 204
    deleted = admin(w.operator).post(
        f"/admin/allocation/call/{empty[1].pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not Call.objects.filter(pk__in=[c.pk for c in empty]).exists()

    # A call with applications stays: the API says by what, the admin lists them.
    refused = api(w.operator).delete(f"/api/calls/{w.review_call.pk}/")
    assert refused.status_code == 409
    assert refused.json()["detail"] == "still in use by application; it cannot be deleted"
    kept = admin(w.operator).post(
        f"/admin/allocation/call/{w.review_call.pk}/delete/", {"post": "yes"}
    )
    assert kept.status_code == 200 and "<li>application</li>" in kept.content.decode()
    assert Call.objects.filter(pk=w.review_call.pk).exists()
    refused = api(w.pi_a).delete(f"/api/calls/{w.open_call.pk}/")
    assert refused.status_code == 403


# --- reviewers -----------------------------------------------------------------------------


def test_assigning_reviewers_through_api_and_portal(wp_world, api, web):
    w = wp_world
    made = api(w.operator).post(
        "/api/reviews/", {"application": w.app_a.pk, "reviewer": w.reviewer_b.pk}, format="json"
    )
    assert made.status_code == 201, made.content
    posted = web(w.operator).post(
        f"/operator/calls/{w.review_call.pk}/",
        {"action": "assign", "application": w.app_b.pk, "reviewer": w.reviewer_a.pk},
    )
    assert posted.status_code == 302
    assert set(Review.objects.values_list("application", "reviewer")) == {
        (w.app_a.pk, w.reviewer_a.pk),
        (w.app_b.pk, w.reviewer_b.pk),
        (w.app_a.pk, w.reviewer_b.pk),
        (w.app_b.pk, w.reviewer_a.pk),
    }

    # Nobody reviews a project they take part in.
    w.proj_a.members.add(w.reviewer_a)
    Review.objects.filter(reviewer=w.reviewer_a).delete()
    refused = api(w.operator).post(
        "/api/reviews/", {"application": w.app_a.pk, "reviewer": w.reviewer_a.pk}, format="json"
    )
    assert refused.status_code == 400
    (text,) = refused.json()["reviewer"]
    assert text == f"{w.reviewer_a} takes part in {w.proj_a.code} and cannot review it"
    page = web(w.operator).post(
        f"/operator/calls/{w.review_call.pk}/",
        {"action": "assign", "application": w.app_a.pk, "reviewer": w.reviewer_a.pk},
        follow=True,
    )
    assert text in page_messages(page)
    assert not Review.objects.filter(reviewer=w.reviewer_a).exists()


# --- decisions ---------------------------------------------------------------------------


def test_deciding_one_application_through_api_cli_and_admin(wp_world, api, admin, cli):
    w = wp_world
    third = f.application(w.review_call, f.project(w.uio, code="nn0003k"), {w.cpu: 300_000})
    decided = api(w.operator).post(
        f"/api/applications/{w.app_a.pk}/decide/",
        {"grants": [{"resource_class": w.cpu.pk, "amount": "100000"}]},
        format="json",
    )
    assert decided.status_code == 200, decided.content
    code, out = cli("decide", str(w.app_b.pk), "--grant", f"{w.cpu.pk}=200000", "--json")
    assert code == 0, out
    action = admin(w.operator).post(
        "/admin/allocation/application/",
        {"action": "grant_as_requested", "_selected_action": [third.pk]},
    )
    assert action.status_code == 302
    made = Allocation.objects.filter(application__call=w.review_call).order_by("application")
    assert [(a.application_id, a.amount, a.price_category, a.source) for a in made] == [
        (w.app_a.pk, Decimal(100_000), "A", "call"),
        (w.app_b.pk, Decimal(200_000), "A", "call"),
        (third.pk, Decimal(300_000), "A", "call"),
    ]
    assert [a.decided_by for a in made] == [w.operator.user, None, w.operator.user]
    assert set(Application.objects.filter(call=w.review_call).values_list("status", flat=True)) == {
        ApplicationStatus.DECIDED
    }


def test_a_withdrawn_application_is_not_decided_alike(wp_world, api, admin, cli):
    w = wp_world
    for app in (w.app_a, w.app_b):
        applications.withdraw_application(w.pi_a.user if app == w.app_a else w.pi_b.user, app)
    refused = api(w.operator).post(
        f"/api/applications/{w.app_a.pk}/decide/",
        {"grants": [{"resource_class": w.cpu.pk, "amount": "1000"}]},
        format="json",
    )
    assert refused.status_code == 400
    (text,) = refused.json()["status"]
    assert text == _in_bokmal("The application was withdrawn.")
    code, out = cli("decide", str(w.app_b.pk), "--grant", f"{w.cpu.pk}=1000")
    assert (code, out.strip()) == (2, f"error: {text}")
    action = admin(w.operator).post(
        "/admin/allocation/application/",
        {"action": "grant_as_requested", "_selected_action": [w.app_a.pk]},
        follow=True,
    )
    assert f"{w.app_a}: refused: {text}" in admin_messages(action)
    assert not Allocation.objects.filter(application__call=w.review_call).exists()
    # Deciding is the operators': the API and the CLI (--as) refuse anyone else alike.
    forbidden = api(w.pi_a).post(
        f"/api/applications/{w.app_a.pk}/decide/", {"grants": []}, format="json"
    )
    assert forbidden.status_code == 403
    code, out = cli("decide", str(w.app_a.pk), "--as", w.pi_a.user.username)
    assert (code, out.strip()) == (2, f"error: {forbidden.json()['detail']}")


def _round_call(w, name: str):
    """A call in review with two reviewed applications the optimiser grants in full."""
    call = f.call(name)
    apps = [
        f.application(call, w.proj_a, {w.cpu: 100_000}),
        f.application(call, w.proj_b, {w.cpu: 200_000}),
    ]
    for app in apps:
        Review.objects.create(application=app, reviewer=w.reviewer_a, scores=SCORES, submitted=True)
    return call, apps


def test_deciding_a_round_through_api_portal_and_cli(wp_world, api, web, cli):
    w = wp_world
    rounds = {name: _round_call(w, name) for name in ("R-api", "R-portal", "R-cli")}
    call, (a, b) = rounds["R-api"]
    decided = api(w.operator).post(
        f"/api/calls/{call.pk}/decide/",
        {
            "grants": [
                {"application": a.pk, "resource_class": w.cpu.pk, "amount": "100000"},
                {"application": b.pk, "resource_class": w.cpu.pk, "amount": "200000"},
            ]
        },
        format="json",
    )
    assert decided.status_code == 200, decided.content
    call, (a, b) = rounds["R-portal"]
    posted = web(w.operator).post(
        f"/operator/calls/{call.pk}/",
        {f"g_{a.pk}_{w.cpu.pk}": "100000", f"g_{b.pk}_{w.cpu.pk}": "200000", "action": "decide"},
    )
    assert posted.status_code == 302, posted.content.decode()[:3000]
    code, out = cli("round", "decide", "R-cli", "--json")
    assert code == 0, out
    for name, (call, apps) in rounds.items():
        call.refresh_from_db()
        granted = [
            [(x.resource_class, x.amount, x.source) for x in app.allocations.all()] for app in apps
        ]
        assert (name, call.status, granted) == (
            name,
            CallStatus.DECIDED,
            [[(w.cpu, Decimal(100_000), "call")], [(w.cpu, Decimal(200_000), "call")]],
        )


def test_a_round_that_breaks_a_rule_is_refused_alike(wp_world, api, web, cli):
    w = wp_world
    too_much = {f"g_{w.app_a.pk}_{w.cpu.pk}": "99999999", f"g_{w.app_b.pk}_{w.cpu.pk}": "0"}
    refused = api(w.operator).post(
        f"/api/calls/{w.review_call.pk}/decide/",
        {"grants": [{"application": w.app_a.pk, "resource_class": w.cpu.pk, "amount": "99999999"}]},
        format="json",
    )
    assert refused.status_code == 409
    violations = refused.json()["violations"]
    assert [v["rule"] for v in violations] == ["capacity"]
    page = web(w.operator).post(
        f"/operator/calls/{w.review_call.pk}/", {**too_much, "action": "decide"}
    )
    assert page.status_code == 200
    assert [v.message for v in page.context["verdicts"]] == [v["message"] for v in violations]
    assert shown(violations[0]["message"], page)
    assert not Allocation.objects.filter(application__call=w.review_call).exists()
    assert Call.objects.get(pk=w.review_call.pk).status == CallStatus.REVIEW


# --- the policy knobs --------------------------------------------------------------------


def _policy_form(**changes) -> dict:
    current = PolicySettings.current()
    form = {
        "overbooking_factor": str(current.overbooking_factor),
        "economic_cap_share": str(current.economic_cap_share),
        "research_protected_share": str(current.research_protected_share),
        "security_partner_countries": json.dumps(current.security_partner_countries),
        "min_grant_share": str(current.min_grant_share),
        "warning_thresholds": json.dumps(current.warning_thresholds),
    }
    return {**form, **changes}


def test_policy_knobs_through_api_cli_and_admin(wp_world, api, admin, cli):
    w = wp_world
    changed = api(w.operator).patch(
        "/api/policy/settings/", {"economic_cap_share": "0.150"}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert PolicySettings.current().economic_cap_share == Decimal("0.150")
    code, out = cli("policy", "set", "economic_cap_share", "0.1", "--json")
    assert (code, Decimal(as_json(out)["economic_cap_share"])) == (0, Decimal("0.1"))
    assert PolicySettings.current().economic_cap_share == Decimal("0.100")
    saved = admin(w.operator).post(
        "/admin/allocation/policysettings/1/change/", _policy_form(economic_cap_share="0.070")
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert PolicySettings.current().economic_cap_share == Decimal("0.070")
    texts = list(
        AuditEntry.objects.filter(object_type__icontains="policy")
        .order_by("pk")
        .values_list("actor_label", flat=True)
    )
    assert texts[-3:] == [w.operator.user.username, "cli", w.operator.user.username]

    # Above the legal 20 %: the CLI and the admin refuse in the same words; the API refuses
    # too (its words: test_the_legal_cap_is_refused_in_the_same_words_by_api_and_cli).
    legal = _in_bokmal("cannot exceed the legal 20 % cap")
    code, out = cli("policy", "set", "economic_cap_share", "0.25")
    assert code == 2 and out.startswith("error: ") and out.strip().endswith(f"; {legal}")
    texts = out.strip().removeprefix("error: ").split("; ")
    page = admin(w.operator).post(
        "/admin/allocation/policysettings/1/change/", _policy_form(economic_cap_share="0.250")
    )
    assert page.status_code == 200 and all(shown(t, page) for t in texts)
    refused = api(w.operator).patch(
        "/api/policy/settings/", {"economic_cap_share": "0.250"}, format="json"
    )
    assert refused.status_code == 400 and "economic_cap_share" in refused.json()
    assert PolicySettings.current().economic_cap_share == Decimal("0.070")
    forbidden = api(w.pi_a).patch(
        "/api/policy/settings/", {"economic_cap_share": "0.01"}, format="json"
    )
    assert forbidden.status_code == 403
    code, out = cli("policy", "set", "economic_cap_share", "0.01", "--as", w.pi_a.user.username)
    assert (code, out.strip()) == (2, "error: only the role operator may change the policy rules")
    assert PolicySettings.current().economic_cap_share == Decimal("0.070")


def test_the_legal_cap_is_refused_in_the_same_words_by_api_and_cli(wp_world, api, cli):
    w = wp_world
    code, out = cli("policy", "set", "economic_cap_share", "0.25")
    assert code == 2
    refused = api(w.operator).patch(
        "/api/policy/settings/", {"economic_cap_share": "0.250"}, format="json"
    )
    assert refused.status_code == 400
    assert "; ".join(refused.json()["economic_cap_share"]) == out.strip().removeprefix("error: ")


def test_a_pi_is_refused_the_policy_knobs_in_the_same_words(wp_world, api, cli):
    w = wp_world
    forbidden = api(w.pi_a).patch(
        "/api/policy/settings/", {"economic_cap_share": "0.01"}, format="json"
    )
    assert forbidden.status_code == 403
    code, out = cli("policy", "set", "economic_cap_share", "0.01", "--as", w.pi_a.user.username)
    assert (code, out.strip()) == (2, f"error: {forbidden.json()['detail']}")


def test_a_pi_is_refused_deciding_a_round_in_the_same_words(wp_world, api, cli):
    w = wp_world
    forbidden = api(w.pi_a).post(
        f"/api/calls/{w.review_call.pk}/decide/", {"grants": []}, format="json"
    )
    assert forbidden.status_code == 403
    code, out = cli("round", "decide", w.review_call.name, "--as", w.pi_a.user.username)
    assert (code, out.strip()) == (2, f"error: {forbidden.json()['detail']}")
    assert Call.objects.get(pk=w.review_call.pk).status == CallStatus.REVIEW
