"""Round optimiser: propose grants for a call's scored applications.

Framework-free (NumPy + SciPy, no Django). The allocation app builds the inputs from
the database, calls :func:`propose`, shows the :class:`Proposal` to the operators and
passes every grant they decide on through the policy module; the proposal itself
never commits anything and never bypasses the rules.

Model (see ``docs/optimiser.md`` for the reasoning):

* one fraction ``x_i`` per application: every *eligible* request line is granted
  ``x_i * amount``; ineligible lines get zero;
* ``x_i`` is 0 or in ``[min_share, 1]`` (binary ``y_i`` "funded" with
  ``min_share * y_i <= x_i <= y_i``);
* for every resource class ``c``:
  ``sum_i x_i r_ic <= remaining_c`` (capacity after overbooking and existing commitments),
  ``sum_{i economic} x_i r_ic <= economic_room_c`` (state-aid cap),
  ``sum_{i not research} x_i r_ic <= non_research_room_c`` (research protected share);
* maximise ``sum_i score_i * x_i * sum_c r_ic / norm_c`` where ``norm_c`` is the class's
  capacity for the period (classes have different units, so each line counts as the
  share of its class that it takes).

Solved exactly (to the requested relative gap, default 1e-4) by HiGHS through
:func:`scipy.optimize.milp` on a sparse model (:mod:`scipy.sparse`). ``milp`` takes no
starting solution, so :func:`_solve` first computes the LP bound and heuristic
incumbents and fixes, by reduced costs, the binaries that no better solution can change.

Ties are broken by id; the result does not depend on the order of the input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

__all__ = [
    "Application",
    "ResourceClass",
    "Grant",
    "ConstraintReport",
    "Proposal",
    "OptimiserInputError",
    "propose",
    "greedy",
    "verify",
    "CAPACITY",
    "ECONOMIC",
    "NON_RESEARCH",
    "DEFAULT_MIN_SHARE",
    "DEFAULT_MIP_REL_GAP",
]

CAPACITY = "capacity"
ECONOMIC = "economic"
NON_RESEARCH = "non_research"
KINDS = (CAPACITY, ECONOMIC, NON_RESEARCH)
_KIND_TEXT = {
    CAPACITY: "remaining capacity",
    ECONOMIC: "economic-activity room (state-aid cap)",
    NON_RESEARCH: "non-research room (research protected share)",
}

_SHORT = {CAPACITY: "capacity", ECONOMIC: "economic room", NON_RESEARCH: "non-research room"}

DEFAULT_MIN_SHARE = 0.3
DEFAULT_MIP_REL_GAP = 1e-4

# A limit counts as binding when its slack is at most this share of the limit.
_BINDING_TOL = 1e-5
# Solver fractions this close to 1 or to min_share are taken as exactly that.
_SNAP = 1e-6
# Applications decided exactly in the "core" sub-MILP that finds the first incumbent.
_CORE_SIZE = 300
# Fractions below min_share by at most this are rounding noise, not a violation.
_FRACTION_TOL = 1e-9


class OptimiserInputError(ValueError):
    """The inputs to :func:`propose` are malformed; the message says which and why."""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, kw_only=True)
class Application:
    """One scored application of the round.

    ``requests`` maps resource-class id -> requested amount (> 0) in the class's unit.
    ``economic``: the work is economic activity (counts against the state-aid cap).
    ``research``: the applicant is a research organisation (its use does not count
    against the non-research room).
    """

    id: Hashable
    score: float
    economic: bool
    research: bool
    requests: Mapping[Hashable, float]


@dataclass(frozen=True, kw_only=True)
class ResourceClass:
    """One resource class (e.g. Betzy CPU core-hours) for the round's period.

    ``remaining``: capacity x overbooking factor minus what is already committed.
    ``economic_room``: how much more economic-activity use the state-aid cap allows.
    ``non_research_room``: how much more non-research use the research protected share
    allows. Each may be ``math.inf`` (no such limit); a negative value means the limit
    is already exceeded and is treated as zero room (with a warning).
    ``capacity``: the class's capacity for the period, used only to normalise the
    objective (so classes in different units are comparable); defaults to ``remaining``.
    ``unit``: for reports only (``"core-hours"``, ``"GPU-hours"``, ``"TB-months"``).
    """

    id: Hashable
    remaining: float
    economic_room: float
    non_research_room: float
    capacity: float | None = None
    unit: str = ""


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Grant:
    """The proposal for one application.

    ``fraction`` is 0 or in ``[min_share, 1]``; ``amounts`` has every requested line:
    ``fraction * request`` for eligible lines and 0 for ineligible ones. ``value`` is
    the application's contribution to the objective. ``reason`` says, in words, why an
    application got nothing or only part of its request (empty when fully funded).
    """

    application_id: Hashable
    fraction: float
    amounts: Mapping[Hashable, float]
    value: float
    reason: str = ""

    @property
    def funded(self) -> bool:
        return self.fraction > 0.0


@dataclass(frozen=True)
class ConstraintReport:
    """One limit of one resource class after the proposal.

    ``kind`` is ``"capacity"``, ``"economic"`` or ``"non_research"``. ``used`` is what the
    proposal grants against it (new grants only), ``slack = limit - used``.
    ``binding``: the slack is (numerically) zero. ``shadow_price``: how much the objective
    would grow per extra unit of this limit with the funded set held fixed (0 when not
    binding); ``shadow_price * norm`` is the same per whole class capacity, in score
    units (for a capacity row it is the score of the marginal application).
    """

    kind: str
    class_id: Hashable
    limit: float
    used: float
    slack: float
    binding: bool
    shadow_price: float
    norm: float
    unit: str = ""

    @property
    def utilisation(self) -> float:
        return self.used / self.limit if self.limit > 0 else (1.0 if self.used > 0 else 0.0)

    def describe(self) -> str:
        return f"{_KIND_TEXT[self.kind]} of {self.class_id}"


@dataclass(frozen=True)
class Proposal:
    """What :func:`propose` returns: one :class:`Grant` per application (sorted by id),
    one :class:`ConstraintReport` per finite limit, and the solver's account."""

    grants: tuple[Grant, ...]
    constraints: tuple[ConstraintReport, ...]
    status: str  # "optimal" | "time_limit" | "trivial" | "error"
    message: str
    method: str  # "milp" | "incumbent" (the heuristic beat what the MILP returned) | "none"
    objective: float
    dual_bound: float | None
    mip_gap: float | None
    solve_seconds: float  # wall time of LP, heuristics and MILP
    cpu_seconds: float  # CPU time of the same (what counts on a shared machine)
    total_seconds: float  # wall time of the whole call, validation and reports included
    node_count: int | None
    min_share: float
    fixed: int = 0  # binaries fixed by reduced-cost fixing before the MILP
    warnings: tuple[str, ...] = ()
    _index: Mapping[Hashable, int] = field(default_factory=dict, repr=False, compare=False)

    def grant(self, application_id: Hashable) -> Grant:
        if not self._index:
            object.__setattr__(
                self, "_index", {g.application_id: k for k, g in enumerate(self.grants)}
            )
        return self.grants[self._index[application_id]]

    @property
    def funded(self) -> tuple[Grant, ...]:
        return tuple(g for g in self.grants if g.funded)

    @property
    def binding(self) -> tuple[ConstraintReport, ...]:
        return tuple(c for c in self.constraints if c.binding)

    def totals(self) -> dict[Hashable, float]:
        """Granted amount per resource class."""
        out: dict[Hashable, float] = {}
        for g in self.grants:
            for cid, amt in g.amounts.items():
                out[cid] = out.get(cid, 0.0) + amt
        return out

    def rounded(self, quantum: Decimal | str = "0.01") -> dict[Hashable, dict[Hashable, Decimal]]:
        """Granted amounts as :class:`~decimal.Decimal`, rounded *down* to ``quantum``
        (the database's precision), so rounding can never take a total over a limit.
        A line granted at exactly min_share may end up below it by less than one
        quantum."""
        q = Decimal(quantum)
        return {
            g.application_id: {
                cid: Decimal(repr(amt)).quantize(q, rounding=ROUND_DOWN)
                for cid, amt in g.amounts.items()
            }
            for g in self.grants
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json`` output and the API)."""

        def num(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else v

        return {
            "status": self.status,
            "message": self.message,
            "method": self.method,
            "objective": self.objective,
            "dual_bound": num(self.dual_bound),
            "mip_gap": num(self.mip_gap),
            "solve_seconds": self.solve_seconds,
            "cpu_seconds": self.cpu_seconds,
            "total_seconds": self.total_seconds,
            "node_count": self.node_count,
            "fixed": self.fixed,
            "min_share": self.min_share,
            "warnings": list(self.warnings),
            "grants": [
                {
                    "application": g.application_id,
                    "fraction": g.fraction,
                    "amounts": dict(g.amounts),
                    "value": g.value,
                    "reason": g.reason,
                }
                for g in self.grants
            ],
            "constraints": [
                {
                    "kind": c.kind,
                    "class": c.class_id,
                    "unit": c.unit,
                    "limit": c.limit,
                    "used": c.used,
                    "slack": c.slack,
                    "utilisation": c.utilisation,
                    "binding": c.binding,
                    "shadow_price": c.shadow_price,
                    "shadow_price_per_capacity": c.shadow_price * c.norm,
                }
                for c in self.constraints
            ],
        }


# --------------------------------------------------------------------------- validation


def _number(value: Any, what: str) -> float:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptimiserInputError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise OptimiserInputError(f"{what} is NaN")
    return v


def _sorted_ids(ids: Sequence[Hashable], what: str) -> list[int]:
    """Positions of ``ids`` in ascending id order (the canonical order: ties are broken
    by id, and the model does not depend on the order of the input)."""
    comparable: Sequence[Any] = ids  # hashable by type; sorting finds out if they compare
    try:
        return sorted(range(len(ids)), key=lambda k: comparable[k])
    except TypeError as exc:
        raise OptimiserInputError(f"{what} ids must be mutually comparable ({exc})") from exc


@dataclass
class _Prepared:
    apps: list[Application]  # sorted by id
    classes: list[ResourceClass]  # sorted by id
    class_pos: dict[Hashable, int]
    limits: np.ndarray  # (n_classes, 3): capacity, economic, non-research (>= 0, may be inf)
    norms: np.ndarray  # (n_classes,)
    lines: list[list[tuple[int, float]]]  # per app: eligible (class index, amount)
    has_ineligible: list[bool]
    warnings: list[str]


def _prepare(
    applications: Iterable[Application],
    classes: Iterable[ResourceClass],
    eligible: Iterable[tuple[Hashable, Hashable]] | None,
) -> _Prepared:
    apps = list(applications)
    cls = list(classes)
    warnings: list[str] = []

    for c in cls:
        if not isinstance(c, ResourceClass):
            raise OptimiserInputError(f"expected ResourceClass, got {type(c).__name__}")
    for a in apps:
        if not isinstance(a, Application):
            raise OptimiserInputError(f"expected Application, got {type(a).__name__}")

    cls = [cls[k] for k in _sorted_ids([c.id for c in cls], "resource class")]
    class_pos: dict[Hashable, int] = {}
    for k, c in enumerate(cls):
        if c.id in class_pos:
            raise OptimiserInputError(f"resource class {c.id!r} is given twice")
        class_pos[c.id] = k
    limits = np.zeros((len(cls), 3))
    norms = np.zeros(len(cls))
    for k, c in enumerate(cls):
        limits[k] = _class_limits(c, warnings)
        norms[k] = _class_norm(c, limits[k, 0])

    apps = [apps[k] for k in _sorted_ids([a.id for a in apps], "application")]
    app_ids: set[Hashable] = set()
    for a in apps:
        if a.id in app_ids:
            raise OptimiserInputError(f"application {a.id!r} is given twice")
        app_ids.add(a.id)
        _check_application(a, class_pos)

    allowed = None if eligible is None else _allowed_pairs(eligible, app_ids, class_pos)
    lines: list[list[tuple[int, float]]] = []
    has_ineligible: list[bool] = []
    for a in apps:
        ls = []
        inel = False
        for cid, amt in a.requests.items():
            if allowed is None or (a.id, cid) in allowed:
                ls.append((class_pos[cid], float(amt)))
            else:
                inel = True
        ls.sort()
        lines.append(ls)
        has_ineligible.append(inel)

    return _Prepared(apps, cls, class_pos, limits, norms, lines, has_ineligible, warnings)


def _class_limits(c: ResourceClass, warnings: list[str]) -> list[float]:
    """A class's remaining capacity, economic room and non-research room, each >= 0
    (an exceeded limit counts as no room, with a warning) and possibly infinite."""
    out = []
    for name, raw in (
        ("remaining", c.remaining),
        ("economic_room", c.economic_room),
        ("non_research_room", c.non_research_room),
    ):
        v = _number(raw, f"resource class {c.id!r}: {name}")
        if v < 0:
            warnings.append(
                f"resource class {c.id!r}: {name} is {v:g} (limit already exceeded);"
                " treated as 0, nothing more can be granted against it"
            )
            v = 0.0
        elif v < 1e-250:
            v = 0.0  # below any unit that means something; avoids overflow in scaling
        out.append(v)
    return out


def _class_norm(c: ResourceClass, remaining: float) -> float:
    """What one whole class is worth in the objective: its capacity, else what remains."""
    if c.capacity is not None:
        cap = _number(c.capacity, f"resource class {c.id!r}: capacity")
        if not (0 < cap < math.inf):
            raise OptimiserInputError(
                f"resource class {c.id!r}: capacity must be finite and > 0, got {cap:g}"
            )
        return cap
    if math.isinf(remaining):
        raise OptimiserInputError(
            f"resource class {c.id!r}: remaining capacity is unlimited; give `capacity`"
            " so the objective can be normalised"
        )
    return remaining  # may be 0: then nothing can be granted in the class


def _check_application(a: Application, class_pos: Mapping[Hashable, int]) -> None:
    score = _number(a.score, f"application {a.id!r}: score")
    if score < 0 or math.isinf(score):
        raise OptimiserInputError(
            f"application {a.id!r}: score must be finite and >= 0, got {score:g}"
        )
    if not isinstance(a.economic, (bool, np.bool_)) or not isinstance(a.research, (bool, np.bool_)):
        raise OptimiserInputError(f"application {a.id!r}: economic and research must be booleans")
    if not isinstance(a.requests, Mapping):
        raise OptimiserInputError(
            f"application {a.id!r}: requests must be a mapping class id -> amount"
        )
    for cid, amt in a.requests.items():
        if cid not in class_pos:
            raise OptimiserInputError(
                f"application {a.id!r} requests unknown resource class {cid!r}"
            )
        v = _number(amt, f"application {a.id!r}: request for {cid!r}")
        if not (0 < v < math.inf):
            raise OptimiserInputError(
                f"application {a.id!r}: request for {cid!r} must be finite and > 0, got {v:g}"
            )


def _allowed_pairs(
    eligible: Iterable[tuple[Hashable, Hashable]],
    app_ids: set[Hashable],
    class_pos: Mapping[Hashable, int],
) -> set[tuple[Hashable, Hashable]]:
    allowed: set[tuple[Hashable, Hashable]] = set()
    for pair in eligible:
        try:
            aid, cid = pair
        except (TypeError, ValueError) as exc:
            raise OptimiserInputError(
                f"eligible must hold (application id, class id) pairs, got {pair!r}"
            ) from exc
        if aid not in app_ids:
            raise OptimiserInputError(f"eligible names unknown application {aid!r}")
        if cid not in class_pos:
            raise OptimiserInputError(f"eligible names unknown resource class {cid!r}")
        allowed.add((aid, cid))
    return allowed


# --------------------------------------------------------------------------- the model


def _row_kinds(app: Application) -> tuple[int, ...]:
    """Which of the three limits of a class an application's line counts against."""
    kinds = [0]
    if app.economic:
        kinds.append(1)
    if not app.research:
        kinds.append(2)
    return tuple(kinds)


@dataclass
class _Model:
    cand: np.ndarray  # positions (in sorted apps) of the candidates
    weight: np.ndarray  # objective weight per candidate (value of a full grant)
    usage: sparse.csc_matrix  # (n_rows, k) raw usage of a full grant
    row_kind: np.ndarray  # index into KINDS
    row_class: np.ndarray  # class index
    row_limit: np.ndarray  # > 0 and finite
    groups: list[list[int]]  # interchangeable candidates (by position in cand), id order


def _screen(prep: _Prepared, min_share: float) -> tuple[list[int], dict[int, str]]:
    """Split applications into candidates and those that cannot get anything, with why."""
    cand: list[int] = []
    reasons: dict[int, str] = {}
    for i, a in enumerate(prep.apps):
        if not a.requests:
            reasons[i] = "nothing requested"
            continue
        if not prep.lines[i]:
            reasons[i] = "no eligible line: placement or tier rules allow none of its requests"
            continue
        if float(a.score) == 0.0:
            reasons[i] = "score is 0, so a grant adds nothing to the objective"
            continue
        why = None
        for ci, amt in prep.lines[i]:
            for j in _row_kinds(a):
                lim = prep.limits[ci, j]
                need = min_share * amt
                if need > lim:
                    cid = prep.classes[ci].id
                    if lim == 0:
                        why = f"no {_KIND_TEXT[KINDS[j]]} left in {cid}"
                    else:
                        why = (
                            f"cannot fit: the smallest grant ({min_share:g} x {amt:g} = {need:g})"
                            f" in {cid} exceeds its {_KIND_TEXT[KINDS[j]]} ({lim:g})"
                        )
                    break
            if why:
                break
        if why:
            reasons[i] = why
            continue
        cand.append(i)
    return cand, reasons


def _build(prep: _Prepared, cand: list[int]) -> _Model:
    n_cls = len(prep.classes)
    row_of = -np.ones((n_cls, 3), dtype=np.int64)
    row_kind: list[int] = []
    row_class: list[int] = []
    row_limit: list[float] = []
    for ci in range(n_cls):
        for j in range(3):
            lim = prep.limits[ci, j]
            if math.isfinite(lim) and lim > 0:
                row_of[ci, j] = len(row_limit)
                row_kind.append(j)
                row_class.append(ci)
                row_limit.append(lim)

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    weight = np.zeros(len(cand))
    keys: dict[tuple, list[int]] = {}
    for col, i in enumerate(cand):
        a = prep.apps[i]
        kinds = _row_kinds(a)
        w = 0.0
        for ci, amt in prep.lines[i]:
            w += amt / prep.norms[ci]
            for j in kinds:
                r = row_of[ci, j]
                if r >= 0:
                    rows.append(int(r))
                    cols.append(col)
                    vals.append(amt)
        weight[col] = float(a.score) * w
        if not math.isfinite(weight[col]):
            raise OptimiserInputError(
                f"application {a.id!r}: its value overflows (requests out of all proportion"
                " to the classes' capacities)"
            )
        key = (float(a.score), bool(a.economic), bool(a.research), tuple(prep.lines[i]))
        keys.setdefault(key, []).append(col)

    usage = sparse.csc_matrix(
        (np.asarray(vals, dtype=float), (np.asarray(rows, dtype=np.int64), np.asarray(cols))),
        shape=(len(row_limit), len(cand)),
    )
    groups = [g for g in keys.values() if len(g) > 1]
    return _Model(
        cand=np.asarray(cand, dtype=np.int64),
        weight=weight,
        usage=usage,
        row_kind=np.asarray(row_kind, dtype=np.int64),
        row_class=np.asarray(row_class, dtype=np.int64),
        row_limit=np.asarray(row_limit, dtype=float),
        groups=groups,
    )


def _scaled(model: _Model) -> sparse.csr_matrix:
    """Usage as a share of each limit (rows with right-hand side 1): well scaled for
    HiGHS whatever the units."""
    return (sparse.diags(1.0 / model.row_limit) @ model.usage).tocsr()


@dataclass
class _LP:
    x: np.ndarray
    bound: float  # LP optimum: an upper bound on every proposal's objective
    reduced: np.ndarray  # reduced cost of each x (maximisation sign)


def _lp_relaxation(model: _Model) -> _LP | None:
    """The continuous relaxation (fractions anywhere in [0, 1]). Its optimum bounds the
    MILP from above; its reduced costs drive the fixing below."""
    scaled = _scaled(model)
    res = linprog(
        -model.weight,
        A_ub=scaled,
        b_ub=np.ones(scaled.shape[0]),
        bounds=(0.0, 1.0),
        method="highs",
    )
    if res.status != 0 or res.ineqlin is None:
        return None
    duals = -np.asarray(res.ineqlin.marginals)
    reduced = model.weight - scaled.T @ duals
    return _LP(x=np.asarray(res.x), bound=-float(res.fun), reduced=np.asarray(reduced))


def _solve_milp(
    model: _Model,
    min_share: float,
    time_limit: float | None,
    mip_rel_gap: float,
    fix_out: np.ndarray,
    fix_in: np.ndarray,
) -> tuple[Any, float]:
    """The exact model, solved by HiGHS. ``fix_out``: candidates proven not to be in any
    solution better than the incumbent (y = 0); ``fix_in``: proven to be in every such
    solution (y = 1)."""
    k = len(model.cand)
    n_rows = len(model.row_limit)
    eye = sparse.identity(k, format="csr")

    blocks = [
        sparse.hstack([_scaled(model), sparse.csr_matrix((n_rows, k))]),
        sparse.hstack([eye, -eye]),  # x - y <= 0
        sparse.hstack([eye, -min_share * eye]),  # x - m y >= 0
    ]
    lb = [np.full(n_rows, -np.inf), np.full(k, -np.inf), np.zeros(k)]
    ub = [np.ones(n_rows), np.zeros(k), np.full(k, np.inf)]

    # Interchangeable applications (same score, flags and eligible lines): the one with
    # the lower id gets at least as much. This is the tie rule, and it also removes
    # symmetric branches from the search.
    pairs = [(g[t], g[t + 1]) for g in model.groups for t in range(len(g) - 1)]
    if pairs:
        p = np.asarray(pairs, dtype=np.int64)
        m = len(pairs)
        r = np.arange(m)
        ones = np.r_[np.ones(m), -np.ones(m)]
        for shift in (0, k):  # x_i - x_j >= 0 and y_i - y_j >= 0
            blocks.append(
                sparse.csr_matrix(
                    (ones, (np.r_[r, r], np.r_[p[:, 0] + shift, p[:, 1] + shift])),
                    shape=(m, 2 * k),
                )
            )
            lb.append(np.zeros(m))
            ub.append(np.full(m, np.inf))

    lower = np.zeros(2 * k)
    upper = np.ones(2 * k)
    upper[:k][fix_out] = 0.0
    upper[k:][fix_out] = 0.0
    lower[k:][fix_in] = 1.0
    lower[:k][fix_in] = min_share

    A = sparse.vstack(blocks, format="csr")
    c = np.r_[-model.weight, np.zeros(k)]
    integrality = np.r_[np.zeros(k), np.ones(k)]
    options: dict[str, Any] = {"presolve": True, "mip_rel_gap": mip_rel_gap}
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 0.01)
    t0 = time.perf_counter()
    res = milp(
        c,
        integrality=integrality,
        bounds=Bounds(lower, upper),
        constraints=LinearConstraint(A, np.concatenate(lb), np.concatenate(ub)),
        options=options,
    )
    return res, time.perf_counter() - t0


def _clean(x: np.ndarray, funded: np.ndarray, min_share: float) -> np.ndarray:
    """Snap a solver's answer to the rule: 0 or in [min_share, 1]; values within the
    solver's tolerance of 1 or of min_share become exactly that (repair then takes any
    excess this causes from a partly funded application)."""
    x = np.clip(x, min_share, 1.0)
    x = np.where(x >= 1.0 - _SNAP, 1.0, x)
    x = np.where(x <= min_share + _SNAP, min_share, x)
    return np.where(funded, x, 0.0)


def _targets(model: _Model) -> np.ndarray:
    return model.row_limit


def _density(model: _Model) -> np.ndarray:
    use = np.asarray(_scaled(model).sum(axis=0)).ravel()
    return model.weight / np.maximum(use, 1e-300)


def _order(primary: np.ndarray) -> np.ndarray:
    """Candidates by ``primary`` descending, ties by id (position in cand) ascending."""
    return np.lexsort((np.arange(len(primary)), -primary))


def _repair(model: _Model, frac: np.ndarray, min_share: float) -> np.ndarray:
    """Make sure no limit is exceeded (guards against solver tolerances, which leave
    excesses of the order of 1e-7 of a limit). On an over-full row, trim funded
    applications, least dense first: first those that can absorb the whole excess and
    stay at or above min_share, then any down to min_share, and drop one only if
    nothing else helps."""
    target = _targets(model)
    used = model.usage @ frac
    over = np.nonzero(used > target)[0]
    if not len(over):
        return frac
    frac = frac.copy()
    csr = model.usage.tocsr()
    order = _order(_density(model))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    for r in over:
        lo, hi = csr.indptr[r], csr.indptr[r + 1]
        cols = csr.indices[lo:hi]
        vals = csr.data[lo:hi]
        least_dense = np.argsort(-rank[cols], kind="stable")
        excess = float(vals @ frac[cols]) - target[r]
        for phase in ("absorb", "down_to_min", "drop"):
            for t in least_dense:
                if excess <= 0:
                    break
                j, a = cols[t], vals[t]
                if frac[j] <= 0:
                    continue
                cut = excess / a * (1 + 1e-9)
                if phase == "absorb":
                    if frac[j] - cut >= min_share:
                        frac[j] -= cut
                        excess = 0.0
                elif phase == "down_to_min":
                    give = max(frac[j] - min_share, 0.0)
                    take = min(give, cut)
                    frac[j] -= take
                    excess -= take * a
                else:
                    excess -= frac[j] * a
                    frac[j] = 0.0
    return frac


def _polish(
    model: _Model, frac: np.ndarray, min_share: float, order: np.ndarray | None = None
) -> np.ndarray:
    """Fill what is left: in ``order`` (default: value per share of the limits used,
    ties by id) raise funded fractions and fund unfunded candidates whose minimum grant
    fits. Never lowers anything, so the objective can only grow."""
    frac = frac.copy()
    slack = _targets(model) - model.usage @ frac
    indptr, indices, data = model.usage.indptr, model.usage.indices, model.usage.data
    if order is None:
        order = _order(_density(model))
    for j in order:
        if frac[j] >= 1.0:
            continue
        lo, hi = indptr[j], indptr[j + 1]
        rows, a = indices[lo:hi], data[lo:hi]
        room = float(np.min(slack[rows] / a)) if hi > lo else math.inf
        if room <= 0:
            continue
        new = min(1.0, frac[j] + room)
        if frac[j] == 0.0 and new < min_share:
            continue
        if new - frac[j] < 1e-12:
            continue
        slack[rows] -= (new - frac[j]) * a
        frac[j] = new
    return frac


def _exact(model: _Model, frac: np.ndarray, min_share: float) -> np.ndarray:
    """Guarantee, in floating point, that the granted amounts ``fraction * request`` of
    every row add up to at most the limit, both exactly (``math.fsum``) and summed in
    id order: trims the funded application with most room above min_share by the
    excess (a few ulps at most after repair), never touching exact fits."""
    frac = frac.copy()
    csr = model.usage.tocsr()
    for _ in range(4):
        clean = True
        for r in range(csr.shape[0]):
            lo, hi = csr.indptr[r], csr.indptr[r + 1]
            cols, vals = csr.indices[lo:hi], csr.data[lo:hi]
            on = frac[cols] > 0
            if not on.any():
                continue
            cols, vals = cols[on], vals[on]
            amounts = [float(f) * float(a) for f, a in zip(frac[cols], vals, strict=True)]
            in_order = 0.0
            for t in np.argsort(cols, kind="stable"):
                in_order += amounts[t]
            limit = float(model.row_limit[r])
            excess = max(math.fsum(amounts), in_order) - limit
            if excess <= 0:
                continue
            clean = False
            spare = (frac[cols] - min_share) * vals
            t = int(np.argmax(spare))
            j, a = cols[t], float(vals[t])
            cut = excess / a * 2.0 + 4 * np.spacing(frac[j])
            frac[j] = frac[j] - cut if frac[j] - cut >= min_share else 0.0
        if clean:
            break
    return frac


def _lex_fill(total: float, size: int, min_share: float) -> list[float]:
    """The fractions of ``size`` interchangeable applications that add up to ``total``,
    each 0 or in [min_share, 1], with the earliest (lowest id) as large as possible."""
    out: list[float] = []
    eps = 1e-12
    for pos in range(size):
        left = size - pos - 1
        if total <= eps:
            out.append(0.0)
            continue
        best = None
        top = min(1.0, total)
        for q in range(0, left + 1):  # the rest is carried by q further applications
            lo, hi = total - q, total - q * min_share  # v must lie in [lo, hi]
            v = min(top, hi)
            if v >= max(min_share, lo) - eps:
                best = v if best is None else max(best, v)
        v = best if best is not None else top
        out.append(v)
        total -= v
    return out


def _canonical_ties(model: _Model, frac: np.ndarray, min_share: float) -> np.ndarray:
    """Ties are broken by id: among interchangeable applications (same score, flags and
    eligible lines) the lower ids are filled first. Moving fractions among them changes
    neither the limits used nor the objective."""
    if not model.groups:
        return frac
    frac = frac.copy()
    for g in model.groups:
        total = float(frac[g].sum())
        frac[g] = _lex_fill(total, len(g), min_share)
    return frac


def _greedy_fractions(model: _Model, min_share: float) -> np.ndarray:
    return _polish(model, np.zeros(len(model.cand)), min_share)


def _shadow_prices(model: _Model, frac: np.ndarray, min_share: float) -> np.ndarray:
    """Duals of the limits in the LP that keeps the funded set fixed (fractions free in
    [min_share, 1]). Objective gained per extra unit of each limit."""
    prices = np.zeros(len(model.row_limit))
    funded = np.nonzero(frac > 0)[0]
    if not len(funded) or not len(model.row_limit):
        return prices
    scaled = _scaled(model)[:, funded].tocsr()
    active = np.nonzero(np.diff(scaled.indptr) > 0)[0]
    if not len(active):
        return prices
    res = linprog(
        -model.weight[funded],
        A_ub=scaled[active],
        b_ub=np.ones(len(active)),
        bounds=np.c_[np.full(len(funded), min_share), np.ones(len(funded))],
        method="highs",
    )
    if res.status != 0 or res.ineqlin is None:
        return prices
    duals = -np.asarray(res.ineqlin.marginals)  # >= 0: objective per share of the limit
    prices[active] = np.where(duals > 1e-12, duals, 0.0) / model.row_limit[active]
    return prices


@dataclass
class _Solution:
    frac: np.ndarray
    status: str
    message: str
    method: str
    dual_bound: float | None
    node_count: int | None
    solve_seconds: float
    cpu_seconds: float
    fixed: int  # binaries fixed by reduced-cost fixing before the MILP


def _incumbents(
    model: _Model,
    lp: _LP | None,
    min_share: float,
    time_limit: float | None,
    mip_rel_gap: float,
) -> list[np.ndarray]:
    """Feasible fractions to start from: greedy by density; LP rounding (drop the
    fractional ones) then fill; and on large rounds a "core" sub-MILP."""
    k = len(model.cand)
    incumbents = [_greedy_fractions(model, min_share)]
    if lp is not None:
        start = np.where(lp.x >= min_share, np.minimum(lp.x, 1.0), 0.0)
        start = _repair(model, start, min_share)
        incumbents.append(_polish(model, start, min_share))
        incumbents.append(_polish(model, start, min_share, _order(lp.reduced)))
    if lp is not None and k > _CORE_SIZE:
        # "Core" sub-MILP: applications far from the LP's margin (large |reduced
        # cost|) keep their LP decision; the few hundred near it are decided exactly.
        # Cheap, and its answer is usually within 1e-6 of the optimum, which makes the
        # reduced-cost fixing remove nearly every binary.
        core = np.zeros(k, dtype=bool)
        core[np.argsort(np.abs(lp.reduced), kind="stable")[:_CORE_SIZE]] = True
        core |= (lp.x > 1e-9) & (lp.x < 1.0 - 1e-9)
        limit = None if time_limit is None else max(0.2 * time_limit, 0.05)
        res, _ = _solve_milp(
            model, min_share, limit, mip_rel_gap, ~core & (lp.x <= 0.5), ~core & (lp.x > 0.5)
        )
        if res.x is not None:
            sub = _clean(res.x[:k], res.x[k:] > 0.5, min_share)
            incumbents.append(_polish(model, _repair(model, sub, min_share), min_share))
    return incumbents


def _reduced_cost_fixing(
    lp: _LP | None, k: int, z_inc: float, min_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates proven out of (and into) every solution better than the
    incumbent's objective ``z_inc``."""
    fix_out = np.zeros(k, dtype=bool)
    fix_in = np.zeros(k, dtype=bool)
    if lp is not None:
        # Any solution better than z_inc stays within `room` of the LP bound. Funding
        # an application at LP value 0 costs at least min_share * |reduced cost|;
        # dropping one at LP value 1 costs at least its reduced cost.
        room = max(lp.bound - z_inc, 0.0) + 1e-7 * max(abs(lp.bound), 1.0)
        fix_out = (lp.x <= 1e-9) & (min_share * -lp.reduced > room)
        fix_in = (lp.x >= 1.0 - 1e-9) & (lp.reduced > room)
    return fix_out, fix_in


def _nothing_to_solve() -> _Solution:
    return _Solution(
        frac=np.zeros(0),
        status="trivial",
        message="no application can be granted anything",
        method="none",
        dual_bound=0.0,
        node_count=None,
        solve_seconds=0.0,
        cpu_seconds=0.0,
        fixed=0,
    )


def _solve(
    model: _Model, min_share: float, time_limit: float | None, mip_rel_gap: float
) -> _Solution:
    """LP relaxation (bound) -> heuristics (incumbent) -> reduced-cost fixing -> MILP.

    The heuristic incumbent does what a warm start would: HiGHS through SciPy takes no
    starting solution, so instead the incumbent and the LP's reduced costs prove which
    binaries cannot differ in any better solution, and those are fixed before the MILP.
    That is exact (no optimum better than the incumbent is cut off) and leaves HiGHS a
    much smaller problem. The answer is the better of the incumbent and the MILP's.
    """
    t0 = time.perf_counter()
    c0 = time.process_time()
    k = len(model.cand)
    w = model.weight
    lp = _lp_relaxation(model)
    incumbents = _incumbents(model, lp, min_share, time_limit, mip_rel_gap)
    best = max(incumbents, key=lambda f: float(w @ f))
    z_inc = float(w @ best)
    fix_out, fix_in = _reduced_cost_fixing(lp, k, z_inc, min_share)

    remaining = None
    if time_limit is not None:
        remaining = time_limit - (time.perf_counter() - t0)
    res, _ = _solve_milp(model, min_share, remaining, mip_rel_gap, fix_out, fix_in)
    node_count = getattr(res, "mip_node_count", None)
    status = {0: "optimal", 1: "time_limit"}.get(res.status, "error")
    message = str(res.message)
    method = "milp"
    bound: float | None = None
    if getattr(res, "mip_dual_bound", None) is not None and np.isfinite(res.mip_dual_bound):
        bound = -float(res.mip_dual_bound)

    if res.x is not None:
        frac = _clean(res.x[:k], res.x[k:] > 0.5, min_share)
        frac = _polish(model, _repair(model, frac, min_share), min_share)
        if float(w @ frac) < z_inc:
            frac, method = best, "incumbent"
    else:
        frac, method = best, "incumbent"

    # Upper bound for the true optimum: the LP's, or tighter, the MILP's (valid for the
    # region that the fixing kept, which holds every solution better than z_inc).
    bounds = []
    if lp is not None:
        bounds.append(lp.bound)
    if bound is not None:
        bounds.append(max(bound, z_inc))
    dual_bound = min(bounds) if bounds else None
    return _Solution(
        frac=_exact(model, _canonical_ties(model, frac, min_share), min_share),
        status=status,
        message=message,
        method=method,
        dual_bound=dual_bound,
        node_count=node_count,
        solve_seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        fixed=int(fix_out.sum() + fix_in.sum()),
    )


# --------------------------------------------------------------------------- API


def _check_settings(
    min_share: float, time_limit: float | None, mip_rel_gap: float
) -> tuple[float, float]:
    """``min_share`` and ``mip_rel_gap`` as checked floats; ``time_limit`` checked."""
    ms = _number(min_share, "min_share")
    if not (0.0 < ms <= 1.0):
        raise OptimiserInputError(f"min_share must be in (0, 1], got {ms:g}")
    if time_limit is not None:
        tl = _number(time_limit, "time_limit")
        if not tl > 0:
            raise OptimiserInputError(f"time_limit must be > 0 seconds, got {tl:g}")
    gap = _number(mip_rel_gap, "mip_rel_gap")
    if not (0.0 <= gap < 1.0):
        raise OptimiserInputError(f"mip_rel_gap must be in [0, 1), got {gap:g}")
    return ms, gap


def propose(
    applications: Iterable[Application],
    classes: Iterable[ResourceClass],
    *,
    eligible: Iterable[tuple[Hashable, Hashable]] | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
    time_limit: float | None = None,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
) -> Proposal:
    """Propose grants that maximise score-weighted granted capacity within the limits.

    ``eligible``: the (application id, class id) pairs that placement and tier rules
    allow; ``None`` means every request line is eligible. Lines not in it get zero.
    ``min_share`` in (0, 1]: a funded application gets at least this share of every
    eligible line. ``time_limit`` (seconds, ``None`` = none) bounds the solve; if it
    runs out, the best solution found is returned (status ``"time_limit"``; it is always
    a feasible proposal, at worst the heuristic one, method ``"incumbent"``).
    ``mip_rel_gap``: stop when the objective is proven within this relative distance of
    the optimum (default 1e-4, HiGHS's own default; 0 asks for a full proof).

    Raises :class:`OptimiserInputError` (a ``ValueError``) on malformed input.
    """
    t_start = time.perf_counter()
    ms, gap = _check_settings(min_share, time_limit, mip_rel_gap)

    prep = _prepare(applications, classes, eligible)
    cand, reasons = _screen(prep, ms)
    model = _build(prep, cand)
    warnings = list(prep.warnings)

    k = len(model.cand)
    sol = _solve(model, ms, time_limit, gap) if k else _nothing_to_solve()
    frac = sol.frac
    if sol.method == "incumbent" and sol.status != "optimal":
        warnings.append(
            f"the MILP stopped early ({sol.message}); the best heuristic solution is used"
        )

    objective = float(model.weight @ frac) if k else 0.0
    dual_bound = sol.dual_bound
    mip_gap: float | None = None
    if dual_bound is not None:
        dual_bound = max(dual_bound, objective)
        mip_gap = (dual_bound - objective) / abs(objective) if objective else 0.0

    prices = _shadow_prices(model, frac, ms) if k else np.zeros(len(model.row_limit))
    used = model.usage @ frac if k else np.zeros(len(model.row_limit))
    return Proposal(
        grants=tuple(_grants(prep, model, frac, reasons, _binding_rows(model, used))),
        constraints=tuple(_constraint_reports(prep, model, used, prices)),
        status=sol.status,
        message=sol.message,
        method=sol.method,
        objective=objective,
        dual_bound=dual_bound,
        mip_gap=mip_gap,
        solve_seconds=sol.solve_seconds,
        cpu_seconds=sol.cpu_seconds,
        total_seconds=time.perf_counter() - t_start,
        node_count=sol.node_count,
        fixed=sol.fixed,
        min_share=ms,
        warnings=tuple(warnings),
    )


def _constraint_reports(
    prep: _Prepared, model: _Model, used: np.ndarray, prices: np.ndarray
) -> list[ConstraintReport]:
    """One report per finite limit of every class (also empty or zero ones)."""
    reports: list[ConstraintReport] = []
    row_lookup = {
        (int(model.row_class[r]), int(model.row_kind[r])): r for r in range(len(model.row_limit))
    }
    for ci, c in enumerate(prep.classes):
        for j, kind in enumerate(KINDS):
            lim = float(prep.limits[ci, j])
            if not math.isfinite(lim):
                continue
            r = row_lookup.get((ci, j))
            u = float(used[r]) if r is not None else 0.0
            slack = lim - u
            reports.append(
                ConstraintReport(
                    kind=kind,
                    class_id=c.id,
                    limit=lim,
                    used=u,
                    slack=slack,
                    binding=slack <= _BINDING_TOL * lim,
                    shadow_price=float(prices[r]) if r is not None else 0.0,
                    norm=float(prep.norms[ci]),
                    unit=c.unit,
                )
            )
    return reports


def _binding_rows(model: _Model, used: np.ndarray) -> set[tuple[int, int]]:
    """(class index, kind index) of the limits the proposal uses up."""
    return {
        (int(model.row_class[r]), int(model.row_kind[r]))
        for r in range(len(model.row_limit))
        if model.row_limit[r] - used[r] <= _BINDING_TOL * model.row_limit[r]
    }


def _grants(
    prep: _Prepared,
    model: _Model,
    frac: np.ndarray,
    reasons: Mapping[int, str],
    binding_rows: set[tuple[int, int]],
) -> list[Grant]:
    """One grant per application, in id order, each with the reason for what it got."""
    grants: list[Grant] = []
    pos_in_model = {int(i): col for col, i in enumerate(model.cand)}
    for i, a in enumerate(prep.apps):
        col = pos_in_model.get(i)
        f = float(frac[col]) if col is not None else 0.0
        eligible_cls = {prep.classes[ci].id for ci, _ in prep.lines[i]}
        amounts = {
            cid: (f * float(amt) if cid in eligible_cls else 0.0) for cid, amt in a.requests.items()
        }
        if col is None:
            value = 0.0
            reason = reasons[i]
        else:
            value = float(model.weight[col]) * f
            reason = _funding_reason(prep, i, f, binding_rows)
        if prep.has_ineligible[i] and f > 0:
            inel = sorted(str(cid) for cid in a.requests if cid not in eligible_cls)
            note = f"ineligible lines get nothing: {', '.join(inel)}"
            reason = f"{reason}; {note}" if reason else note
        grants.append(
            Grant(
                application_id=a.id,
                fraction=f,
                amounts=MappingProxyType(amounts),
                value=value,
                reason=reason,
            )
        )
    return grants


def _funding_reason(
    prep: _Prepared, i: int, fraction: float, binding_rows: set[tuple[int, int]]
) -> str:
    """Why candidate ``i`` got nothing or only part of its request, naming the limits
    that are used up in the classes it asks for (empty when fully funded)."""
    tight = []
    for ci, _ in prep.lines[i]:
        kinds = [_SHORT[KINDS[j]] for j in _row_kinds(prep.apps[i]) if (ci, j) in binding_rows]
        if kinds:
            tight.append(f"{prep.classes[ci].id} ({', '.join(kinds)})")
    where = ", ".join(tight) if tight else "the limits of the classes it asks for"
    if fraction == 0.0:
        return f"not selected: applications of higher value per unit fill {where}"
    if fraction < 1.0:
        return f"partly funded ({100 * fraction:.6g} % of the request): limited by {where}"
    return ""


def greedy(
    applications: Iterable[Application],
    classes: Iterable[ResourceClass],
    *,
    eligible: Iterable[tuple[Hashable, Hashable]] | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
) -> dict[Hashable, float]:
    """A simple baseline: fund in order of value per share of the limits used (ties by
    id), each as fully as what is left allows, skipping those whose minimum grant no
    longer fits. Returns application id -> fraction. Used for comparison in the
    benchmark and as the fallback when the MILP finds no solution in its time limit."""
    ms = _number(min_share, "min_share")
    if not (0.0 < ms <= 1.0):
        raise OptimiserInputError(f"min_share must be in (0, 1], got {ms:g}")
    prep = _prepare(applications, classes, eligible)
    cand, _ = _screen(prep, ms)
    model = _build(prep, cand)
    frac = _exact(model, _greedy_fractions(model, ms), ms) if cand else np.zeros(0)
    out = {a.id: 0.0 for a in prep.apps}
    for col, i in enumerate(model.cand):
        out[prep.apps[int(i)].id] = float(frac[col])
    return out


def verify(
    applications: Iterable[Application],
    classes: Iterable[ResourceClass],
    proposal: Proposal,
    *,
    eligible: Iterable[tuple[Hashable, Hashable]] | None = None,
    min_share: float | None = None,
) -> list[str]:
    """Check a proposal against every limit, independently of how it was made. Returns
    the violations in words (empty list: all limits hold). ``min_share`` defaults to
    the proposal's own."""
    ms = proposal.min_share if min_share is None else float(min_share)
    apps = {a.id: a for a in applications}
    cls = {c.id: c for c in classes}
    allowed = None if eligible is None else {tuple(p) for p in eligible}
    problems: list[str] = []
    totals = {cid: [0.0, 0.0, 0.0] for cid in cls}
    seen = set()
    for g in proposal.grants:
        a = apps.get(g.application_id)
        if a is None:
            problems.append(f"grant for unknown application {g.application_id!r}")
            continue
        seen.add(a.id)
        problems.extend(_grant_problems(g, a, ms, allowed, totals))
    for aid in apps:
        if aid not in seen:
            problems.append(f"application {aid!r} has no grant in the proposal")
    for cid, c in cls.items():
        for j, (name, lim) in enumerate(
            (
                ("remaining capacity", c.remaining),
                ("economic room", c.economic_room),
                ("non-research room", c.non_research_room),
            )
        ):
            lim = max(0.0, float(lim))
            if totals[cid][j] > lim:
                problems.append(f"{cid!r}: {name} exceeded: granted {totals[cid][j]!r} > {lim!r}")
    return problems


def _grant_problems(
    g: Grant,
    a: Application,
    min_share: float,
    allowed: set[tuple[Hashable, ...]] | None,
    totals: dict[Hashable, list[float]],
) -> list[str]:
    """What is wrong with one application's grant; adds its amounts to ``totals``
    (capacity, economic, non-research per class)."""
    problems = []
    if g.fraction != 0.0 and not (min_share - _FRACTION_TOL <= g.fraction <= 1.0):
        problems.append(f"application {a.id!r}: fraction {g.fraction!r} is in (0, min_share)")
    for cid, amt in g.amounts.items():
        if cid not in a.requests:
            problems.append(f"application {a.id!r}: grant in {cid!r}, which it did not request")
            continue
        if amt < 0:
            problems.append(f"application {a.id!r}: negative grant in {cid!r}")
        ok = allowed is None or (a.id, cid) in allowed
        if not ok and amt != 0.0:
            problems.append(f"application {a.id!r}: grant in ineligible class {cid!r}")
        if ok and not math.isclose(
            amt, g.fraction * float(a.requests[cid]), rel_tol=1e-9, abs_tol=0
        ):
            problems.append(
                f"application {a.id!r}: {cid!r} grant {amt!r} is not fraction x request"
            )
        t = totals[cid]
        t[0] += amt
        if a.economic:
            t[1] += amt
        if not a.research:
            t[2] += amt
    return problems
