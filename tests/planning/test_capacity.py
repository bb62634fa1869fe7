"""Capacity per class per quarter, and the gap to demand at a target utilisation."""

import datetime as dt

import pytest

from regnekraft.planning import capacity as cap
from regnekraft.planning import inputs
from regnekraft.planning.forecast import Forecast
from regnekraft.planning.model import Quarter, ResourceClass, System

CPU = ResourceClass("cpu", "core", True)
STORAGE = ResourceClass("storage", "TB", False)


def test_system_capacity_follows_dates_availability_and_share():
    s = System(
        "X",
        "NO",
        commissioned=dt.date(2026, 2, 15),
        decommissioned=dt.date(2026, 5, 1),
        units={"cpu": 1000, "storage": 50},
        availability=0.9,
        share=0.5,
    )
    q1, q2, q3 = Quarter(2026, 1), Quarter(2026, 2), Quarter(2026, 3)
    # 2026Q1 has 90 days; in service from 15 Feb = 45 days.
    assert s.capacity(CPU, q1) == pytest.approx(1000 * 0.5 * 0.9 * 45 * 24)
    assert s.capacity(CPU, q2) == pytest.approx(1000 * 0.5 * 0.9 * 30 * 24)
    assert s.capacity(CPU, q3) == 0.0
    assert s.capacity(STORAGE, q1) == pytest.approx(50 * 0.5 * 45 / 90)


def test_timeline_sums_systems():
    a = System("A", "NO", dt.date(2020, 1, 1), units={"cpu": 100})
    b = System("B", "FI", dt.date(2026, 4, 1), units={"cpu": 1000}, share=0.02)
    periods = [Quarter(2026, 1), Quarter(2026, 2)]
    tl = cap.timeline([a, b], CPU, periods)
    assert tl.by_system["B"][0] == 0
    assert tl.total[1] == pytest.approx((100 + 20) * 0.95 * Quarter(2026, 2).hours)


def test_gap_at_target_utilisation():
    a = System("A", "NO", dt.date(2020, 1, 1), units={"cpu": 100}, availability=1.0)
    q = Quarter(2026, 1)
    tl = cap.timeline([a], CPU, [q])
    c = tl.total[0]
    demand = Forecast("cpu", "t", (q,), (0.9 * c,), (0.6 * c,), (1.2 * c,))
    (row,) = cap.gap(tl, demand)
    assert row.utilisation == pytest.approx(0.9)
    assert row.required == pytest.approx(0.9 * c / 0.75)
    assert row.gap == pytest.approx(0.9 * c / 0.75 - c)
    (row,) = cap.gap(tl, demand, target_utilisation=0.95)
    assert row.gap < 0  # enough at 95 %
    (row,) = cap.gap(tl, demand, target_utilisation=0.95, band="upper")
    assert row.gap > 0  # but not for the upper band
    with pytest.raises(ValueError):
        cap.gap(tl, demand, target_utilisation=0)


def test_demo_timeline_shows_retirements():
    inp = inputs.load_input()
    periods = [Quarter(2025, 4), Quarter(2026, 1), Quarter(2027, 4), Quarter(2029, 1)]
    tl = cap.timeline(inp.systems, inp.resource("cpu"), periods)
    assert tl.by_system["Fram"][0] > 0 and tl.by_system["Fram"][1] == 0
    assert tl.by_system["Betzy"][2] == 0
    assert tl.by_system["B2"][2] > 0
    assert tl.by_system["LUMI (Norway's share)"][3] == 0
    gpus = cap.timeline(inp.systems, inp.resource("gpu"), [Quarter(2025, 4)])
    lumi = gpus.by_system["LUMI (Norway's share)"][0] / (0.95 * Quarter(2025, 4).hours)
    assert lumi == pytest.approx(238.24)  # 2 % of LUMI-G, the study's "about 250"
