"""Decisions: the only code that creates allocations. Each runs in one transaction, calls the
policy rules first, and writes nothing if a rule is broken."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from regnekraft import clock
from regnekraft.catalog.models import ChargingModel, ResourceClass
from regnekraft.parties.models import Project

from . import policy
from .models import (
    Allocation,
    AllocationSource,
    AllocationStatus,
    Application,
    ApplicationRequest,
    ApplicationStatus,
    Call,
    CallStatus,
    ChangeKind,
    ChangeRequest,
    ChangeStatus,
    OrderStatus,
    Review,
    SectorOrder,
    SectorOrderLine,
)
from .signals import allocation_resized

logger = logging.getLogger(__name__)


def _create(proposals: Sequence[policy.Proposal], **how: Any) -> list[Allocation]:
    """The allocations of ``proposals``, if together they pass the rules (see :func:`_write`)."""
    policy.enforce(proposals)
    return _write(proposals, **how)


def _write(
    proposals: Sequence[policy.Proposal],
    *,
    source: str,
    category: str,
    charging_model: str = ChargingModel.CONSUMPTION,
    application: Application | None = None,
    decided_by=None,
) -> list[Allocation]:
    """The allocations of proposals :func:`policy.enforce` has passed."""
    out = []
    for p in proposals:
        assert p.project is not None
        out.append(
            Allocation.objects.create(
                project=p.project,
                resource_class=p.resource_class,
                amount=p.amount,
                start=p.start,
                end=p.end,
                source=source,
                application=application,
                order_line=p.order_line,
                price_category=category,
                charging_model=charging_model,
                decided_by=decided_by,
            )
        )
    return out


@transaction.atomic
def decide_application(
    application: Application, granted: Mapping[int, Decimal], *, decided_by=None
) -> list[Allocation]:
    """Grant ``granted`` (resource class id -> units) to an application; empty means rejected.

    Idempotent: an application already decided is returned as it is.
    """
    application = Application.objects.select_for_update().get(pk=application.pk)
    if application.status == ApplicationStatus.DECIDED:
        return list(application.allocations.all())
    _require_submitted(application)
    requests = list(application.requests.select_related("resource_class__system"))
    proposals, category = _grant_proposals(application, granted, requests)
    allocations = _create(
        proposals,
        source=AllocationSource.CALL,
        category=category,
        application=application,
        decided_by=decided_by,
    )
    application.status = ApplicationStatus.DECIDED
    application.save(update_fields=["status"])
    logger.info("application %s decided: %d grant(s)", application, len(allocations))
    return allocations


def _require_submitted(application: Application) -> None:
    if application.status != ApplicationStatus.SUBMITTED:
        raise ValidationError(
            f"application {application} is {application.status}; "
            "only submitted applications are decided"
        )


def _grant_proposals(
    application: Application, granted: Mapping[int, Decimal], requests: Sequence
) -> tuple[list[policy.Proposal], str]:
    """The proposals granting ``granted`` to ``application`` (whose ``requests`` are given),
    and the price category its allocations get."""
    call = application.call
    requested = {r.resource_class_id: r for r in requests}
    unknown = set(granted) - set(requested)
    if unknown:
        raise ValidationError(
            f"application {application}: no request for resource class(es) {sorted(unknown)}"
        )
    proposals = [
        policy.Proposal.grant(
            application.project,
            requested[rc_id].resource_class,
            Decimal(amount),
            call.period_start,
            call.period_end,
        )
        for rc_id, amount in sorted(granted.items())
        if Decimal(amount) > 0
    ]
    category = policy.price_category(
        application.project,
        requested=[(r.resource_class.kind, r.amount) for r in requested.values()],
        months=Decimal((call.period_end - call.period_start).days) / (Decimal("365.25") / 12),
    )
    return proposals, category


@transaction.atomic
def grant_by_hand(allocation: Allocation, *, decided_by=None) -> Allocation:
    """Create ``allocation`` (unsaved, its fields set) as an operator's grant, through the rules."""
    allocation.full_clean(exclude=["decided_by"])
    proposal = policy.Proposal.grant(
        allocation.project,
        allocation.resource_class,
        allocation.amount,
        allocation.start,
        allocation.end,
        order_line=allocation.order_line,
    )
    return _create(
        [proposal],
        source=allocation.source,
        category=allocation.price_category,
        charging_model=allocation.charging_model,
        decided_by=decided_by,
    )[0]


def require_may_review(
    application: Application,
    reviewer,
    *,
    is_reviewer: bool | None = None,
    participants: set[int] | None = None,
) -> None:
    """Only reviewers review, and nobody a project they take part in. ``is_reviewer`` and
    ``participants`` (the project's PI and members), when given, are what a batch looked up
    for many at once."""
    from regnekraft.parties.models import RoleKind

    if is_reviewer is None:
        is_reviewer = reviewer.has_role(RoleKind.REVIEWER)
    if not is_reviewer:
        raise ValidationError({"reviewer": f"{reviewer} does not have the reviewer role"})
    project = application.project
    if participants is None:
        takes_part = reviewer.pk == project.pi_id or project.members.filter(pk=reviewer.pk).exists()
    else:
        takes_part = reviewer.pk in participants
    if takes_part:
        raise ValidationError(
            {"reviewer": f"{reviewer} takes part in {project.code} and cannot review it"}
        )


@transaction.atomic
def assign_reviewer(application: Application, reviewer) -> Review:
    """Assign a reviewer (idempotent). Nobody reviews a project they take part in."""
    require_may_review(application, reviewer)
    review, _ = Review.objects.get_or_create(application=application, reviewer=reviewer)
    return review


@transaction.atomic
def decide_round(
    call: Call, grants: Mapping[int, Mapping[int, Decimal]], *, decided_by=None
) -> dict[int, list[Allocation]]:
    """Decide every application of a call at once: all grants pass the rules together, or
    none is made."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.status == CallStatus.DECIDED:
        return {a.pk: list(a.allocations.all()) for a in call.applications.all()}
    applications = list(
        call.applications.select_for_update()
        .filter(status=ApplicationStatus.SUBMITTED)
        .select_related("call", "project__organisation")
        .order_by("pk")
    )
    requests: dict[int, list[ApplicationRequest]] = {a.pk: [] for a in applications}
    for r in ApplicationRequest.objects.filter(application__in=applications).select_related(
        "resource_class__system"
    ):
        requests[r.application_id].append(r)
    planned = [
        (app, *_grant_proposals(app, grants.get(app.pk, {}), requests[app.pk]))
        for app in applications
    ]
    # One check of the whole round: each grant against what exists and the grants before it,
    # as deciding the applications one by one would, but reading the commitments once.
    policy.enforce([p for _, proposals, _ in planned for p in proposals])
    out = {
        app.pk: _write(
            proposals,
            source=AllocationSource.CALL,
            category=category,
            application=app,
            decided_by=decided_by,
        )
        for app, proposals, category in planned
    }
    Application.objects.filter(pk__in=[a.pk for a in applications]).update(
        status=ApplicationStatus.DECIDED
    )
    call.status = CallStatus.DECIDED
    call.save(update_fields=["status"])
    logger.info("round %s decided: %d application(s)", call, len(out))
    return out


@transaction.atomic
def confirm_order(order: SectorOrder) -> SectorOrder:
    """Confirm a sector order: its lines then hold capacity for the year."""
    order = SectorOrder.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.CONFIRMED:
        return order
    if order.status == OrderStatus.CANCELLED:
        raise ValidationError(f"order {order} is cancelled")
    lines = list(order.lines.select_related("resource_class__system"))
    if not lines:
        raise ValidationError(f"order {order} has no lines")
    proposals = [
        policy.Proposal(
            line.resource_class, line.amount, order.start, order.end, order.organisation
        )
        for line in lines
    ]
    policy.enforce(proposals)
    order.status = OrderStatus.CONFIRMED
    order.save(update_fields=["status"])
    return order


@transaction.atomic
def sub_allocate(
    line: SectorOrderLine,
    project: Project,
    amount: Decimal,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    decided_by=None,
) -> Allocation:
    """The sector coordinator passes part of an order line on to one of the sector's projects."""
    line = (
        SectorOrderLine.objects.select_for_update()
        .select_related("order", "resource_class__system")
        .get(pk=line.pk)
    )
    if line.order.status != OrderStatus.CONFIRMED:
        raise ValidationError(f"order {line.order} is not confirmed")
    proposal = policy.Proposal.grant(
        project,
        line.resource_class,
        Decimal(amount),
        start or line.order.start,
        end or line.order.end,
        order_line=line,
    )
    category = policy.price_category(project)
    return _create(
        [proposal],
        source=AllocationSource.SECTOR_ORDER,
        category=category,
        charging_model=ChargingModel.UNIT_PRICE,
        decided_by=decided_by,
    )[0]


@transaction.atomic
def purchase(
    project: Project,
    resource_class: ResourceClass,
    amount: Decimal,
    start: dt.date,
    end: dt.date,
    *,
    decided_by=None,
) -> Allocation:
    """Industry buys capacity at market price, within the economic-activity cap."""
    proposal = policy.Proposal.grant(project, resource_class, Decimal(amount), start, end)
    return _create(
        [proposal],
        source=AllocationSource.PURCHASE,
        category=policy.price_category(project),
        charging_model=ChargingModel.UNIT_PRICE,
        decided_by=decided_by,
    )[0]


@transaction.atomic
def grant_colocated(
    project: Project,
    resource_class: ResourceClass,
    amount: Decimal,
    start: dt.date,
    end: dt.date,
    *,
    decided_by=None,
) -> Allocation:
    """An owner's use of its own co-located equipment (category B)."""
    proposal = policy.Proposal.grant(project, resource_class, Decimal(amount), start, end)
    return _create(
        [proposal],
        source=AllocationSource.COLOCATION,
        category=policy.price_category(project, dedicated=True),
        charging_model=ChargingModel.SUBSCRIPTION,
        decided_by=decided_by,
    )[0]


@transaction.atomic
def decide_change(
    change: ChangeRequest, approve: bool, *, note: str = "", decided_by=None
) -> ChangeRequest:
    """Approve (through the rules) or reject a change request. Deciding twice changes nothing."""
    change = (
        ChangeRequest.objects.select_for_update()
        .select_related("allocation__resource_class__system")
        .get(pk=change.pk)
    )
    if change.status != ChangeStatus.PENDING:
        return change
    if approve:
        old = change.allocation
        if change.kind == ChangeKind.RENEW:
            if change.new_end is None or change.amount is None:
                raise ValidationError("a renewal needs an amount and a new end")
            proposal = policy.Proposal.grant(
                old.project,
                old.resource_class,
                change.amount,
                old.end,
                change.new_end,
                order_line=old.order_line,
            )
            _create(
                [proposal],
                source=AllocationSource.CHANGE,
                category=old.price_category,
                charging_model=old.charging_model,
                decided_by=decided_by,
            )
        else:
            amount = (
                old.amount + (change.amount or 0)
                if change.kind == ChangeKind.INCREASE
                else old.amount
            )
            end = change.new_end if change.kind == ChangeKind.EXTEND and change.new_end else old.end
            if end <= old.start:
                raise ValidationError("the new end must be after the allocation's start")
            # Extending keeps the same daily rate: the amount grows with the period.
            if change.kind == ChangeKind.EXTEND:
                amount = (
                    old.amount
                    * Decimal((end - old.start).days)
                    / Decimal((old.end - old.start).days)
                ).quantize(Decimal("0.01"))
            proposal = policy.Proposal.grant(
                old.project,
                old.resource_class,
                amount,
                old.start,
                end,
                order_line=old.order_line,
                replaces=old,
            )
            policy.enforce([proposal])
            old.amount, old.end = amount, end
            if old.status == AllocationStatus.EXPIRED and end > clock.today():
                old.status, old.status_reason = AllocationStatus.ACTIVE, "extended"
            old.save(update_fields=["amount", "end", "status", "status_reason"])
            # Thresholds and the block at 100 % are accounting's: it looks at the new size.
            allocation_resized.send(sender=Allocation, allocation=old)
    change.status = ChangeStatus.APPROVED if approve else ChangeStatus.REJECTED
    change.decision_note = note
    change.save(update_fields=["status", "decision_note"])
    return change


@transaction.atomic
def expire_allocations(today: dt.date) -> int:
    """Mark allocations whose period has ended as expired (Slurm then blocks them); audited
    one by one."""
    ended = list(
        Allocation.objects.select_for_update().filter(
            end__lte=today, status=AllocationStatus.ACTIVE
        )
    )
    for allocation in ended:
        allocation.status = AllocationStatus.EXPIRED
        allocation.status_reason = f"period ended {allocation.end}"
        allocation.save(update_fields=["status", "status_reason"])
    return len(ended)
