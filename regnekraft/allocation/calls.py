"""Calls for applications: operators create them, change them and move them between draft,
open and review. Only deciding the round (``applications.decide_round``) makes a call decided."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind

from .models import Call, CallStatus

logger = logging.getLogger(__name__)

CALL_FIELDS = ("name", "opens", "closes", "period_start", "period_end", "status")


def require_open(call: Call) -> None:
    """The one rule for "applications are made and changed only while the call is open"."""
    if call.status != CallStatus.OPEN:
        raise ValidationError(
            {
                "call": _("The call %(call)s is not open for applications (status %(status)s).")
                % {"call": call, "status": call.status}
            }
        )


@transaction.atomic
def save_call(actor: Any, call: Call | None = None, **fields: Any) -> Call:
    """Create a call (a draft unless ``status`` says otherwise) or change one."""
    require_role(actor, RoleKind.OPERATOR, action="create or change calls")
    unknown = set(fields) - set(CALL_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown call fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    if call is None:
        call = Call()
    else:
        call = Call.objects.select_for_update().get(pk=call.pk)
    if "status" in fields:
        call.check_status_change(fields["status"])
    for name, value in fields.items():
        setattr(call, name, value)
    call.full_clean()
    call.save()
    logger.info("call %s saved (status %s) by %s", call, call.status, actor)
    return call


def set_call_status(actor: Any, call: Call, status: str) -> Call:
    return save_call(actor, call, status=status)


@transaction.atomic
def delete_call(actor: Any, call: Call) -> None:
    """Delete a call that has no applications (the database refuses one that has)."""
    require_role(actor, RoleKind.OPERATOR, action="create or change calls")
    call.delete()
