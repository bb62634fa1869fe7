"""The round as the operator's page shows it: one line per application and requested class,
pre-filled with the optimiser's proposal (``allocation.round.propose_round``) when it is
available, and the rules' verdicts on whatever set of grants the operator types in.
Nothing here writes; deciding is ``allocation.services.decide_round``."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from regnekraft.allocation import policy
from regnekraft.allocation.models import Application, ApplicationStatus, Call, PolicySettings
from regnekraft.catalog.models import ResourceClass

try:  # the optimiser glue is optional: without it the round starts from the requested amounts
    from regnekraft.allocation import round as optimiser
except ImportError:  # pragma: no cover - depends on what has landed
    optimiser = None

OPTIMISER_SECONDS = 20.0


@dataclass
class Line:
    application: Application
    resource_class: ResourceClass
    requested: Decimal
    proposed: Decimal | None = None
    eligible: bool = True

    @property
    def field_name(self) -> str:
        return f"g_{self.application.pk}_{self.resource_class.pk}"


@dataclass
class RoundView:
    call: Call
    lines: list[Line]
    scores: dict[int, Decimal | None]
    optimiser_status: str = ""
    optimiser_message: str = ""
    reasons: dict[int, str] = field(default_factory=dict)


def build(call: Call, *, propose: bool = True) -> RoundView:
    settings = PolicySettings.current()
    apps = list(
        call.applications.filter(status=ApplicationStatus.SUBMITTED)
        .order_by("pk")
        .select_related("project__organisation")
        .prefetch_related("reviews", "requests__resource_class__system")
    )
    lines: list[Line] = []
    for app in apps:
        for req in app.requests.all():
            proposal = policy.Proposal.grant(
                app.project, req.resource_class, req.amount, call.period_start, call.period_end
            )
            lines.append(
                Line(
                    app,
                    req.resource_class,
                    req.amount,
                    eligible=not policy.static_violations(proposal, settings),
                )
            )
    view = RoundView(call, lines, {a.pk: a.score() for a in apps})
    if propose and optimiser is not None and lines:
        result = optimiser.propose_round(call, time_limit=OPTIMISER_SECONDS)
        view.optimiser_status, view.optimiser_message = result.result.status, result.result.message
        for line in view.lines:
            line.proposed = result.grants.get(line.application.pk, {}).get(
                line.resource_class.pk, Decimal(0)
            )
        for grant in result.result.grants:
            if grant.reason:
                view.reasons[grant.application_id] = grant.reason
    return view


def grants_from(view: RoundView, data) -> tuple[dict[int, dict[int, Decimal]], list[str]]:
    """Read the round form: application id -> class id -> units, and the fields that were not
    numbers."""
    grants: dict[int, dict[int, Decimal]] = {}
    bad: list[str] = []
    for line in view.lines:
        raw = (
            (data.get(line.field_name) or "0")
            .strip()
            .replace(" ", "")
            .replace("\u00a0", "")
            .replace(",", ".")
        )
        try:
            amount = Decimal(raw)
        except ArithmeticError:
            bad.append(line.field_name)
            continue
        if not amount.is_finite() or amount < 0:
            bad.append(line.field_name)
            continue
        if amount > 0:
            grants.setdefault(line.application.pk, {})[line.resource_class.pk] = amount
    return grants, bad


def verdicts(view: RoundView, grants: dict[int, dict[int, Decimal]]) -> list[policy.Violation]:
    proposals = [
        policy.Proposal.grant(
            line.application.project,
            line.resource_class,
            grants[line.application.pk][line.resource_class.pk],
            view.call.period_start,
            view.call.period_end,
        )
        for line in view.lines
        if grants.get(line.application.pk, {}).get(line.resource_class.pk)
    ]
    return policy.check(proposals) if proposals else []
