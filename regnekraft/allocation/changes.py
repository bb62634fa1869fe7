"""Change requests on an allocation: the project's PI asks for more, for longer, or for a
renewal; an operator approves (through the rules) or rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import person_of, require_pi, require_role, user_of
from regnekraft.parties.models import RoleKind

from . import services
from .models import Allocation, ChangeKind, ChangeRequest

LAST_YEAR = 2100  # dates beyond the platform's planning horizon are typing errors

NEEDS_AMOUNT = (ChangeKind.INCREASE, ChangeKind.RENEW)
NEEDS_NEW_END = (ChangeKind.EXTEND, ChangeKind.RENEW)


def check_change(
    allocation: Allocation, kind: str, amount: Decimal | None, new_end: dt.date | None
) -> None:
    """What each kind of change needs: an amount to increase or renew, a new end after the
    allocation's end to extend or renew."""
    if kind in NEEDS_AMOUNT and not amount:
        raise ValidationError({"amount": _("an increase or renewal needs an amount")})
    if kind not in NEEDS_NEW_END:
        return
    if new_end is None:
        raise ValidationError({"new_end": _("an extension or renewal needs a new end")})
    if new_end <= allocation.end:
        raise ValidationError(
            {
                "new_end": _("the new end must be after the allocation's end, %(end)s")
                % {"end": allocation.end}
            }
        )
    if new_end.year > LAST_YEAR:
        raise ValidationError(
            {"new_end": _("the new end must lie in %(year)s or earlier") % {"year": LAST_YEAR}}
        )


@transaction.atomic
def request_change(
    actor: Any,
    allocation: Allocation,
    *,
    kind: str,
    amount: Decimal | None,
    new_end: dt.date | None,
    reason: str,
) -> ChangeRequest:
    """The PI of the allocation's project (or an operator) asks for a change; it waits for an
    operator's decision."""
    require_pi(actor, allocation.project, action="ask to change its allocation")
    check_change(allocation, kind, amount, new_end)
    change = ChangeRequest(
        allocation=allocation,
        kind=kind,
        amount=amount,
        new_end=new_end,
        reason=reason,
        requested_by=person_of(actor),
    )
    change.full_clean()
    change.save()
    return change


@transaction.atomic
def decide_change(
    actor: Any, change: ChangeRequest, approve: bool, *, note: str = ""
) -> ChangeRequest:
    """Approve (through the rules) or reject; deciding a decided request changes nothing."""
    require_role(actor, RoleKind.OPERATOR, action="decide change requests")
    return services.decide_change(change, approve, note=note, decided_by=user_of(actor))
