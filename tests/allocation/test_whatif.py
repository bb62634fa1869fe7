"""A call's round replayed against a trace through the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regnekraft.allocation import services, whatif
from tests import factories as f

pytestmark = pytest.mark.django_db


def _round():
    rc = f.resource_class(units=100)
    c = f.call()
    uni, company = f.organisation(name="UiO"), f.organisation("industry", name="Acme")
    apps = [
        f.application(c, f.project(uni, code="nn1k"), {rc: 3000}),
        f.application(c, f.project(uni, code="nn2k"), {rc: 1000}),
        f.application(c, f.project(company, purpose="commercial", code="acme1"), {rc: 100}),
    ]
    for app in apps:
        services.decide_application(app, {rc.pk: Decimal(app.requests.get().amount)})
    return c


def test_the_scenario_carries_the_round_entitlements_and_policy():
    call = _round()
    sc = whatif.scenario(call)
    leaves = {g["name"]: g for g in sc["groups"] if g.get("parent")}
    assert {k: v["share"] for k, v in leaves.items()} == {
        "acme1": 100.0,
        "nn1k": 3000.0,
        "nn2k": 1000.0,
    }
    assert leaves["acme1"]["economic"] and leaves["acme1"]["parent"] == "industry"
    assert sc["scenarios"][0]["policy"]["economic_cap"] == 0.05


def test_replaying_a_trace_gives_results_per_scenario(traces):
    call = _round()
    results = whatif.simulate_round(call, traces / "hpc2n-first3171.swf")
    assert [r.summary["jobs"] for r in results] == [3145, 3145]
    assert {g["group"] for g in results[0].groups} >= {"nn1k", "nn2k", "acme1"}


def test_a_call_without_grants_is_refused_clearly():
    with pytest.raises(ValueError, match="no decided CPU grants"):
        whatif.scenario(f.call())


def test_the_summary_adds_projects_up_per_user_group_and_the_cli_stores_it(traces, capsys):
    import json

    from regnekraft.allocation.models import SimulationRun
    from regnekraft.cli import main

    call = _round()
    data = whatif.summary(call, traces / "hpc2n-first3171.swf")
    fair = data["scenarios"][0]
    assert set(fair["user_groups"]) == {"research", "industry"}
    research = fair["user_groups"]["research"]
    assert research["entitlement"] == pytest.approx(4000 / 4100)
    assert research["delivered_share"] == pytest.approx(
        sum(g["delivered_share"] for g in fair["groups"] if g["user_group"] == "research")
    )
    assert (
        main(
            [
                "round",
                "simulate",
                call.name,
                "--trace",
                str(traces / "hpc2n-first3171.swf"),
                "--store",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    run = SimulationRun.objects.get(pk=out["stored"])
    assert run.results == out["scenarios"] and run.results[0]["user_groups"] == fair["user_groups"]
