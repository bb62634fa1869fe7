"""Property test: on random small rounds the optimiser finds the brute-force optimum.

Brute force: every subset S of applications is tried as the funded set; for a fixed S
the best fractions (each in [min_share, 1], the rest 0) are a small LP. The best over
all subsets is the optimum of the rule. This shares no code with the optimiser's model.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from regnekraft.allocation.optimiser import Application, ResourceClass, propose

from .checks import violations, weight

CLASS_IDS = ["cpu", "gpu", "disk"]


def brute_force(apps, classes, eligible, min_share):
    w = np.array([weight(a, classes, eligible) for a in apps])
    rows, rhs = [], []
    for c in classes:
        for kind, lim in (
            ("capacity", c.remaining),
            ("economic", c.economic_room),
            ("non_research", c.non_research_room),
        ):
            if math.isinf(lim):
                continue
            row = []
            for a in apps:
                counts = (
                    kind == "capacity"
                    or (kind == "economic" and a.economic)
                    or (kind == "non_research" and not a.research)
                )
                ok = (a.id, c.id) in eligible
                row.append(a.requests.get(c.id, 0.0) if counts and ok else 0.0)
            rows.append(row)
            rhs.append(max(lim, 0.0))
    A = np.array(rows, dtype=float)
    b = np.array(rhs, dtype=float)
    best = 0.0
    n = len(apps)
    for size in range(1, n + 1):
        for subset in itertools.combinations(range(n), size):
            bounds = [(min_share, 1.0) if i in subset else (0.0, 0.0) for i in range(n)]
            res = linprog(-w, A_ub=A, b_ub=b, bounds=bounds, method="highs")
            if res.status == 0:
                best = max(best, -res.fun)
    return best


@st.composite
def rounds(draw):
    n_classes = draw(st.integers(1, 3))
    cids = CLASS_IDS[:n_classes]
    n = draw(st.integers(1, 6))
    apps = []
    for i in range(n):
        chosen = draw(st.lists(st.sampled_from(cids), min_size=1, max_size=n_classes, unique=True))
        requests = {c: draw(st.integers(1, 100)) * 1.0 for c in chosen}
        research = draw(st.booleans())
        apps.append(
            Application(
                id=i,
                score=draw(st.sampled_from([0.0, 1.0, 2.5, 3.0, 4.0, 5.5, 7.0])),
                economic=draw(st.booleans()) if not research else False,
                research=research,
                requests=requests,
            )
        )
    classes = []
    for c in cids:
        demand = sum(a.requests.get(c, 0.0) for a in apps) or 1.0
        remaining = draw(st.integers(0, int(demand))) * 1.0
        econ = draw(st.one_of(st.just(math.inf), st.integers(0, int(demand)).map(float)))
        nonres = draw(st.one_of(st.just(math.inf), st.integers(0, int(demand)).map(float)))
        classes.append(
            ResourceClass(
                id=c,
                remaining=remaining,
                economic_room=econ,
                non_research_room=nonres,
                capacity=float(demand),
            )
        )
    lines = [(a.id, c) for a in apps for c in a.requests]
    eligible = {line for line in lines if draw(st.integers(0, 9)) > 0}
    min_share = draw(st.sampled_from([0.1, 0.3, 0.5, 0.75, 1.0]))
    return apps, classes, eligible, min_share


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds())
def test_matches_brute_force(case):
    apps, classes, eligible, min_share = case
    p = propose(apps, classes, eligible=eligible, min_share=min_share, mip_rel_gap=0)
    assert violations(apps, classes, p, min_share=min_share, eligible=eligible) == []
    expected = brute_force(apps, classes, eligible, min_share)
    # the optimiser keeps a 1e-10 safety margin below every limit
    assert math.isclose(p.objective, expected, rel_tol=1e-6, abs_tol=1e-7), (p.objective, expected)
    assert p.objective == sum(g.value for g in p.grants) or math.isclose(
        p.objective, sum(g.value for g in p.grants), rel_tol=1e-12
    )
