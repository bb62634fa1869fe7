"""Energy and carbon per system, attributed to projects so that the totals add up."""

import datetime as dt

import pytest

from regnekraft.planning import energy as en
from regnekraft.planning import inputs
from regnekraft.planning.model import Quarter, ResourceClass, System

Q = Quarter(2026, 1)
CPU = ResourceClass("cpu", "core", True)


def test_study_grid_intensities():
    g = en.study_grid()
    assert g.intensity(System("a", "NO", dt.date(2020, 1, 1))) == 36.0
    assert g.intensity(System("b", "DE", dt.date(2020, 1, 1))) == 421.0
    with pytest.raises(KeyError, match="no grid intensity"):
        g.intensity(System("c", "XX", dt.date(2020, 1, 1)))
    # A system's own figure overrides its country's.
    assert (
        g.intensity(System("d", "DE", dt.date(2020, 1, 1), grid_intensity_g_per_kwh=10.0)) == 10.0
    )


def test_partition_energy_formula():
    s = System(
        "a", "NO", dt.date(2020, 1, 1), power_kw={"cpu": 100.0}, pue=1.2, idle_power_fraction=0.3
    )
    p = en.partition_energy(s, "cpu", Q, 0.5, en.study_grid())
    it = 100.0 * (0.3 + 0.7 * 0.5) * Q.hours
    assert p.it_kwh == pytest.approx(it)
    assert p.facility_kwh == pytest.approx(it * 1.2)
    assert p.co2_kg == pytest.approx(it * 1.2 * 36 / 1000)
    # The same machine in Germany emits 421/36 times as much.
    de = en.partition_energy(
        System(
            "b",
            "DE",
            dt.date(2020, 1, 1),
            power_kw={"cpu": 100.0},
            pue=1.2,
            idle_power_fraction=0.3,
        ),
        "cpu",
        Q,
        0.5,
        en.study_grid(),
    )
    assert de.co2_kg / p.co2_kg == pytest.approx(421 / 36)


def test_projects_add_up_to_system_totals():
    s = System("a", "NO", dt.date(2020, 1, 1), units={"cpu": 1000}, power_kw={"cpu": 400.0})
    usage = [
        en.ProjectUsage("p1", "a", "cpu", Q, 3e5),
        en.ProjectUsage("p2", "a", "cpu", Q, 1e5),
        en.ProjectUsage("p1", "a", "cpu", Q, 1e5),
    ]
    r = en.energy_report([s], usage, [Q], en.study_grid(), resources={"cpu": CPU})
    total = r.by_system["a"]["facility_kwh"]
    assert r.projects["p1"]["facility_kwh"] == pytest.approx(0.8 * total)
    assert r.projects["p2"]["facility_kwh"] == pytest.approx(0.2 * total)
    assert sum(p["co2_kg"] for p in r.projects.values()) == pytest.approx(
        r.by_system["a"]["co2_kg"]
    )
    util = 5e5 / (1000 * 0.95 * Q.hours)
    assert r.partitions[0].utilisation == pytest.approx(util)


def test_demo_energy_adds_up_and_reports_effect_goal_4_indicators():
    inp = inputs.load_input()
    r = en.energy_report(
        inp.systems,
        inp.project_usage,
        inp.energy_periods,
        inp.grid,
        resources={x.key: x for x in inp.resources},
    )
    systems_kwh = sum(v["facility_kwh"] for v in r.by_system.values())
    projects_kwh = sum(v["facility_kwh"] for v in r.projects.values())
    assert projects_kwh + r.unattributed["facility_kwh"] == pytest.approx(systems_kwh)
    systems_co2 = sum(v["co2_kg"] for v in r.by_system.values())
    assert sum(v["co2_kg"] for v in r.projects.values()) + r.unattributed[
        "co2_kg"
    ] == pytest.approx(systems_co2)
    # Fram is switched off at the start of 2026 but ran, without recorded usage, in 2025Q4.
    assert r.unattributed["facility_kwh"] > 0
    ind = r.indicators
    assert ind["co2_tonnes"] == pytest.approx(systems_co2 / 1000)
    assert 36 <= ind["grams_co2_per_kwh"] < 79  # Norway 36, Finland share at 79
    assert 0.9 < ind["renewable_share"] <= 1.0
    assert 1.0 < ind["energy_weighted_pue"] < 1.3
    # Every partition shows its inputs.
    d = r.as_dict()
    assert {"power_kw", "utilisation", "pue", "grid_intensity_g_per_kwh"} <= set(
        d["partitions"][0]["inputs"]
    )
