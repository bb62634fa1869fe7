"""Independent checks of a proposal (plain loops, no code shared with the optimiser)."""

from __future__ import annotations

import math

from regnekraft.allocation.optimiser import Application, Proposal, ResourceClass


def violations(
    apps: list[Application],
    classes: list[ResourceClass],
    proposal: Proposal,
    *,
    min_share: float,
    eligible: set[tuple] | None = None,
) -> list[str]:
    out: list[str] = []
    by_id = {g.application_id: g for g in proposal.grants}
    if sorted(by_id, key=repr) != sorted((a.id for a in apps), key=repr):
        out.append("the proposal does not have exactly one grant per application")
    used = {c.id: {"capacity": 0.0, "economic": 0.0, "non_research": 0.0} for c in classes}
    for a in apps:
        g = by_id.get(a.id)
        if g is None:
            continue
        if g.fraction != 0.0 and not (min_share - 1e-9 <= g.fraction <= 1.0):
            out.append(f"{a.id}: fraction {g.fraction} between 0 and min_share {min_share}")
        if set(g.amounts) != set(a.requests):
            out.append(f"{a.id}: amounts do not cover exactly the request lines")
        for cid, req in a.requests.items():
            amt = g.amounts.get(cid, 0.0)
            ok = eligible is None or (a.id, cid) in eligible
            expected = g.fraction * float(req) if ok else 0.0
            if not math.isclose(amt, expected, rel_tol=1e-9, abs_tol=1e-12):
                out.append(f"{a.id}/{cid}: granted {amt}, expected {expected}")
            if amt < 0:
                out.append(f"{a.id}/{cid}: negative grant")
            used[cid]["capacity"] += amt
            if a.economic:
                used[cid]["economic"] += amt
            if not a.research:
                used[cid]["non_research"] += amt
    for c in classes:
        limits = {
            "capacity": c.remaining,
            "economic": c.economic_room,
            "non_research": c.non_research_room,
        }
        for kind, lim in limits.items():
            if used[c.id][kind] > max(float(lim), 0.0):
                out.append(f"{c.id}: {kind} {used[c.id][kind]} > {lim}")
    return out


def weight(app: Application, classes: list[ResourceClass], eligible: set | None = None) -> float:
    """Objective value of a full grant: score x sum of eligible lines / class capacity."""
    norm = {c.id: float(c.capacity if c.capacity is not None else c.remaining) for c in classes}
    return float(app.score) * sum(
        float(amt) / norm[cid] if norm[cid] > 0 else 0.0  # nothing is granted there anyway
        for cid, amt in app.requests.items()
        if eligible is None or (app.id, cid) in eligible
    )
