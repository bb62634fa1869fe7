"""Issue 10's integrity rules that live in the services: who may become a member, conflicts of
interest after assignment, scores before the decision, and deciding a round too early."""

from __future__ import annotations

from regnekraft.allocation import applications
from regnekraft.allocation.models import ApplicationStatus, CallStatus
from regnekraft.audit.models import AuditEntry
from regnekraft.parties.actors import SYSTEM
from tests import factories as f

SCORES = {"excellence": 6, "impact": 5, "feasibility": 4}


def test_a_pi_adds_only_people_of_the_projects_organisation(world, as_user):
    stranger = world.coordinator_climate  # at MET, not at UiO
    refused = as_user(world.pi_a).post(
        f"/api/projects/{world.proj_a.pk}/members/", {"person": stranger.pk}, format="json"
    )
    assert refused.status_code == 400
    assert "UiO" in str(refused.json()["person"]) and stranger.name not in str(refused.json())
    missing = as_user(world.pi_a).post(
        f"/api/projects/{world.proj_a.pk}/members/", {"person": 999_999}, format="json"
    )  # an outsider and nobody at all are refused alike: trying ids reveals no one
    assert str(missing.json()["person"]).replace("999999", "ID") == str(
        refused.json()["person"]
    ).replace(str(stranger.pk), "ID")
    assert not world.proj_a.members.filter(pk=stranger.pk).exists()
    # people a PI could list are still only their projects' people
    listed = as_user(world.pi_a).get("/api/people/", {"limit": 500}).json()["results"]
    assert stranger.pk not in {p["id"] for p in listed}
    added = as_user(world.operator).post(
        f"/api/projects/{world.proj_a.pk}/members/", {"person": stranger.pk}, format="json"
    )
    assert added.status_code == 201 and stranger.pk in added.json()["members"]


def test_membership_changes_are_audited(world, as_user):
    client = as_user(world.pi_a)
    client.post(
        f"/api/projects/{world.proj_a.pk}/members/", {"person": world.pi_b.pk}, format="json"
    )
    client.delete(f"/api/projects/{world.proj_a.pk}/members/{world.pi_b.pk}/")
    entries = AuditEntry.objects.filter(
        object_type="parties.Project",
        object_id=str(world.proj_a.pk),
        action__startswith="member-",
    )
    notes = [(e.action, e.after["person"], e.actor_label) for e in entries.order_by("pk")]
    assert notes == [
        ("member-added", world.pi_b.pk, "pi_a"),
        ("member-removed", world.pi_b.pk, "pi_a"),
    ]


def _submit_review(as_user, world):
    return as_user(world.reviewer_a).patch(
        f"/api/reviews/{world.review_a.pk}/", {"scores": SCORES, "submitted": True}, format="json"
    )


def test_a_reviewer_who_joins_the_project_later_no_longer_counts(world, as_user):
    assert _submit_review(as_user, world).status_code == 200
    world.app_a.refresh_from_db()
    assert world.app_a.score() is not None
    # the PI cannot add a reviewer of another organisation; an operator can, after assignment
    as_user(world.operator).post(
        f"/api/projects/{world.proj_a.pk}/members/", {"person": world.reviewer_a.pk}, format="json"
    )
    assert world.app_a.score() is None  # the conflict is checked when the score is counted
    again = _submit_review(as_user, world)  # and when the review is saved
    assert again.status_code == 400
    assert world.proj_a.code in str(again.json()["conflict_of_interest"])


def test_a_reviewer_who_declares_a_conflict_loses_the_application(world, as_user):
    client = as_user(world.reviewer_a)
    assert client.get(f"/api/applications/{world.app_a.pk}/").status_code == 200
    declared = client.patch(
        f"/api/reviews/{world.review_a.pk}/", {"conflict_of_interest": True}, format="json"
    )
    assert declared.status_code == 200
    assert client.get(f"/api/applications/{world.app_a.pk}/").status_code == 404


def test_scores_are_hidden_from_applicants_until_the_round_is_decided(world, as_user):
    _submit_review(as_user, world)
    url = f"/api/applications/{world.app_a.pk}/"
    assert as_user(world.pi_a).get(url).json()["score"] is None
    assert as_user(world.operator).get(url).json()["score"] == "5.000"
    applications.decide_round(SYSTEM, world.review_call, {})
    assert as_user(world.pi_a).get(url).json()["score"] == "5.000"


def test_an_open_call_is_decided_only_with_a_reason(world, as_user):
    call = world.open_call
    app = f.application(call, world.proj_b, {world.cpu: 1000})
    url = f"/api/calls/{call.pk}/decide/"
    refused = as_user(world.operator).post(url, {"grants": []}, format="json")
    assert refused.status_code == 400 and "review" in str(refused.json()["status"])
    app.refresh_from_db()
    assert app.status == ApplicationStatus.SUBMITTED
    forced = as_user(world.operator).post(
        url, {"grants": [], "force_reason": "board decision 12/2026"}, format="json"
    )
    assert forced.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.DECIDED
    note = AuditEntry.objects.get(action="force-decide", object_id=str(call.pk))
    assert (note.after["reason"], note.actor_label) == ("board decision 12/2026", "operator")


def test_a_pi_sees_only_their_projects_lines_on_the_organisations_invoice(world, as_user):
    url = f"/api/invoices/{world.invoice_uio.pk}/"
    mine = as_user(world.pi_a).get(url).json()
    assert (mine["whole"], mine["total_nok"]) == (False, "40.00")
    assert {line["project"] for line in mine["lines"]} == {world.proj_a.pk}
    other = as_user(world.pi_b).get(url).json()  # same organisation, another project
    assert (other["whole"], other["total_nok"], other["lines"]) == (False, "0.00", [])
    whole = as_user(world.finance).get(url).json()
    assert (whole["whole"], whole["total_nok"]) == (True, "40.00")


def test_the_dry_run_answers_only_for_order_lines_one_may_see(world, as_user):
    line = world.order_fhi.lines.get()  # health's order; the coordinator is climate's
    body = {
        "project": world.proj_met.pk,
        "resource_class": world.cpu.pk,
        "amount": "10",
        "start": f"{f.YEAR}-01-01",
        "end": f"{f.YEAR + 1}-01-01",
        "order_line": line.pk,
    }
    refused = as_user(world.coordinator_climate).post("/api/policy/check/", body, format="json")
    assert refused.status_code == 400 and "order_line" in refused.json()
    body["project"] = world.proj_fhi.pk
    allowed = as_user(world.coordinator_health).post("/api/policy/check/", body, format="json")
    assert allowed.status_code == 200 and "allowed" in allowed.json()


def test_a_catalogue_edit_never_reprices_rated_use(world, as_user):
    """The probe: PATCH kind=storage turned a 375,000 NOK preview into 82.6 MNOK."""
    operator = as_user(world.operator)
    refused = operator.patch(
        f"/api/resource-classes/{world.cpu.pk}/", {"kind": "storage"}, format="json"
    )
    assert refused.status_code == 400 and "reprice" in str(refused.json()["kind"])
    world.cpu.refresh_from_db()
    assert world.cpu.kind == "cpu"
    tier = operator.patch(
        f"/api/systems/{world.betzy.pk}/", {"availability_tier": 3}, format="json"
    )
    assert tier.status_code == 400 and "availability_tier" in tier.json()
    # a field that prices nothing, and a class with no rated use, may change
    renamed = operator.patch(
        f"/api/resource-classes/{world.cpu.pk}/", {"installed_units": 2000}, format="json"
    )
    assert renamed.status_code == 200
    unused = operator.patch(
        f"/api/resource-classes/{world.graded_cpu.pk}/", {"kind": "gpu"}, format="json"
    )
    assert unused.status_code == 200 and unused.json()["kind"] == "gpu"


def test_invoices_are_issued_only_for_periods_that_have_ended(world, as_user, settings):
    settings.REGNEKRAFT_TODAY = f"{f.YEAR}-05-15"
    body = {"period_start": f"{f.YEAR}-05-01", "period_end": f"{f.YEAR}-06-01"}
    refused = as_user(world.finance).post("/api/invoices/issue/", body, format="json")
    assert refused.status_code == 400 and f"{f.YEAR}-05-31" in str(refused.json()["period_end"])
    ended = {"period_start": f"{f.YEAR}-04-01", "period_end": f"{f.YEAR}-05-01"}
    assert (
        as_user(world.finance).post("/api/invoices/issue/", ended, format="json").status_code == 200
    )


def test_an_invisible_reference_answers_as_a_missing_one(world, as_user):
    def refusal(project_id: int) -> str:
        body = {
            "call": world.open_call.pk,
            "project": project_id,
            "justification": "x",
            "requests": [{"resource_class": world.cpu.pk, "amount": "10"}],
        }
        answer = as_user(world.pi_a).post("/api/applications/", body, format="json")
        assert answer.status_code == 400
        return str(answer.json()["project"]).replace(str(project_id), "ID")

    assert refusal(world.proj_met.pk) == refusal(999_999)  # someone else's project, none at all


def test_a_colocation_grant_needs_registered_colocated_equipment(world, as_user):
    body = {
        "project": world.proj_a.pk,
        "resource_class": world.cpu.pk,  # Betzy: shared national capacity, no equipment
        "amount": "100",
        "start": f"{f.YEAR}-01-01",
        "end": f"{f.YEAR + 1}-01-01",
    }
    refused = as_user(world.operator).post("/api/colocation-grants/", body, format="json")
    assert refused.status_code == 400 and "Betzy" in str(refused.json()["resource_class"])
    assert not world.proj_a.allocations.filter(source="colocation").exists()


def test_the_admin_cannot_reprice_rated_use_either(world, client):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.no", "pw")
    client.force_login(root)
    url = f"/admin/catalog/resourceclass/{world.cpu.pk}/change/"
    form = {
        "system": world.betzy.pk,
        "kind": "storage",
        "gpu_type": "",
        "installed_units": str(world.cpu.installed_units),
        "expected_availability": str(world.cpu.expected_availability),
        "orderable": "on",
        "public_description": "",
    }
    answer = client.post(url, form, follow=True)
    assert "reprice" in answer.content.decode()  # refused by the rule, not by a bad form
    world.cpu.refresh_from_db()
    assert world.cpu.kind == "cpu"
