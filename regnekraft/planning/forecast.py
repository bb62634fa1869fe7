"""Demand forecasts per resource class.

* Method A: extrapolate the platform's own usage history (``history_forecast``), either a
  log-linear trend fitted by OLS or exponential smoothing (ETS with additive trend on the log
  scale), both from statsmodels and both with prediction intervals; ``backtest`` holds back
  the end of the history and reports the error (MAPE, sMAPE, RMSE, interval coverage).
* Method B: needs entered per user group, e.g. from surveys (``survey_forecast``).
* Scenarios: constant yearly growth from a base (``growth_forecast``), with the study's
  families (``study_scenarios``): CPU 12-15 %/year (000:1803-1808) and GPU for AI
  170/200/300 %/year from 50 GPUs in 2025 (000:3509-3516).
* ``combine`` adds components (history + new needs) or spans them (scenario envelope).

All quantities are in the class's quantity unit per quarter (core-hours, GPU-hours, TB).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .model import Quarter, ResourceClass, UsagePoint, quarter_range


@dataclass(frozen=True)
class Forecast:
    """A forecast of one class: central value and an interval per quarter."""

    resource: str
    method: str
    periods: tuple[Quarter, ...]
    central: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    level: float = 0.8  # nominal coverage of [lower, upper]
    detail: Mapping[str, object] = field(default_factory=dict)

    def at(self, quarter: Quarter) -> tuple[float, float, float]:
        i = self.periods.index(quarter)
        return self.central[i], self.lower[i], self.upper[i]

    def value(self, quarter: Quarter, band: str = "central") -> float:
        c, lo, hi = self.at(quarter)
        return {"central": c, "lower": lo, "upper": hi}[band]

    def restrict(self, periods: Sequence[Quarter]) -> Forecast:
        idx = [self.periods.index(p) for p in periods]
        return Forecast(
            self.resource,
            self.method,
            tuple(periods),
            tuple(self.central[i] for i in idx),
            tuple(self.lower[i] for i in idx),
            tuple(self.upper[i] for i in idx),
            self.level,
            self.detail,
        )

    def as_dict(self) -> dict:
        return {
            "resource": self.resource,
            "method": self.method,
            "level": self.level,
            "periods": [str(p) for p in self.periods],
            "central": list(self.central),
            "lower": list(self.lower),
            "upper": list(self.upper),
            "detail": dict(self.detail),
        }


# ---------------------------------------------------------------------------------------
# Method A: extrapolating usage history
# ---------------------------------------------------------------------------------------


def series_of(history: Iterable[UsagePoint], resource: str) -> tuple[list[Quarter], np.ndarray]:
    """The quarterly series of one class, summed per quarter and sorted, gaps not allowed."""
    acc: dict[Quarter, float] = {}
    for p in history:
        if p.resource == resource:
            acc[p.period] = acc.get(p.period, 0.0) + p.quantity
    if not acc:
        raise ValueError(f"no usage history for {resource!r}")
    qs = sorted(acc)
    full = quarter_range(qs[0], qs[-1])
    if len(full) != len(qs):
        missing = [str(q) for q in full if q not in acc]
        raise ValueError(f"{resource}: usage history has gaps: {', '.join(missing)}")
    return qs, np.array([acc[q] for q in qs], dtype=float)


# a model's central path, band's lower and upper edges, and what it says about the fit
_Fit = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, object]]


def _loglinear(y: np.ndarray, steps: int, alpha: float) -> _Fit:
    import statsmodels.api as sm

    t = np.arange(len(y), dtype=float)
    model = sm.OLS(np.log(y), sm.add_constant(t)).fit()
    tf = np.arange(len(y), len(y) + steps, dtype=float)
    frame = model.get_prediction(sm.add_constant(tf, has_constant="add")).summary_frame(alpha=alpha)
    growth = math.exp(4 * model.params[1]) - 1
    return (
        np.exp(frame["mean"].to_numpy()),
        np.exp(frame["obs_ci_lower"].to_numpy()),
        np.exp(frame["obs_ci_upper"].to_numpy()),
        {"yearly_growth": growth, "r2": float(model.rsquared)},
    )


def _ets(y: np.ndarray, steps: int, alpha: float, damped: bool, seasonal: bool) -> _Fit:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    # A Series with a plain integer index: statsmodels' prediction frame needs an index.
    logy = pd.Series(np.log(y), index=pd.RangeIndex(len(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ETSModel(
            logy,
            error="add",
            trend="add",
            damped_trend=damped,
            seasonal="add" if seasonal else None,
            seasonal_periods=4 if seasonal else None,
        ).fit(disp=False)
        frame = model.get_prediction(start=len(y), end=len(y) + steps - 1).summary_frame(
            alpha=alpha
        )
    return (
        np.exp(frame["mean"].to_numpy()),
        np.exp(frame["pi_lower"].to_numpy()),
        np.exp(frame["pi_upper"].to_numpy()),
        {"aic": float(model.aic), "damped": damped, "seasonal": seasonal},
    )


METHODS_A = ("loglinear", "ets", "ets_damped")


def history_forecast(
    history: Iterable[UsagePoint],
    resource: str,
    until: Quarter,
    model: str = "loglinear",
    level: float = 0.8,
    seasonal: bool = False,
) -> Forecast:
    """Method A: extrapolate one class's quarterly usage to ``until`` with a prediction band.

    Both models work on the log of usage, so growth is multiplicative and the band is skewed
    upward the way growth uncertainty is. ``level`` is the band's nominal coverage.
    """
    qs, y = series_of(history, resource)
    if np.any(y <= 0):
        raise ValueError(f"{resource}: usage must be positive to extrapolate on the log scale")
    steps = until - qs[-1]
    if steps <= 0:
        raise ValueError("forecast horizon ends before the history does")
    alpha = 1.0 - level
    if model == "loglinear":
        c, lo, hi, info = _loglinear(y, steps, alpha)
    elif model in ("ets", "ets_damped"):
        if len(y) < 8:
            raise ValueError("ETS needs at least 8 quarters of history")
        c, lo, hi, info = _ets(y, steps, alpha, model == "ets_damped", seasonal and len(y) >= 12)
    else:
        raise ValueError(f"unknown model {model!r}; choose from {METHODS_A}")
    periods = tuple(qs[-1] + i for i in range(1, steps + 1))
    about = {"model": model, "history": [str(qs[0]), str(qs[-1])], **info}
    return Forecast(
        resource, f"history:{model}", periods, tuple(c), tuple(lo), tuple(hi), level, about
    )


@dataclass(frozen=True)
class BacktestResult:
    resource: str
    model: str
    horizon: int
    origins: int
    mape: float  # mean absolute percentage error, %
    smape: float  # symmetric MAPE, %
    rmse: float
    bias: float  # mean (forecast - actual) / actual, %
    coverage: float  # share of actuals inside the band
    level: float
    cases: tuple[dict, ...] = ()

    def as_dict(self) -> dict:
        return {
            "resource": self.resource,
            "model": self.model,
            "horizon_quarters": self.horizon,
            "origins": self.origins,
            "mape_percent": self.mape,
            "smape_percent": self.smape,
            "rmse": self.rmse,
            "bias_percent": self.bias,
            "interval_coverage": self.coverage,
            "interval_level": self.level,
            "cases": list(self.cases),
        }


def backtest(
    history: Iterable[UsagePoint],
    resource: str,
    model: str = "loglinear",
    horizon: int = 4,
    origins: int = 1,
    level: float = 0.8,
) -> BacktestResult:
    """Hold back the last ``horizon`` quarters, fit on the rest, forecast them and score.

    With ``origins`` > 1 the origin rolls back one quarter at a time (rolling-origin
    evaluation) and the errors are pooled.
    """
    history = list(history)
    qs, y = series_of(history, resource)
    errs, aerrs, saerrs, sq, inside, cases = [], [], [], [], 0, []
    n_eval = 0
    for k in range(origins):
        cut = len(y) - horizon - k
        if cut < 6:
            break
        train = [UsagePoint(q, resource, float(v)) for q, v in zip(qs[:cut], y[:cut], strict=True)]
        fc = history_forecast(train, resource, qs[cut + horizon - 1], model, level)
        actual = y[cut : cut + horizon]
        pred = np.array(fc.central)
        lo, hi = np.array(fc.lower), np.array(fc.upper)
        rel = (pred - actual) / actual
        errs.extend(rel)
        aerrs.extend(np.abs(rel))
        saerrs.extend(2 * np.abs(pred - actual) / (np.abs(pred) + np.abs(actual)))
        sq.extend((pred - actual) ** 2)
        inside += int(np.sum((actual >= lo) & (actual <= hi)))
        n_eval += len(actual)
        cases.append(
            {
                "origin": str(qs[cut - 1]),
                "periods": [str(q) for q in qs[cut : cut + horizon]],
                "actual": actual.tolist(),
                "forecast": pred.tolist(),
                "lower": lo.tolist(),
                "upper": hi.tolist(),
            }
        )
    if n_eval == 0:
        raise ValueError(f"{resource}: history too short to back-test {horizon} quarters")
    return BacktestResult(
        resource=resource,
        model=model,
        horizon=horizon,
        origins=len(cases),
        mape=100 * float(np.mean(aerrs)),
        smape=100 * float(np.mean(saerrs)),
        rmse=float(np.sqrt(np.mean(sq))),
        bias=100 * float(np.mean(errs)),
        coverage=inside / n_eval,
        level=level,
        cases=tuple(cases),
    )


# ---------------------------------------------------------------------------------------
# Method B: needs per user group
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyNeed:
    """A user group's stated need for one class in one year, in the class's quantity unit
    per year (unit-hours for hourly classes, units held for storage)."""

    group: str
    resource: str
    year: int
    quantity: float
    low: float | None = None
    high: float | None = None
    source: str = ""


def _interp_year(points: Sequence[tuple[int, float]], year_frac: float) -> float:
    """Linear between stated years, flat after the last, zero before the first."""
    ys = [p[0] for p in points]
    if year_frac < ys[0]:
        return 0.0
    if year_frac >= ys[-1]:
        return points[-1][1]
    return float(np.interp(year_frac, ys, [p[1] for p in points]))


def survey_forecast(
    needs: Iterable[SurveyNeed],
    resource: ResourceClass,
    periods: Sequence[Quarter],
) -> Forecast:
    """Method B: the sum over user groups of their stated needs, spread over quarters.

    Each group's yearly figures are interpolated linearly between the years it states and held
    after the last. Hourly classes are spread over the year in proportion to the quarter's
    hours; storage needs are stocks and are not spread.
    """
    by_group: dict[str, list[SurveyNeed]] = {}
    for n in needs:
        if n.resource == resource.key:
            by_group.setdefault(n.group, []).append(n)
    c = np.zeros(len(periods))
    lo = np.zeros(len(periods))
    hi = np.zeros(len(periods))
    for group_needs in by_group.values():
        group_needs.sort(key=lambda n: n.year)
        pts_c = [(n.year, n.quantity) for n in group_needs]
        pts_l = [(n.year, n.low if n.low is not None else n.quantity) for n in group_needs]
        pts_h = [(n.year, n.high if n.high is not None else n.quantity) for n in group_needs]
        for i, q in enumerate(periods):
            yf = q.year + (q.q - 1) / 4
            scale = q.hours / (365.25 * 24) if resource.hourly else 1.0
            c[i] += _interp_year(pts_c, yf) * scale
            lo[i] += _interp_year(pts_l, yf) * scale
            hi[i] += _interp_year(pts_h, yf) * scale
    return Forecast(
        resource.key,
        "survey",
        tuple(periods),
        tuple(c),
        tuple(lo),
        tuple(hi),
        level=1.0,
        detail={"groups": sorted(by_group)},
    )


# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthScenario:
    """Constant yearly growth from ``base_units`` busy on average in ``base_year``."""

    name: str
    resource: str
    base_year: int
    base_units: float
    growth: float  # 0.15 = 15 % a year; 1.7 = 170 % a year (x 2.7)
    source: str = ""
    hold_after: int | None = None  # growth stops after this year (the scenario's end)

    def units_at(self, quarter: Quarter) -> float:
        mid = quarter.year + (quarter.q - 0.5) / 4.0
        if self.hold_after is not None:
            mid = min(mid, self.hold_after + 0.5)
        return self.base_units * (1.0 + self.growth) ** (mid - (self.base_year + 0.5))


def growth_forecast(
    resource: ResourceClass,
    periods: Sequence[Quarter],
    low: GrowthScenario,
    medium: GrowthScenario,
    high: GrowthScenario,
) -> Forecast:
    """A scenario family as one forecast: medium as the central value, low/high as the band."""

    def series(s: GrowthScenario) -> tuple[float, ...]:
        return tuple(s.units_at(q) * (q.hours if resource.hourly else 1.0) for q in periods)

    return Forecast(
        resource.key,
        f"scenario:{medium.name}",
        tuple(periods),
        series(medium),
        series(low),
        series(high),
        level=1.0,
        detail={
            "growth": {"low": low.growth, "medium": medium.growth, "high": high.growth},
            "base_year": medium.base_year,
            "base_units": medium.base_units,
            "source": medium.source,
        },
    )


def study_scenarios(
    resource: str,
    family: str,
    base_year: int | None = None,
    base_units: float | None = None,
    hold_after: int | None = None,
) -> tuple[GrowthScenario, GrowthScenario, GrowthScenario]:
    """The study's growth scenarios.

    ``family="cpu"``: 12 %/13.5 %/15 % a year (000:1803-1808: "12-15 prosent for CPU"), from a
    base the caller gives (e.g. the last year of usage).
    ``family="gpu_ai"``: 170/200/300 % a year from 50 GPUs in 2025 (000:3509-3516); the
    study's estimate runs to 2029, so by default growth stops there (``hold_after``).
    ``family="gpu"``: 40/45/50 % a year (000:1810-1812), from a base the caller gives.
    """
    if family == "cpu":
        rates, src = (0.12, 0.135, 0.15), "000:1803-1808"
    elif family == "gpu":
        rates, src = (0.40, 0.45, 0.50), "000:1810-1812"
    elif family == "gpu_ai":
        rates, src = (1.70, 2.00, 3.00), "000:3509-3516"
        base_year = 2025 if base_year is None else base_year
        base_units = 50.0 if base_units is None else base_units
        hold_after = 2029 if hold_after is None else hold_after
    else:
        raise ValueError(f"unknown scenario family {family!r}")
    if base_year is None or base_units is None:
        raise ValueError(f"scenario family {family!r} needs base_year and base_units")
    names = ("low", "medium", "high")
    return tuple(  # type: ignore[return-value]
        GrowthScenario(f"{family}-{n}", resource, base_year, base_units, r, src, hold_after)
        for n, r in zip(names, rates, strict=True)
    )


# ---------------------------------------------------------------------------------------
# Combination
# ---------------------------------------------------------------------------------------


def combine(
    forecasts: Sequence[Forecast], how: str = "sum", weights: Sequence[float] | None = None
) -> Forecast:
    """Combine forecasts of one class over their common quarters.

    ``sum``: components are separate demand (history of today's users + new groups' needs +
    new AI demand); centrals add, band half-widths add in quadrature (independent errors).
    ``mean``: weighted average of alternative estimates of the same demand; the band spans all
    components' bands. ``max``: the largest central per quarter, band spanning all.
    """
    if not forecasts:
        raise ValueError("nothing to combine")
    resource = forecasts[0].resource
    if any(f.resource != resource for f in forecasts):
        raise ValueError("cannot combine forecasts of different classes")
    common = [q for q in forecasts[0].periods if all(q in f.periods for f in forecasts[1:])]
    fs = [f.restrict(common) for f in forecasts]
    C = np.array([f.central for f in fs])
    L = np.array([f.lower for f in fs])
    U = np.array([f.upper for f in fs])
    if how == "sum":
        c = C.sum(axis=0)
        lo = c - np.sqrt(((C - L) ** 2).sum(axis=0))
        hi = c + np.sqrt(((U - C) ** 2).sum(axis=0))
    elif how == "mean":
        w = np.ones(len(fs)) if weights is None else np.asarray(weights, dtype=float)
        w = w / w.sum()
        c = (w[:, None] * C).sum(axis=0)
        lo, hi = L.min(axis=0), U.max(axis=0)
    elif how == "max":
        c, lo, hi = C.max(axis=0), L.min(axis=0), U.max(axis=0)
    else:
        raise ValueError(f"unknown combination {how!r}")
    return Forecast(
        resource,
        f"combined:{how}",
        tuple(common),
        tuple(c),
        tuple(np.maximum(lo, 0.0)),
        tuple(hi),
        level=min(f.level for f in fs),
        detail={"components": [f.method for f in fs]},
    )


def yearly(forecast: Forecast, band: str = "central", hourly: bool = True) -> dict[int, float]:
    """Sum (hourly classes) or year-end value (stocks) per calendar year."""
    out: dict[int, float] = {}
    for q in forecast.periods:
        v = forecast.value(q, band)
        out[q.year] = out.get(q.year, 0.0) + v if hourly else v
    return out


def scenario_table(
    scenarios: Mapping[str, GrowthScenario], years: Iterable[int]
) -> dict[str, dict[int, float]]:
    """Units per year for each scenario (e.g. GPUs needed in 2029 in the low scenario)."""
    return {
        name: {y: s.base_units * (1.0 + s.growth) ** (y - s.base_year) for y in years}
        for name, s in scenarios.items()
    }
