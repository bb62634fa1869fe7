"""Thresholds trigger investments with a lead time; the rolling four-year plan."""

import dataclasses
import datetime as dt

import pytest

from regnekraft.planning import capacity as cap
from regnekraft.planning import inputs
from regnekraft.planning import plan as pl
from regnekraft.planning.forecast import Forecast
from regnekraft.planning.model import Quarter, ResourceClass, System, quarter_range

CPU = ResourceClass("cpu", "core", True)
START = Quarter(2026, 1)


def linear_demand(cores_start, cores_per_quarter, periods):
    c = tuple((cores_start + i * cores_per_quarter) * q.hours for i, q in enumerate(periods))
    return Forecast(
        "cpu", "test", tuple(periods), c, tuple(x * 0.9 for x in c), tuple(x * 1.1 for x in c)
    )


@pytest.fixture
def small():
    system = System("Old", "NO", dt.date(2020, 1, 1), units={"cpu": 1000}, availability=1.0)
    periods = quarter_range(START, Quarter(2033, 4))
    # 600 busy cores growing by 20 a quarter: 75 % of 1000 is crossed when 600 + 20 i > 750,
    # i.e. from i = 8 (2028Q1).
    demand = linear_demand(600, 20, periods)
    option = pl.InvestmentOption(
        "cpu",
        "New",
        cost_per_unit_mnok=0.001,
        lead_time_quarters=3,
        module_units=100,
        availability=1.0,
        cover_quarters=8,
    )
    return system, demand, option


def test_demand_rule_triggers_at_the_crossing_and_orders_a_lead_time_ahead(small):
    system, demand, option = small
    rule = pl.DemandRule("cpu", ratio=0.75, quarters=2)
    p = pl.make_plan([system], [CPU], {"cpu": demand}, [rule], {"cpu": option}, START)
    assert p.crossings["cpu"].quarter == Quarter(2028, 1)
    first = next(a for a in p.actions if a.kind == "buy")
    assert first.online_quarter == Quarter(2028, 1)
    assert first.order_quarter == Quarter(2027, 2)  # 3 quarters of lead time
    assert first.year == 2027
    assert first.late_quarters == 0
    assert "75%" in first.reason and "2028Q1" in first.reason
    # Sized so that demand stays within 75 % over the cover window, in whole modules.
    assert first.units % 100 == 0
    window = quarter_range(first.online_quarter, first.online_quarter + 7)
    tl = cap.timeline(p.systems, CPU, window)
    assert all(demand.value(q) / tl.at(q) <= 0.75 + 1e-9 for q in window)
    assert first.cost_mnok == pytest.approx(first.units * 0.001)


def test_a_higher_threshold_moves_the_purchase_later(small):
    system, demand, option = small
    p75 = pl.make_plan(
        [system], [CPU], {"cpu": demand}, [pl.DemandRule("cpu", 0.75, 2)], {"cpu": option}, START
    )
    p85 = pl.make_plan(
        [system], [CPU], {"cpu": demand}, [pl.DemandRule("cpu", 0.85, 2)], {"cpu": option}, START
    )
    assert p85.crossings["cpu"].quarter > p75.crossings["cpu"].quarter


def test_late_purchase_is_ordered_now_and_flagged(small):
    system, _, option = small
    periods = quarter_range(START, Quarter(2033, 4))
    demand = linear_demand(900, 10, periods)  # already above 75 %
    p = pl.make_plan(
        [system], [CPU], {"cpu": demand}, [pl.DemandRule("cpu", 0.75, 1)], {"cpu": option}, START
    )
    buy = next(a for a in p.actions if a.kind == "buy")
    assert buy.order_quarter == START
    assert buy.online_quarter == START + 3
    assert buy.late_quarters == 3
    assert "late" in buy.reason


def test_wait_rule_triggers_on_simulated_p95(small):
    system, _, option = small
    periods = quarter_range(START, Quarter(2033, 4))
    demand = linear_demand(100, 0, periods)  # far below any demand threshold
    waits = {Quarter(2027, 3): 30.0, Quarter(2027, 4): 40.0}
    rules = [
        pl.DemandRule("cpu"),
        pl.WaitRule("cpu", hours=24, simulated_p95_hours=waits, quarters=2),
    ]
    p = pl.make_plan([system], [CPU], {"cpu": demand}, rules, {"cpu": option}, START)
    (buy,) = [a for a in p.actions if a.kind == "buy"]
    assert buy.online_quarter == Quarter(2027, 3)
    assert "p95 wait" in buy.reason and "30 h" in buy.reason
    no_wait = pl.with_wait_input(rules, "cpu", 10.0)
    p2 = pl.make_plan([system], [CPU], {"cpu": demand}, no_wait, {"cpu": option}, START)
    assert not [a for a in p2.actions if a.kind == "buy"]


def test_retirements_are_in_the_plan_with_their_reason():
    s = System("Old", "NO", dt.date(2020, 1, 1), dt.date(2027, 7, 1), units={"cpu": 1000})
    p = pl.make_plan([s], [CPU], {}, [], {}, START)
    (ret,) = p.actions
    assert ret.kind == "retire" and ret.year == 2027 and ret.online_quarter == Quarter(2027, 3)
    assert "2027-07-01" in ret.reason


# --- The demo picture ---------------------------------------------------------------------


def demo_plan(inp):
    d = inputs.build_demand(inp)
    return pl.make_plan(
        inp.systems,
        inp.resources,
        d.combined,
        inp.rules,
        inp.options,
        inp.plan_start,
        inp.plan_years,
        inp.target_utilisation,
    )


def test_demo_plan_names_crossings_and_purchases():
    inp = inputs.load_input()
    p = demo_plan(inp)
    assert set(p.crossings) == {"cpu", "gpu", "storage"}
    for key in ("cpu", "gpu", "storage"):
        c = p.crossings[key]
        assert c is not None and inp.plan_start <= c.quarter
        buys = [a for a in p.actions if a.kind == "buy" and a.resource == key]
        assert buys and buys[0].reason
    by_year = p.by_year()
    assert sorted(by_year) == [2026, 2027, 2028, 2029]
    retired = {a.system for a in p.actions if a.kind == "retire"}
    assert {"Fram", "Saga", "Betzy", "NIRD"} <= retired
    d = p.as_dict()
    assert d["crossings"]["gpu"]["quarter"] == str(p.crossings["gpu"].quarter)


def test_changing_an_input_changes_the_plan():
    inp = inputs.load_input()
    base = demo_plan(inp)
    # Without B2 (the zero alternative's new machine) the CPU plan must buy more, sooner.
    no_b2 = dataclasses.replace(inp, systems=tuple(s for s in inp.systems if s.name != "B2"))
    p = demo_plan(no_b2)
    cpu_units = lambda plan, until: sum(  # noqa: E731
        a.units
        for a in plan.actions
        if a.kind == "buy" and a.resource == "cpu" and a.online_quarter <= until
    )
    assert cpu_units(p, Quarter(2028, 4)) > cpu_units(base, Quarter(2028, 4))
    # A higher GPU scenario (300 % instead of 200 %) buys more GPUs in the plan years.
    spec = inp.demand["gpu"]
    comps = tuple(
        {
            **c,
            "growth": {"low": 2.0, "medium": 3.0, "high": 4.0},
            "base_year": 2025,
            "base_units": 50,
            "hold_after": 2029,
        }
        if c.get("method") == "scenario"
        else c
        for c in spec.components
    )
    high = dataclasses.replace(
        inp, demand={**inp.demand, "gpu": dataclasses.replace(spec, components=comps)}
    )

    def gpu(plan):
        return sum(
            a.units
            for a in plan.actions
            if a.kind == "buy" and a.resource == "gpu" and a.year <= 2029
        )

    assert gpu(demo_plan(high)) > gpu(base)
    # A lower target utilisation (more slack) crosses the CPU threshold no later.
    rules = tuple(
        dataclasses.replace(r, ratio=0.6)
        if isinstance(r, pl.DemandRule) and r.resource == "cpu"
        else r
        for r in inp.rules
    )
    slack = demo_plan(dataclasses.replace(inp, rules=rules))
    assert slack.crossings["cpu"].quarter < base.crossings["cpu"].quarter
