"""Demand forecasts: method A with back-tests, method B from surveys, the study's scenarios."""

import numpy as np
import pytest

from regnekraft.planning import forecast as fc
from regnekraft.planning.model import Quarter, ResourceClass, UsagePoint

CPU = ResourceClass("cpu", "core", True)
STORAGE = ResourceClass("storage", "TB", False)


def synthetic_history(quarterly_growth=0.035, noise=0.03, n=28, seed=3):
    rng = np.random.default_rng(seed)
    start = Quarter(2019, 1)
    return [
        UsagePoint(
            start + i, "cpu", 1e8 * (1 + quarterly_growth) ** i * np.exp(rng.normal(0, noise))
        )
        for i in range(n)
    ]


def test_quarter_arithmetic():
    q = Quarter.parse("2026Q4")
    assert str(q + 1) == "2027Q1"
    assert (q + 1) - q == 1
    assert Quarter.parse("2024Q1").days == 91  # leap year
    assert Quarter.of(__import__("datetime").date(2027, 7, 1)) == Quarter(2027, 3)


@pytest.mark.parametrize("model", fc.METHODS_A)
def test_history_forecast_recovers_growth_and_brackets_it(model):
    h = synthetic_history(noise=0.0 + 1e-3)
    f = fc.history_forecast(h, "cpu", Quarter(2027, 4), model=model)
    assert f.periods[0] == Quarter(2026, 1)
    truth = 1e8 * 1.035 ** (len(h) + len(f.periods) - 1)
    if model != "ets_damped":
        assert f.central[-1] == pytest.approx(truth, rel=0.05)
    assert all(lo <= c <= hi for lo, c, hi in zip(f.lower, f.central, f.upper, strict=True))


def test_loglinear_reports_yearly_growth():
    f = fc.history_forecast(synthetic_history(noise=0.01), "cpu", Quarter(2026, 4))
    assert f.detail["yearly_growth"] == pytest.approx(1.035**4 - 1, abs=0.01)


def test_band_widens_with_horizon():
    f = fc.history_forecast(synthetic_history(), "cpu", Quarter(2030, 4))
    widths = [(hi - lo) / c for lo, c, hi in zip(f.lower, f.central, f.upper, strict=True)]
    assert widths[-1] > widths[0]


def test_backtest_reports_error_on_held_back_history():
    h = synthetic_history(noise=0.03)
    b = fc.backtest(h, "cpu", "loglinear", horizon=4, origins=4)
    assert b.origins == 4
    assert 0 < b.mape < 10  # 3 % noise: a few per cent
    assert 0 <= b.coverage <= 1
    assert len(b.cases) == 4 and len(b.cases[0]["actual"]) == 4
    # A series whose trend breaks in the held-back year has a much larger error.
    broken = h[:-4] + [UsagePoint(p.period, "cpu", p.quantity * 0.6) for p in h[-4:]]
    assert fc.backtest(broken, "cpu", "loglinear", horizon=4).mape > 25


def test_history_gaps_are_refused():
    h = synthetic_history()
    del h[5]
    with pytest.raises(ValueError, match="gaps"):
        fc.history_forecast(h, "cpu", Quarter(2027, 1))


def test_survey_forecast_sums_groups_and_interpolates():
    needs = [
        fc.SurveyNeed("A", "cpu", 2026, 8766.0 * 100),  # 100 cores all year
        fc.SurveyNeed("A", "cpu", 2028, 8766.0 * 300),
        fc.SurveyNeed("B", "cpu", 2027, 8766.0 * 50, low=0.0, high=8766.0 * 100),
    ]
    periods = [
        Quarter(2025, 4),
        Quarter(2026, 1),
        Quarter(2027, 1),
        Quarter(2028, 1),
        Quarter(2030, 1),
    ]
    f = fc.survey_forecast(needs, CPU, periods)
    per_core = [q.hours / (365.25 * 24) * 8766.0 for q in periods]
    cores = [c / k for c, k in zip(f.central, per_core, strict=True)]
    assert cores == pytest.approx([0, 100, 200 + 50, 300 + 50, 300 + 50])
    assert f.upper[-1] / per_core[-1] == pytest.approx(400)
    assert f.lower[-1] / per_core[-1] == pytest.approx(300)


def test_storage_survey_is_a_stock():
    f = fc.survey_forecast(
        [fc.SurveyNeed("A", "storage", 2026, 500.0)], STORAGE, [Quarter(2026, 2)]
    )
    assert f.central == (500.0,)


def test_study_gpu_scenarios():
    low, med, high = fc.study_scenarios("gpu", "gpu_ai")
    assert (low.growth, med.growth, high.growth) == (1.7, 2.0, 3.0)
    table = fc.scenario_table({"low": low, "medium": med, "high": high}, [2025, 2029])
    assert table["low"][2025] == 50
    # "2 500 GPUer i 2029 ... gjennomsnittlig årlig vekst på 170 prosent" (000:3509-3513)
    assert table["low"][2029] == pytest.approx(2657, rel=0.01)
    assert table["medium"][2029] == pytest.approx(4050)
    assert table["high"][2029] == pytest.approx(12800)
    # The study's estimate ends in 2029; growth holds after it.
    assert med.units_at(Quarter(2031, 2)) == pytest.approx(med.units_at(Quarter(2029, 4)))


def test_cpu_scenarios_need_a_base_and_use_12_to_15_percent():
    with pytest.raises(ValueError):
        fc.study_scenarios("cpu", "cpu")
    low, med, high = fc.study_scenarios("cpu", "cpu", 2025, 1000.0)
    assert (low.growth, high.growth) == (0.12, 0.15)
    f = fc.growth_forecast(CPU, [Quarter(2026, 1)], low, med, high)
    assert f.lower[0] < f.central[0] < f.upper[0]


def test_combine_sum_adds_centrals_and_bands_in_quadrature():
    p = (Quarter(2026, 1), Quarter(2026, 2))
    a = fc.Forecast("cpu", "a", p, (10.0, 10.0), (7.0, 7.0), (14.0, 14.0))
    b = fc.Forecast("cpu", "b", p[1:], (5.0,), (1.0,), (8.0,))
    s = fc.combine([a, b], "sum")
    assert s.periods == (Quarter(2026, 2),)
    assert s.central == (15.0,)
    assert s.lower[0] == pytest.approx(15 - 5.0)
    assert s.upper[0] == pytest.approx(15 + 5.0)
    m = fc.combine([a.restrict(p[1:]), b], "mean")
    assert m.central == (7.5,) and m.lower == (1.0,) and m.upper == (14.0,)
    with pytest.raises(ValueError):
        fc.combine([a, fc.Forecast("gpu", "x", p, (1, 1), (1, 1), (1, 1))])
