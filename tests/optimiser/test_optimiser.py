"""Round optimiser: hand-solved cases, the limits, eligibility, preferences, ties, reports."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal

import pytest

from regnekraft.allocation import optimiser
from regnekraft.allocation.optimiser import (
    Application,
    ResourceClass,
    greedy,
    propose,
    verify,
)

from .checks import violations, weight

INF = math.inf


def app(id, score, requests, *, economic=False, research=True):
    return Application(id=id, score=score, economic=economic, research=research, requests=requests)


def rclass(id, remaining, *, economic_room=INF, non_research_room=INF, capacity=None, unit=""):
    return ResourceClass(
        id=id,
        remaining=remaining,
        economic_room=economic_room,
        non_research_room=non_research_room,
        capacity=capacity,
        unit=unit,
    )


def fractions(p):
    return {g.application_id: g.fraction for g in p.grants}


# --------------------------------------------------------------------------- by hand


def test_small_case_solved_by_hand():
    """cpu 100, gpu 10, min_share 0.3.

    cpu: A1 (score 6, 60) is worth 6 per share of cpu, A2 (score 4, 50) 4: A1 in full,
    A2 gets the 40 left = 0.8 of its request. Objective 6 x 0.6 + 4 x 0.4 = 5.2.
    gpu: A3 (score 5, 8) in full leaves 2 for A4 (score 2, 10): 0.2 < min_share, so
    either A4 gets nothing (objective 5 x 0.8 = 4.0) or at least 3, which leaves A3 7
    (0.875): 5 x 0.7 + 2 x 0.3 = 4.1. The second is better: a greedy fill misses it.
    Total 9.3.
    """
    classes = [rclass("cpu", 100), rclass("gpu", 10)]
    apps = [
        app("A1", 6, {"cpu": 60}),
        app("A2", 4, {"cpu": 50}),
        app("A3", 5, {"gpu": 8}),
        app("A4", 2, {"gpu": 10}),
    ]
    p = propose(apps, classes, min_share=0.3, mip_rel_gap=0)
    f = fractions(p)
    assert f["A1"] == pytest.approx(1.0)
    assert f["A2"] == pytest.approx(0.8, rel=1e-6)
    assert f["A3"] == pytest.approx(0.875, rel=1e-6)
    assert f["A4"] == pytest.approx(0.3, rel=1e-6)
    assert p.objective == pytest.approx(9.3, rel=1e-6)
    assert p.status == "optimal"
    assert p.mip_gap is not None and p.mip_gap <= 1e-6
    assert p.grant("A3").amounts["gpu"] == pytest.approx(7.0, rel=1e-6)
    assert violations(apps, classes, p, min_share=0.3) == []

    # the greedy baseline takes A3 in full and cannot fit A4
    g = greedy(apps, classes, min_share=0.3)
    assert g["A3"] == pytest.approx(1.0) and g["A4"] == 0.0

    # both capacities bind; the shadow price per whole class is the marginal score:
    # A2 (4) on cpu, A3 (5) on gpu
    binding = {(c.kind, c.class_id): c for c in p.binding}
    assert set(binding) == {("capacity", "cpu"), ("capacity", "gpu")}
    assert binding["capacity", "cpu"].shadow_price * 100 == pytest.approx(4.0, rel=1e-6)
    assert binding["capacity", "gpu"].shadow_price * 10 == pytest.approx(5.0, rel=1e-6)
    assert binding["capacity", "gpu"].slack == pytest.approx(0.0, abs=1e-6)
    assert "partly funded" in p.grant("A2").reason
    assert p.grant("A1").reason == ""


def test_rooms_solved_by_hand():
    """cpu 100 with economic room 20 and non-research room 30, min_share 0.3.

    B1 (score 5, economic, industry, 40), B2 (score 4, public agency, 40), B3 (score 3,
    research, 100). Per cpu unit B1 is worth 0.05, B2 0.04, B3 0.03, so the
    non-research room should be filled: x1 + x2 <= 0.75 and x1 <= 0.5. x1 = 0.5 would
    leave x2 = 0.25 < min_share, so B2 takes 0.3 and B1 0.45; B3 gets the 70 left.
    Objective 5 x 0.18 + 4 x 0.12 + 3 x 0.7 = 3.48 (vs 3.4 with B2 left out).
    """
    classes = [rclass("cpu", 100, economic_room=20, non_research_room=30)]
    apps = [
        app("B1", 5, {"cpu": 40}, economic=True, research=False),
        app("B2", 4, {"cpu": 40}, research=False),
        app("B3", 3, {"cpu": 100}),
    ]
    p = propose(apps, classes, mip_rel_gap=0)
    f = fractions(p)
    assert f["B1"] == pytest.approx(0.45, rel=1e-6)
    assert f["B2"] == pytest.approx(0.3, rel=1e-6)
    assert f["B3"] == pytest.approx(0.7, rel=1e-6)
    assert p.objective == pytest.approx(3.48, rel=1e-6)
    report = {(c.kind, c.class_id): c for c in p.constraints}
    assert report["non_research", "cpu"].binding
    assert report["capacity", "cpu"].binding
    assert not report["economic", "cpu"].binding
    assert report["economic", "cpu"].slack == pytest.approx(2.0, rel=1e-6)
    assert violations(apps, classes, p, min_share=0.3) == []


# --------------------------------------------------------------------------- the rules


def random_round(seed, n=40, n_classes=4, scarce=0.4):
    rng = random.Random(seed)
    classes = []
    demand = {f"c{k}": 0.0 for k in range(n_classes)}
    apps = []
    for i in range(n):
        req = {}
        for cid in demand:
            if rng.random() < 0.5:
                req[cid] = round(rng.lognormvariate(3, 1), 2) + 0.01
                demand[cid] += req[cid]
        if not req:
            cid = rng.choice(sorted(demand))
            req[cid] = 10.0
            demand[cid] += 10.0
        research = rng.random() < 0.7
        apps.append(
            app(
                i,
                round(rng.uniform(1, 7), 1),
                req,
                economic=(not research and rng.random() < 0.5) or rng.random() < 0.05,
                research=research,
            )
        )
    for cid, d in demand.items():
        classes.append(
            rclass(cid, scarce * d, economic_room=0.1 * d, non_research_room=0.15 * d, capacity=d)
        )
    eligible = {(a.id, c) for a in apps for c in a.requests if rng.random() < 0.9}
    return apps, classes, eligible


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("min_share", [0.3, 0.55, 1.0])
def test_random_rounds_keep_every_limit(seed, min_share):
    apps, classes, eligible = random_round(seed)
    p = propose(apps, classes, eligible=eligible, min_share=min_share, time_limit=20)
    assert violations(apps, classes, p, min_share=min_share, eligible=eligible) == []
    assert verify(apps, classes, p, eligible=eligible) == []
    assert p.funded, "a scarce round still funds someone"


def test_min_share_is_respected():
    """Greedy filling would give the last one a sliver; the rule says 0 or >= min_share."""
    classes = [rclass("cpu", 100)]
    apps = [app(i, 7 - i * 0.1, {"cpu": 30}) for i in range(10)]
    for m in (0.1, 0.3, 0.5, 0.9, 1.0):
        p = propose(apps, classes, min_share=m, mip_rel_gap=0)
        for g in p.grants:
            assert g.fraction == 0.0 or m - 1e-9 <= g.fraction <= 1.0, (m, g)
        assert violations(apps, classes, p, min_share=m) == []
    # three in full would leave 10 = 0.33 of a request, below min_share 0.5: the
    # optimum fills all 100 another way (two in full, then 25 and 15)
    p = propose(apps, classes, min_share=0.5, mip_rel_gap=0)
    assert all(g.fraction == 0.0 or g.fraction >= 0.5 - 1e-9 for g in p.grants)
    assert sum(g.amounts["cpu"] for g in p.grants) == pytest.approx(100, rel=1e-6)


def test_capacity_never_exceeded():
    classes = [rclass("cpu", 1000, capacity=5000), rclass("gpu", 50, capacity=200)]
    apps = [app(i, 1 + i % 7, {"cpu": 90 + i, "gpu": 3 + i % 5}) for i in range(60)]
    p = propose(apps, classes)
    totals = p.totals()
    assert totals["cpu"] <= 1000
    assert totals["gpu"] <= 50
    assert any(c.binding for c in p.constraints if c.kind == "capacity")


def test_economic_room_respected():
    """E1 alone would take 50 of the cpu; the state-aid room allows 20 (0.4 of it)."""
    classes = [rclass("cpu", 100, economic_room=20)]
    apps = [
        app("E1", 9, {"cpu": 50}, economic=True, research=False),
        app("R1", 1, {"cpu": 100}),
    ]
    p = propose(apps, classes, mip_rel_gap=0)
    assert p.grant("E1").amounts["cpu"] == pytest.approx(20, rel=1e-6)
    assert p.grant("R1").amounts["cpu"] == pytest.approx(80, rel=1e-6)
    econ = next(c for c in p.constraints if c.kind == "economic")
    assert econ.binding and econ.used <= 20
    assert violations(apps, classes, p, min_share=0.3) == []
    # room below min_share x request: economic work gets nothing, with the reason
    p = propose(apps, [rclass("cpu", 100, economic_room=10)])
    assert p.grant("E1").fraction == 0.0
    assert "economic" in p.grant("E1").reason


def test_non_research_room_respected():
    """P1 (a public agency, not a research organisation) would take 80; the research
    protected share leaves 30 for non-research use."""
    classes = [rclass("cpu", 100, non_research_room=30)]
    apps = [
        app("P1", 8, {"cpu": 80}, research=False),
        app("R1", 2, {"cpu": 100}),
    ]
    p = propose(apps, classes, mip_rel_gap=0)
    assert p.grant("P1").amounts["cpu"] == pytest.approx(30, rel=1e-6)
    assert p.grant("R1").amounts["cpu"] == pytest.approx(70, rel=1e-6)
    nr = next(c for c in p.constraints if c.kind == "non_research")
    assert nr.binding and nr.used <= 30
    assert violations(apps, classes, p, min_share=0.3) == []


@pytest.mark.parametrize("dropped", [0, 1, 2], ids=["capacity", "economic", "non_research"])
def test_checks_catch_a_removed_constraint(monkeypatch, dropped):
    """Mutation test: switch one kind of limit off inside the optimiser and the
    independent checks above must see the violation (so they really test the rule)."""
    real = optimiser._row_kinds
    monkeypatch.setattr(
        optimiser, "_row_kinds", lambda a: tuple(j for j in real(a) if j != dropped)
    )
    cases = {
        0: ([rclass("cpu", 100)], [app("A", 5, {"cpu": 80}), app("B", 4, {"cpu": 80})]),
        1: (
            [rclass("cpu", 100, economic_room=20)],
            [app("E1", 9, {"cpu": 50}, economic=True, research=False), app("R1", 1, {"cpu": 100})],
        ),
        2: (
            [rclass("cpu", 100, non_research_room=30)],
            [app("P1", 8, {"cpu": 80}, research=False), app("R1", 2, {"cpu": 100})],
        ),
    }
    classes, apps = cases[dropped]
    p = propose(apps, classes, mip_rel_gap=0)
    assert violations(apps, classes, p, min_share=0.3), "a removed limit went unnoticed"
    assert verify(apps, classes, p)


# --------------------------------------------------------------------------- eligibility


def test_ineligible_lines_get_zero():
    classes = [rclass("cpu", 1000), rclass("gpu", 100), rclass("tsd", 100)]
    apps = [
        app("mixed", 5, {"cpu": 100, "gpu": 10}),
        app("none", 7, {"gpu": 50, "cpu": 50}),
        app("all", 3, {"tsd": 20}),
    ]
    eligible = {("mixed", "cpu"), ("all", "tsd")}
    p = propose(apps, classes, eligible=eligible)
    mixed = p.grant("mixed")
    assert mixed.fraction == pytest.approx(1.0)
    assert mixed.amounts == {"cpu": pytest.approx(100.0), "gpu": 0.0}
    assert "ineligible" in mixed.reason and "gpu" in mixed.reason
    none = p.grant("none")
    assert none.fraction == 0.0 and all(v == 0.0 for v in none.amounts.values())
    assert "no eligible line" in none.reason
    assert p.grant("all").amounts["tsd"] == pytest.approx(20.0)
    assert p.totals()["gpu"] == 0.0
    assert violations(apps, classes, p, min_share=0.3, eligible=eligible) == []
    # ineligible lines count neither for the objective nor for the limits
    assert p.grant("mixed").value == pytest.approx(weight(apps[0], classes, eligible))


def test_no_eligibility_set_means_all_lines_eligible():
    classes = [rclass("cpu", 1000), rclass("gpu", 100)]
    apps = [app(1, 5, {"cpu": 100, "gpu": 10})]
    p = propose(apps, classes)
    assert p.grant(1).amounts == {"cpu": pytest.approx(100.0), "gpu": pytest.approx(10.0)}


# --------------------------------------------------------------------------- preferences


def test_higher_score_preferred_when_capacity_is_scarce():
    classes = [rclass("gpu", 100)]
    apps = [app(i, s, {"gpu": 100}) for i, s in enumerate([3.0, 6.5, 4.2, 6.4, 1.0])]
    for order in (apps, apps[::-1]):
        p = propose(order, classes, min_share=1.0)
        assert [g.application_id for g in p.funded] == [1]
    # with room for two and a half, the best two in full and the third gets half
    p = propose(apps, [rclass("gpu", 250)], min_share=0.3)
    f = fractions(p)
    assert f[1] == pytest.approx(1) and f[3] == pytest.approx(1)
    assert f[2] == pytest.approx(0.5, rel=1e-6)
    assert f[0] == 0 and f[4] == 0


def test_value_counts_each_class_as_share_of_its_capacity():
    """Units differ: 1,000 core-hours of a 1e6 class weigh less than 10 GPU-hours of a
    1,000 class, even though the raw number is a hundred times larger."""
    classes = [rclass("cpu", 1000, capacity=1e6), rclass("gpu", 10, capacity=1000)]
    apps = [app("cpu-app", 5, {"cpu": 1000}), app("gpu-app", 5, {"gpu": 10})]
    p = propose(apps, classes)
    assert p.grant("cpu-app").value == pytest.approx(5 * 1000 / 1e6)
    assert p.grant("gpu-app").value == pytest.approx(5 * 10 / 1000)
    # one pool, two units: the fraction of a pool is what competes
    shared = [rclass("pool", 100)]
    apps = [app("big", 2, {"pool": 100}), app("small", 5, {"pool": 30})]
    f = fractions(propose(apps, shared))
    assert f["small"] == pytest.approx(1.0) and f["big"] == pytest.approx(0.7, rel=1e-6)


def test_ties_are_broken_by_id_whatever_the_input_order():
    classes = [rclass("cpu", 100)]
    twins = [app(k, 5.0, {"cpu": 100}) for k in (7, 3, 11, 5)]
    for order in (twins, twins[::-1], sorted(twins, key=lambda a: a.id)):
        p = propose(order, classes, min_share=1.0)
        assert [g.application_id for g in p.funded] == [3]
    # two and a half fit: 3 and 5 in full, 7 the half, 11 nothing
    p = propose(twins, [rclass("cpu", 250)], min_share=0.3)
    f = fractions(p)
    assert f[3] == pytest.approx(1) and f[5] == pytest.approx(1)
    assert f[7] == pytest.approx(0.5, rel=1e-6) and f[11] == 0
    # string ids order as strings
    named = [app(name, 4.0, {"cpu": 60}) for name in ("proj-b", "proj-a", "proj-c")]
    p = propose(named, [rclass("cpu", 60)], min_share=1.0)
    assert [g.application_id for g in p.funded] == ["proj-a"]


def test_deterministic_for_shuffled_input():
    apps, classes, eligible = random_round(11, n=80)
    first = propose(apps, classes, eligible=eligible)
    rng = random.Random(1)
    for _ in range(3):
        shuffled = apps[:]
        rng.shuffle(shuffled)
        again = propose(shuffled, classes[::-1], eligible=eligible)
        assert [(g.application_id, g.fraction) for g in again.grants] == [
            (g.application_id, g.fraction) for g in first.grants
        ]
        assert again.objective == first.objective


def test_zero_score_and_empty_requests_get_nothing():
    classes = [rclass("cpu", 100)]
    apps = [app(1, 0.0, {"cpu": 10}), app(2, 3.0, {}), app(3, 2.0, {"cpu": 10})]
    p = propose(apps, classes)
    assert p.grant(1).fraction == 0 and "score is 0" in p.grant(1).reason
    assert p.grant(2).fraction == 0 and p.grant(2).reason == "nothing requested"
    assert p.grant(3).fraction == pytest.approx(1.0)


def test_nothing_can_be_granted_is_a_trivial_proposal():
    p = propose([app(1, 3, {"cpu": 10})], [rclass("cpu", 0)])
    assert p.status == "trivial" and not p.funded
    assert "no remaining capacity" in p.grant(1).reason
    p = propose([], [rclass("cpu", 10)])
    assert p.grants == () and p.status == "trivial"
    assert p.constraints[0].used == 0


def test_negative_room_is_treated_as_none_left_with_a_warning():
    classes = [rclass("cpu", 100, economic_room=-5)]
    apps = [app("E", 9, {"cpu": 10}, economic=True, research=False), app("R", 1, {"cpu": 10})]
    p = propose(apps, classes)
    assert p.grant("E").fraction == 0
    assert p.grant("R").fraction == pytest.approx(1)
    assert any("economic_room is -5" in w for w in p.warnings)


def test_request_too_big_for_what_is_left_says_why():
    p = propose([app(1, 5, {"cpu": 1000})], [rclass("cpu", 100)], min_share=0.3)
    assert p.grant(1).fraction == 0
    assert "cannot fit" in p.grant(1).reason and "300" in p.grant(1).reason


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    "apps, classes, kwargs, message",
    [
        ([app(1, 5, {"cpu": -1})], [rclass("cpu", 10)], {}, "must be finite and > 0"),
        ([app(1, 5, {"cpu": 0})], [rclass("cpu", 10)], {}, "must be finite and > 0"),
        ([app(1, 5, {"cpu": math.nan})], [rclass("cpu", 10)], {}, "NaN"),
        ([app(1, 5, {"gpu": 1})], [rclass("cpu", 10)], {}, "unknown resource class 'gpu'"),
        ([app(1, -1, {"cpu": 1})], [rclass("cpu", 10)], {}, "score must be finite and >= 0"),
        ([app(1, 5, {"cpu": 1}), app(1, 4, {"cpu": 2})], [rclass("cpu", 10)], {}, "given twice"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", 10), rclass("cpu", 5)], {}, "given twice"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", 10)], {"min_share": 0}, "min_share"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", 10)], {"min_share": 1.5}, "min_share"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", 10)], {"min_share": -0.2}, "min_share"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", 10)], {"min_share": math.nan}, "min_share"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", 10)], {"time_limit": 0}, "time_limit"),
        (
            [app(1, 5, {"cpu": 1})],
            [rclass("cpu", 10)],
            {"eligible": [(2, "cpu")]},
            "unknown application 2",
        ),
        (
            [app(1, 5, {"cpu": 1})],
            [rclass("cpu", 10)],
            {"eligible": [(1, "gpu")]},
            "unknown resource class 'gpu'",
        ),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", INF)], {}, "give `capacity`"),
        ([app(1, 5, {"cpu": 1})], [rclass("cpu", math.nan)], {}, "NaN"),
        (
            [app(1, 5, {"cpu": 1}), app("x", 5, {"cpu": 1})],
            [rclass("cpu", 10)],
            {},
            "mutually comparable",
        ),
    ],
)
def test_bad_input_is_refused_clearly(apps, classes, kwargs, message):
    with pytest.raises(optimiser.OptimiserInputError, match=message):
        propose(apps, classes, **kwargs)


def test_input_errors_are_value_errors():
    with pytest.raises(ValueError):
        propose([app(1, 5, {"cpu": -1})], [rclass("cpu", 10)])


# --------------------------------------------------------------------------- reports


def test_decimal_inputs_and_rounded_amounts():
    classes = [
        ResourceClass(
            id="cpu",
            remaining=Decimal("1000.00"),
            economic_room=Decimal("50"),
            non_research_room=Decimal("300"),
            capacity=Decimal("4000"),
        )
    ]
    apps = [app(k, Decimal("4.25") + k, {"cpu": Decimal("333.33")}) for k in range(5)]
    p = propose(apps, classes)
    rounded = p.rounded("0.01")
    total = sum(v["cpu"] for v in rounded.values())
    assert total <= Decimal("1000.00")
    assert all(v["cpu"] == v["cpu"].quantize(Decimal("0.01")) for v in rounded.values())
    assert violations(apps, classes, p, min_share=0.3) == []


def test_report_is_json_ready_and_complete():
    apps, classes, eligible = random_round(3)
    p = propose(apps, classes, eligible=eligible)
    d = json.loads(json.dumps(p.to_dict()))
    assert d["status"] == "optimal"
    assert d["mip_gap"] <= optimiser.DEFAULT_MIP_REL_GAP + 1e-12
    assert len(d["grants"]) == len(apps)
    # every finite limit of every class is reported, with slack = limit - used
    assert len(d["constraints"]) == 3 * len(classes)
    for c in d["constraints"]:
        assert c["slack"] == pytest.approx(c["limit"] - c["used"])
        assert c["slack"] >= 0
        assert c["binding"] == (c["slack"] <= 1e-5 * c["limit"])
        if not c["binding"]:
            assert c["shadow_price"] == 0
    assert p.solve_seconds >= 0 and p.total_seconds >= p.solve_seconds
    assert p.dual_bound >= p.objective
    assert p.objective == pytest.approx(sum(g.value for g in p.grants))


def test_time_limit_still_gives_a_feasible_proposal():
    apps, classes, eligible = random_round(5, n=400, n_classes=6)
    p = propose(apps, classes, eligible=eligible, min_share=1.0, time_limit=0.5)
    assert p.status in {"optimal", "time_limit"}
    assert p.total_seconds < 10
    assert violations(apps, classes, p, min_share=1.0, eligible=eligible) == []
    assert p.objective > 0


def test_milp_beats_or_equals_greedy():
    for seed in range(4):
        apps, classes, eligible = random_round(seed, n=60)
        p = propose(apps, classes, eligible=eligible)
        g = greedy(apps, classes, eligible=eligible)
        g_obj = sum(weight(a, classes, eligible) * g[a.id] for a in apps)
        assert p.objective >= g_obj - 1e-9
