"""A call's round: build the optimiser's inputs from the database and the rules, propose,
check the proposal against the policy module, and decide.

The optimiser only proposes; :func:`decide_proposal` hands its grants to
:func:`services.decide_round`, which enforces every rule again under the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from . import optimiser, policy
from .models import Application, ApplicationStatus, Call, PolicySettings

CENT = Decimal("0.01")


@dataclass
class RoundProposal:
    call: Call
    grants: dict[int, dict[int, Decimal]]  # application id -> resource class id -> units
    scores: dict[int, Decimal | None]
    result: optimiser.Proposal
    violations: list[policy.Violation] = field(default_factory=list)
    ineligible: dict[int, list[str]] = field(default_factory=dict)  # application id -> reasons

    def as_dict(self) -> dict:
        return {
            "call": self.call.name,
            "status": self.result.status,
            "method": self.result.method,
            "objective": self.result.objective,
            "mip_gap": self.result.mip_gap,
            "solve_seconds": round(self.result.solve_seconds, 3),
            "funded": sum(1 for g in self.grants.values() if g),
            "applications": len(self.grants),
            "grants": {
                str(a): {str(c): str(v) for c, v in g.items()} for a, g in self.grants.items()
            },
            "scores": {str(a): (str(s) if s is not None else None) for a, s in self.scores.items()},
            "binding": [
                {
                    "rule": c.kind,
                    "resource_class": c.class_id,
                    "limit": c.limit,
                    "used": c.used,
                    "slack": c.slack,
                }
                for c in self.result.constraints
                if c.binding
            ],
            "ineligible": {str(a): r for a, r in self.ineligible.items()},
            "policy_violations": [str(v) for v in self.violations],
        }


def _applications(call: Call) -> list[Application]:
    return list(
        call.applications.filter(status=ApplicationStatus.SUBMITTED)
        .select_related("project__organisation")
        .prefetch_related("requests__resource_class__system", "reviews")
        .order_by("pk")
    )


def propose_round(call: Call, *, time_limit: float | None = 30.0) -> RoundProposal:
    settings = PolicySettings.current()
    apps = _applications(call)
    start, end = call.period_start, call.period_end
    classes = {r.resource_class.pk: r.resource_class for a in apps for r in a.requests.all()}
    opt_classes = []
    for rc in classes.values():
        room = policy.remaining(rc, start, end, settings)
        opt_classes.append(
            optimiser.ResourceClass(
                id=rc.pk,
                remaining=float(room["free"]),
                economic_room=float(room["economic_room"]),
                non_research_room=float(room["non_research_room"]),
                capacity=float(room["capacity"]) or None,
                unit=rc.unit,
            )
        )
    opt_apps, eligible, scores, ineligible = [], [], {}, {}
    for app in apps:
        score = app.score()
        scores[app.pk] = score
        opt_apps.append(
            optimiser.Application(
                id=app.pk,
                score=float(score or 0),
                economic=app.project.is_economic,
                research=app.project.organisation.is_research,
                requests={r.resource_class_id: float(r.amount) for r in app.requests.all()},
            )
        )
        for r in app.requests.all():
            found = policy.static_violations(
                policy.Proposal.grant(app.project, r.resource_class, r.amount, start, end), settings
            )
            if found:
                ineligible.setdefault(app.pk, []).extend(str(v) for v in found)
            else:
                eligible.append((app.pk, r.resource_class_id))
    result = optimiser.propose(
        opt_apps,
        opt_classes,
        eligible=eligible,
        min_share=float(settings.min_grant_share),
        time_limit=time_limit,
    )
    grants: dict[int, dict[int, Decimal]] = {a.pk: {} for a in apps}
    for g in result.grants:
        for rc_id, amount in g.amounts.items():
            units = Decimal(str(amount)).quantize(CENT, rounding=ROUND_DOWN)
            if units > 0:
                grants[g.application_id][rc_id] = units
    proposals = [
        policy.Proposal.grant(app.project, classes[rc_id], units, start, end)
        for app in apps
        for rc_id, units in grants[app.pk].items()
    ]
    return RoundProposal(
        call, grants, scores, result, policy.check(proposals, settings), ineligible
    )


def decide_proposal(
    actor: Any,
    proposal: RoundProposal,
    *,
    adjustments: dict[int, dict[int, Decimal]] | None = None,
    force_reason: str = "",
):
    """Decide the round as proposed, with the operators' adjustments on top."""
    from .applications import decide_round

    grants = {a: dict(g) for a, g in proposal.grants.items()}
    for app_id, lines in (adjustments or {}).items():
        grants[app_id] = {rc: Decimal(v) for rc, v in lines.items()}
    return decide_round(actor, proposal.call, grants, force_reason=force_reason)
