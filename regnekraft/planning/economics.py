"""The concept study's cost/benefit method (KVU chapter 9.4-9.5), reproducible from its inputs.

The method, as the study states it (000 = shared/seeds/000_a2759f3e31eedee3.txt):

* every concept has yearly costs per element for the analysis period 2026-2030
  (Tables 9.2-9.4, 000:6341-6443), in MNOK excluding VAT;
* each yearly cost is discounted at 4 % to 2026, the first year being year 0
  (000:6100-6130, 6157-6168): ``PV = sum_t c_t / 1.04 ** (t - 2026)``;
* the present values are grouped into investment and operating cost (Table 9.5);
* the tax financing cost is 20 % of those costs ("20 øre per krone per prissatt virkning,
  altså ytterligere 20 prosent av investerings- og driftskostnad", 000:6488-6490), computed
  on the financing need excluding VAT (000:6171-6196);
* VAT (25 %) is not a cost to society and stays out of the analysis, but it is part of the
  financing need (000:6217-6245);
* K2 and K3 are reported net of the zero alternative K0 (Table 9.5) and gross (Table 10.1);
  costs are shown as negative values, rounded to the nearest 10 MNOK.

Everything here is plain Python/NumPy so it can be tested and used without Django.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

CATEGORIES = ("investment", "operation", "tax", "total")

DEFAULT_COSTS_FILE = "kvu_costs.toml"


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostElement:
    """One row of a yearly cost table: an element's cost per year in MNOK excluding VAT."""

    key: str
    label: str
    yearly: Mapping[int, float]
    investment_share: float = 1.0  # the rest is operating cost
    vat_liable: bool = True
    uncertainty: str | None = None  # key into Uncertainty.components
    source_lines: str = ""
    published_total: float | None = None  # the table's 2026-30 column for this row

    def __post_init__(self) -> None:
        if not 0.0 <= self.investment_share <= 1.0:
            raise ValueError(f"{self.key}: investment_share must be within [0, 1]")

    def total(self) -> float:
        return float(sum(self.yearly.values()))

    def reconciled(self) -> CostElement:
        """The yearly values with the rounding difference to the published row total spread
        evenly over the years.

        The tables print each year rounded to whole MNOK and the row total rounded on its own,
        so e.g. K2's "Investering Sigma2" reads 102+253+182+255+0 = 792 but totals 791. The
        total carries the information the rounded years lost; spreading the difference evenly
        is the least-information correction.
        """
        if self.published_total is None or not self.yearly:
            return self
        diff = (self.published_total - self.total()) / len(self.yearly)
        if diff == 0:
            return self
        from dataclasses import replace

        return replace(self, yearly={y: v + diff for y, v in self.yearly.items()})


@dataclass(frozen=True)
class Concept:
    key: str
    name: str
    elements: tuple[CostElement, ...]
    zero_alternative: bool = False
    source_lines: str = ""

    def element(self, key: str) -> CostElement:
        for e in self.elements:
            if e.key == key:
                return e
        raise KeyError(key)

    def years(self) -> list[int]:
        return sorted({y for e in self.elements for y in e.yearly})

    def yearly_totals(self) -> dict[int, float]:
        return {y: sum(e.yearly.get(y, 0.0) for e in self.elements) for y in self.years()}


@dataclass(frozen=True)
class Assumptions:
    discount_rate: float = 0.04
    base_year: int = 2026
    first_year: int = 2026
    last_year: int = 2030
    tax_cost_rate: float = 0.20
    vat_rate: float = 0.25
    reconcile_row_totals: bool = True  # spread rounding differences to the row totals

    def discount_factor(self, year: int) -> float:
        return 1.0 / (1.0 + self.discount_rate) ** (year - self.base_year)

    def in_period(self, year: int) -> bool:
        return self.first_year <= year <= self.last_year


@dataclass(frozen=True)
class Uncertainty:
    """Table 9.13's qualitative levels as PERT shapes of a multiplicative cost factor."""

    components: Mapping[str, tuple[str, str]]  # key -> (level, skew)
    shapes: Mapping[str, tuple[float, float, float]]  # "high_left" -> (min, mode, max)

    def shape(self, component: str | None) -> tuple[float, float, float]:
        if component is None or component not in self.components:
            return (1.0, 1.0, 1.0)
        level, skew = self.components[component]
        return self.shapes[f"{level}_{skew}"]


@dataclass(frozen=True)
class CostStudy:
    assumptions: Assumptions
    concepts: tuple[Concept, ...]
    uncertainty: Uncertainty | None = None
    published: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)

    def concept(self, key: str) -> Concept:
        for c in self.concepts:
            if c.key == key:
                return c
        raise KeyError(key)

    @property
    def zero(self) -> Concept:
        for c in self.concepts:
            if c.zero_alternative:
                return c
        raise ValueError("no zero alternative among the concepts")


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _element_from_dict(d: Mapping) -> CostElement:
    years = [int(y) for y in d["years"]]
    values = [float(v) for v in d["values"]]
    if len(years) != len(values):
        raise ValueError(f"{d.get('key')}: years and values differ in length")
    return CostElement(
        key=str(d["key"]),
        label=str(d.get("label", d["key"])),
        yearly=dict(zip(years, values, strict=True)),
        investment_share=float(d.get("investment_share", 1.0)),
        vat_liable=bool(d.get("vat_liable", True)),
        uncertainty=d.get("uncertainty"),
        source_lines=str(d.get("source_lines", "")),
        published_total=None if d.get("published_total") is None else float(d["published_total"]),
    )


def study_from_dict(data: Mapping) -> CostStudy:
    a = data.get("assumptions", {})
    assumptions = Assumptions(
        discount_rate=float(a.get("discount_rate", 0.04)),
        base_year=int(a.get("base_year", 2026)),
        first_year=int(a.get("first_year", a.get("base_year", 2026))),
        last_year=int(a.get("last_year", 2030)),
        tax_cost_rate=float(a.get("tax_cost_rate", 0.20)),
        vat_rate=float(a.get("vat_rate", 0.25)),
        reconcile_row_totals=bool(a.get("reconcile_row_totals", True)),
    )
    concepts = tuple(
        Concept(
            key=str(c["key"]),
            name=str(c.get("name", c["key"])),
            elements=tuple(_element_from_dict(e) for e in c["elements"]),
            zero_alternative=bool(c.get("zero_alternative", False)),
            source_lines=str(c.get("source_lines", "")),
        )
        for c in data["concepts"]
    )
    unc = None
    if "uncertainty" in data:
        u = data["uncertainty"]
        unc = Uncertainty(
            components={k: (v["level"], v["skew"]) for k, v in u.get("components", {}).items()},
            shapes={k: _pert_shape(v) for k, v in u.get("shapes", {}).items()},
        )
    return CostStudy(assumptions, concepts, unc, data.get("published", {}))


def _pert_shape(values: Sequence[float]) -> tuple[float, float, float]:
    """A shape from an input file: (min, mode, max)."""
    low, mode, high = (float(x) for x in values)
    return low, mode, high


def load_study(path: str | Path | None = None) -> CostStudy:
    """Load cost inputs from TOML or JSON; without a path, the study's shipped Tables 9.2-9.4."""
    if path is None:
        text = (
            resources.files("regnekraft.planning.data")
            .joinpath(DEFAULT_COSTS_FILE)
            .read_text(encoding="utf-8")
        )
        return study_from_dict(tomllib.loads(text))
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        import json

        return study_from_dict(json.loads(text))
    return study_from_dict(tomllib.loads(text))


# ---------------------------------------------------------------------------------------
# Present values
# ---------------------------------------------------------------------------------------


def present_value(yearly: Mapping[int, float], assumptions: Assumptions) -> float:
    """Discounted sum over the analysis period, year ``base_year`` undiscounted."""
    return float(
        sum(
            v * assumptions.discount_factor(y)
            for y, v in yearly.items()
            if assumptions.in_period(y)
        )
    )


def element_present_value(element: CostElement, assumptions: Assumptions) -> float:
    e = element.reconciled() if assumptions.reconcile_row_totals else element
    return present_value(e.yearly, assumptions)


@dataclass(frozen=True)
class NPV:
    """Present values as the study shows them: costs negative, MNOK."""

    investment: float
    operation: float
    tax: float

    @property
    def total(self) -> float:
        return self.investment + self.operation + self.tax

    def __sub__(self, other: NPV) -> NPV:
        return NPV(
            self.investment - other.investment,
            self.operation - other.operation,
            self.tax - other.tax,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "investment": self.investment,
            "operation": self.operation,
            "tax": self.tax,
            "total": self.total,
        }

    def rounded(self, step: float = 10.0) -> dict[str, float]:
        return {k: round_to(v, step) for k, v in self.as_dict().items()}


def round_to(x: float, step: float = 10.0) -> float:
    """Round half away from zero to a multiple of ``step`` (the study rounds to 10 MNOK)."""
    q = abs(x) / step
    r = math.floor(q + 0.5) * step
    return float(math.copysign(r, x)) if r else 0.0


def npv(
    concept: Concept,
    assumptions: Assumptions,
    factors: Mapping[str, float] | None = None,
) -> NPV:
    """Net present value per category for one concept (gross, not net of K0).

    ``factors`` multiplies an element's yearly costs (used by the Monte Carlo).
    """
    inv = op = 0.0
    for e in concept.elements:
        f = 1.0 if factors is None else factors.get(e.key, 1.0)
        pv = f * element_present_value(e, assumptions)
        inv += e.investment_share * pv
        op += (1.0 - e.investment_share) * pv
    tax = assumptions.tax_cost_rate * (inv + op)
    return NPV(-inv, -op, -tax)


def financing_need(concept: Concept, assumptions: Assumptions) -> dict[int, dict[str, float]]:
    """Yearly financing need (undiscounted): costs excluding VAT, VAT, and the sum.

    The tax financing cost is not part of it (000:6190-6196).
    """
    out: dict[int, dict[str, float]] = {}
    for y in concept.years():
        if not assumptions.in_period(y):
            continue
        ex = sum(e.yearly.get(y, 0.0) for e in concept.elements)
        vat = sum(
            assumptions.vat_rate * e.yearly.get(y, 0.0) for e in concept.elements if e.vat_liable
        )
        out[y] = {"excl_vat": ex, "vat": vat, "incl_vat": ex + vat}
    return out


@dataclass(frozen=True)
class ConceptResult:
    key: str
    name: str
    gross: NPV
    net: NPV | None  # None for the zero alternative
    undiscounted_total: float
    financing_need_incl_vat: float


@dataclass(frozen=True)
class Comparison:
    zero: str
    results: tuple[ConceptResult, ...]

    def result(self, key: str) -> ConceptResult:
        for r in self.results:
            if r.key == key:
                return r
        raise KeyError(key)

    def ranking(self) -> list[str]:
        """Concepts other than the zero alternative, least costly (highest net NPV) first."""
        others = [(r.key, r.net.total) for r in self.results if r.net is not None]
        return [key for key, _ in sorted(others, key=lambda kt: kt[1], reverse=True)]


def compare(study: CostStudy) -> Comparison:
    """NPV per category for every concept, gross and net of the zero alternative."""
    a = study.assumptions
    zero = study.zero
    z = npv(zero, a)
    results = []
    for c in study.concepts:
        g = npv(c, a)
        need = financing_need(c, a)
        results.append(
            ConceptResult(
                key=c.key,
                name=c.name,
                gross=g,
                net=None if c.zero_alternative else g - z,
                undiscounted_total=sum(v["excl_vat"] for v in need.values()),
                financing_need_incl_vat=sum(v["incl_vat"] for v in need.values()),
            )
        )
    return Comparison(zero=zero.key, results=tuple(results))


def check_against_published(study: CostStudy, step: float = 10.0) -> list[dict]:
    """Compare computed figures with the study's published tables (kept in the data file).

    Returns one row per figure: table, concept, category, published, computed, difference.
    """
    comp = compare(study)
    rows = []
    for table, basis in (("table_9_5", "net"), ("table_10_1", "gross")):
        pub = study.published.get(table, {})
        for key, cats in pub.items():
            if not isinstance(cats, Mapping):
                continue
            r = comp.result(key)
            value = r.gross if (basis == "gross" or r.net is None) else r.net
            d = value.as_dict()
            for cat, p in cats.items():
                rows.append(
                    {
                        "table": table,
                        "concept": key,
                        "category": cat,
                        "published": float(p),
                        "computed": d[cat],
                        "computed_rounded": round_to(d[cat], step),
                        "difference": d[cat] - float(p),
                    }
                )
    return rows


def calibrate_investment_share(
    study: CostStudy, concept_key: str, element_key: str, grid: int = 1001
) -> float:
    """The element's investment share that best reproduces the published category split.

    For an element whose split into investment and operation the study does not publish,
    find the share minimising the squared distance between computed and published
    investment and operating NPVs (net and gross). Totals and tax cost do not depend on it.
    """
    import dataclasses

    concept = study.concept(concept_key)
    a = study.assumptions
    z = npv(study.zero, a)
    targets = []
    p95 = study.published.get("table_9_5", {}).get(concept_key)
    p101 = study.published.get("table_10_1", {}).get(concept_key)
    if p95:
        targets.append(("net", p95))
    if p101:
        targets.append(("gross", p101))
    if not targets:
        raise ValueError(f"no published figures for {concept_key}")
    best, best_err = 0.0, math.inf
    for s in np.linspace(0.0, 1.0, grid):
        els = tuple(
            dataclasses.replace(e, investment_share=float(s)) if e.key == element_key else e
            for e in concept.elements
        )
        g = npv(dataclasses.replace(concept, elements=els), a)
        err = 0.0
        for basis, pub in targets:
            v = g if basis == "gross" else g - z
            err += (v.investment - pub["investment"]) ** 2 + (v.operation - pub["operation"]) ** 2
        if err < best_err:
            best, best_err = float(s), err
    return best


# ---------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------


def pert_sample(
    rng: np.random.Generator, low: float, mode: float, high: float, size: int, lam: float = 4.0
) -> np.ndarray:
    """Draws from the (modified) PERT distribution on [low, high] with the given mode."""
    if high <= low:
        return np.full(size, mode, dtype=float)
    a = 1.0 + lam * (mode - low) / (high - low)
    b = 1.0 + lam * (high - mode) / (high - low)
    return low + rng.beta(a, b, size) * (high - low)


def triangular_sample(
    rng: np.random.Generator, low: float, mode: float, high: float, size: int
) -> np.ndarray:
    if high <= low:
        return np.full(size, mode, dtype=float)
    return rng.triangular(low, mode, high, size)


@dataclass(frozen=True)
class Percentiles:
    p10: float
    p50: float
    p90: float
    mean: float

    def as_dict(self) -> dict[str, float]:
        return {"p10": self.p10, "p50": self.p50, "p90": self.p90, "mean": self.mean}


def _pct(x: np.ndarray) -> Percentiles:
    # Values are negative costs: P10 is the value exceeded with 90 % probability, i.e. the
    # pessimistic (most negative) tenth; P90 the optimistic one.
    p10, p50, p90 = np.percentile(x, [10, 50, 90])
    return Percentiles(float(p10), float(p50), float(p90), float(np.mean(x)))


@dataclass(frozen=True)
class MonteCarloResult:
    n: int
    seed: int
    distribution: str
    gross: Mapping[str, Mapping[str, Percentiles]]  # concept -> category -> percentiles
    net: Mapping[str, Mapping[str, Percentiles]]
    prob_cheapest: Mapping[str, float]  # concept (not K0) -> P(it has the highest net NPV)
    samples_total_net: Mapping[str, np.ndarray] = field(repr=False, default_factory=dict)


def monte_carlo(
    study: CostStudy,
    n: int = 10_000,
    seed: int = 2026,
    distribution: str = "pert",
    uncertainty: Uncertainty | None = None,
) -> MonteCarloResult:
    """Uncertainty by simulation: one factor per cost element key and run.

    The factor for an element key (e.g. ``sigma2_operation``) is shared by all concepts in a
    run, so that the net figures keep the correlation the shared elements give them.
    """
    unc = uncertainty or study.uncertainty
    if unc is None:
        raise ValueError("no uncertainty shapes given")
    rng = np.random.default_rng(seed)
    sampler = {"pert": pert_sample, "triangular": triangular_sample}[distribution]
    keys: dict[str, str | None] = {}
    for c in study.concepts:
        for e in c.elements:
            keys.setdefault(e.key, e.uncertainty)
    factors = {k: sampler(rng, *unc.shape(comp), n) for k, comp in keys.items()}

    a = study.assumptions
    # Vectorised: PV per element is linear in its factor.
    totals: dict[str, dict[str, np.ndarray]] = {}
    for c in study.concepts:
        inv = np.zeros(n)
        op = np.zeros(n)
        for e in c.elements:
            pv = element_present_value(e, a) * factors[e.key]
            inv += e.investment_share * pv
            op += (1.0 - e.investment_share) * pv
        tax = a.tax_cost_rate * (inv + op)
        totals[c.key] = {
            "investment": -inv,
            "operation": -op,
            "tax": -tax,
            "total": -(inv + op + tax),
        }
    zk = study.zero.key
    gross = {c: {cat: _pct(v) for cat, v in cats.items()} for c, cats in totals.items()}
    net = {
        c: {cat: _pct(v - totals[zk][cat]) for cat, v in cats.items()}
        for c, cats in totals.items()
        if c != zk
    }
    others = [c for c in totals if c != zk]
    prob = {}
    if others:
        stack = np.vstack([totals[c]["total"] for c in others])
        best = np.argmax(stack, axis=0)
        prob = {c: float(np.mean(best == i)) for i, c in enumerate(others)}
    samples = {c: totals[c]["total"] - totals[zk]["total"] for c in others}
    return MonteCarloResult(n, seed, distribution, gross, net, prob, samples)


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------


def report(
    study: CostStudy,
    mc: MonteCarloResult | None = None,
    step: float = 10.0,
) -> dict:
    """A JSON-ready report: inputs, NPVs (exact and rounded), financing need, checks."""
    comp = compare(study)
    a = study.assumptions
    concepts = []
    for c in study.concepts:
        r = comp.result(c.key)
        entry = {
            "key": c.key,
            "name": c.name,
            "source_lines": c.source_lines,
            "elements": [
                {
                    "key": e.key,
                    "label": e.label,
                    "yearly": {str(y): v for y, v in sorted(e.yearly.items())},
                    "total": e.total(),
                    "present_value": element_present_value(e, a),
                    "published_total": e.published_total,
                    "investment_share": e.investment_share,
                    "vat_liable": e.vat_liable,
                    "source_lines": e.source_lines,
                }
                for e in c.elements
            ],
            "yearly_total": {str(y): v for y, v in c.yearly_totals().items()},
            "financing_need": {str(y): v for y, v in financing_need(c, a).items()},
            "financing_need_incl_vat": r.financing_need_incl_vat,
            "undiscounted_total": r.undiscounted_total,
            "npv_gross": r.gross.as_dict(),
            "npv_gross_rounded": r.gross.rounded(step),
            "npv_net": r.net.as_dict() if r.net else None,
            "npv_net_rounded": r.net.rounded(step) if r.net else None,
        }
        if mc is not None:
            entry["monte_carlo_gross"] = {k: p.as_dict() for k, p in mc.gross[c.key].items()}
            if c.key in mc.net:
                entry["monte_carlo_net"] = {k: p.as_dict() for k, p in mc.net[c.key].items()}
                entry["probability_least_costly"] = mc.prob_cheapest.get(c.key)
        concepts.append(entry)
    out = {
        "assumptions": {
            "discount_rate": a.discount_rate,
            "base_year": a.base_year,
            "period": [a.first_year, a.last_year],
            "tax_cost_rate": a.tax_cost_rate,
            "vat_rate": a.vat_rate,
            "reconcile_row_totals": a.reconcile_row_totals,
        },
        "zero_alternative": comp.zero,
        "concepts": concepts,
        "ranking_least_costly_first": comp.ranking(),
    }
    if study.published:
        out["check"] = check_against_published(study, step)
    if mc is not None:
        out["monte_carlo"] = {"n": mc.n, "seed": mc.seed, "distribution": mc.distribution}
    return out


def table(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    """A small fixed-width text table."""
    cells = [[str(x) for x in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    out = [line, "-" * len(line)]
    for r in cells:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(out)
