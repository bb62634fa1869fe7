"""Slurm sync runs, round simulation and planning through the API, with their access rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from regnekraft.allocation import services
from regnekraft.allocation.models import SimulationRun
from regnekraft.slurm.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def _client(*roles):
    person = f.person(f.organisation(), *roles)
    client = APIClient()
    client.force_authenticate(person.user)
    return client


def test_sync_runs_for_operators_only():
    SyncRun.objects.create(cluster="betzy", mode="apply", ok=True, changes=2, applied=2)
    r = _client("operator").get("/api/slurm/runs/")
    assert r.status_code == 200 and r.json()["results"][0]["cluster"] == "betzy"
    assert _client("pi").get("/api/slurm/runs/").status_code == 403


def test_round_simulation(traces):
    rc = f.resource_class(units=100)
    app = f.application(f.call(), f.project(code="nn1k"), {rc: 3000})
    services.decide_application(app, {rc.pk: Decimal(3000)})
    url = f"/api/calls/{app.call.pk}/simulation/"
    r = _client("operator").get(url)
    assert r.status_code == 200, r.content
    assert [s["jobs"] for s in r.json()["scenarios"]] == [3145, 3145]
    assert _client("pi").get(url).status_code == 403
    bad = _client("operator").get(url, {"trace": "../../etc/passwd"})
    assert bad.status_code == 400 and "unknown trace" in str(bad.json()["trace"])
    research = r.json()["scenarios"][0]["user_groups"]["research"]
    assert research["entitlement"] == pytest.approx(1.0)  # the only project, a research one
    assert SimulationRun.objects.count() == 0  # GET keeps nothing


def test_stored_round_simulation_for_the_dashboard(traces):
    rc = f.resource_class(units=100)
    app = f.application(f.call(), f.project(code="nn1k"), {rc: 3000})
    services.decide_application(app, {rc.pk: Decimal(3000)})
    url = f"/api/calls/{app.call.pk}/simulation/?trace=hpc2n-first3171.swf"
    assert _client("pi").post(url).status_code == 403
    assert SimulationRun.objects.count() == 0
    r = _client("decision_maker").post(url)
    assert r.status_code == 201, r.content
    run = SimulationRun.objects.get(pk=r.json()["id"])
    assert (run.call, run.trace, run.proposed) == (app.call, "hpc2n-first3171.swf", False)
    assert run.results == r.json()["scenarios"] and len(run.results) == 2


def test_plan_and_economics_for_planners():
    f.resource_class(f.system("Betzy"), units=172_032)
    plan = _client("decision_maker").get("/api/planning/plan/")
    assert plan.status_code == 200 and plan.json()
    eco = _client("finance").get("/api/planning/economics/", {"runs": 0})
    assert eco.status_code == 200 and eco.json()
    assert _client("pi").get("/api/planning/plan/").status_code == 403
    assert _client("finance").get("/api/planning/economics/", {"runs": -1}).status_code == 400


def test_a_coordinator_without_a_sector_sees_no_sector_less_projects():
    from django.core.exceptions import ValidationError

    from regnekraft import access
    from regnekraft.parties.models import Role

    f.project(code="nn1k")
    blank = f.person(f.organisation("public", sector="Helse"))
    Role.objects.create(
        person=blank, kind="coordinator", sector=""
    )  # as a careless raw insert would
    assert list(access.visible_projects(blank.user)) == []
    with pytest.raises(ValidationError):
        Role(person=blank, kind="coordinator", sector=" ").full_clean()
