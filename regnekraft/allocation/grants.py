"""Operators' grants by hand and adjustments of a grant (amount, period, status), through the
policy rules. Rows are created only by ``services`` (as for every decision)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import require_role, user_of
from regnekraft.parties.models import RoleKind
from regnekraft.rows import write_row

from . import policy, services
from .models import Allocation, AllocationStatus
from .signals import allocation_resized

ADJUSTABLE = ("amount", "start", "end", "status", "status_reason")
BY_HAND = (
    "project",
    "resource_class",
    "amount",
    "start",
    "end",
    "source",
    "order_line",
    "price_category",
    "charging_model",
)

logger = logging.getLogger(__name__)


def proposal_for(allocation: Allocation) -> policy.Proposal:
    """The rules' view of ``allocation`` as it stands (replacing itself if it exists)."""
    return policy.Proposal.grant(
        allocation.project,
        allocation.resource_class,
        allocation.amount,
        allocation.start,
        allocation.end,
        order_line=allocation.order_line,
        replaces=allocation if allocation.pk else None,
    )


def grant_by_hand(actor: Any, **fields: Any) -> Allocation:
    """An operator's grant outside a decision (``BY_HAND`` fields), through the rules."""
    require_role(actor, RoleKind.OPERATOR, action="adjust allocations")
    unknown = sorted(set(fields) - set(BY_HAND))
    if unknown:
        raise ValidationError(_("Unknown allocation fields: %(f)s") % {"f": ", ".join(unknown)})
    return services.grant_by_hand(Allocation(**fields), decided_by=user_of(actor))


@transaction.atomic
def adjust_allocation(actor: Any, allocation: Allocation, **fields: Any) -> Allocation:
    """Change ``ADJUSTABLE`` fields of a grant; a new size or period must pass the rules."""
    require_role(actor, RoleKind.OPERATOR, action="adjust allocations")
    unknown = sorted(set(fields) - set(ADJUSTABLE))
    if unknown:
        raise ValidationError(
            _("Only %(allowed)s of an allocation can be adjusted, not %(names)s.")
            % {"allowed": ", ".join(ADJUSTABLE), "names": ", ".join(unknown)}
        )
    current = Allocation.objects.select_for_update().get(pk=allocation.pk)
    revived = (
        current.status == AllocationStatus.REVOKED
        and fields.get("status", current.status) != AllocationStatus.REVOKED
    )
    resized = revived or any(
        fields.get(name, getattr(current, name)) != getattr(current, name)
        for name in ("amount", "start", "end")
    )
    if resized:
        wanted = Allocation(**{**{f: getattr(current, f) for f in BY_HAND}, **fields})
        wanted.pk = current.pk
        policy.enforce([proposal_for(wanted)])
    adjusted = write_row(Allocation, current, fields)
    logger.info("allocation %s adjusted (%s) by %s", adjusted, ", ".join(sorted(fields)), actor)
    if resized:
        allocation_resized.send(sender=Allocation, allocation=adjusted)
    return adjusted
