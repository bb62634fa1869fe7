"""Applications in a call: the project's PI applies, changes and withdraws while the call is
open; operators decide them (one by one, or the whole round at once)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.audit import log as audit
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.actors import require_pi, require_role, user_of
from regnekraft.parties.models import Person, Project, RoleKind
from regnekraft.parties.projects import add_member

from . import services
from .calls import require_open
from .models import (
    Allocation,
    Application,
    ApplicationRequest,
    ApplicationStatus,
    Call,
    CallStatus,
)

logger = logging.getLogger(__name__)

CHANGEABLE = (ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED)


def _wanted(requests: Mapping[ResourceClass, Decimal]) -> dict[ResourceClass, Decimal]:
    return {rc: Decimal(amount) for rc, amount in requests.items() if amount}


def _require_something(wanted: Mapping, support_hours: Decimal) -> None:
    if not wanted and not support_hours:
        raise ValidationError({"requests": _("Ask for at least one resource or for user support.")})


def _write_requests(application: Application, wanted: Mapping[ResourceClass, Decimal]) -> None:
    application.requests.all().delete()
    for rc, amount in wanted.items():
        line = ApplicationRequest(application=application, resource_class=rc, amount=amount)
        line.full_clean()
        line.save()


def already_applied(project: Project) -> ValidationError:
    return ValidationError(
        {
            "project": _("Project %(code)s has already applied in this call.")
            % {"code": project.code}
        }
    )


def new_application(
    call: Call,
    project: Project,
    justification: str,
    support_hours: Decimal,
    extra_fields: dict | None,
) -> Application:
    """The submitted application, unsaved (``submit_application`` and
    ``bulk.submit_applications`` check and write it)."""
    return Application(
        call=call,
        project=project,
        justification=justification,
        support_hours=support_hours,
        extra_fields=extra_fields or {},
        status=ApplicationStatus.SUBMITTED,
    )


@transaction.atomic
def submit_application(
    actor: Any,
    call: Call,
    project: Project,
    *,
    justification: str,
    requests: Mapping[ResourceClass, Decimal],
    support_hours: Decimal = Decimal(0),
    extra_fields: dict | None = None,
    members: Iterable[Person] = (),
) -> Application:
    """Apply for ``project`` in ``call``: one application per project and call."""
    require_pi(actor, project, action="apply or change its application")
    call = Call.objects.select_for_update().get(pk=call.pk)
    require_open(call)
    if Application.objects.filter(call=call, project=project).exists():
        raise already_applied(project)
    wanted = _wanted(requests)
    _require_something(wanted, support_hours)
    application = new_application(call, project, justification, support_hours, extra_fields)
    application.full_clean()
    application.save()
    _write_requests(application, wanted)
    for person in members:
        if person.pk != project.pi_id:
            add_member(actor, project, person)
    logger.info("application %s submitted by %s", application, actor)
    return application


@transaction.atomic
def update_application(
    actor: Any,
    application: Application,
    *,
    requests: Mapping[ResourceClass, Decimal] | None = None,
    **fields: Any,
) -> Application:
    """Change an undecided application while its call is open (``justification``,
    ``support_hours``, ``extra_fields``, the request lines); call and project stay."""
    application = Application.objects.select_for_update().get(pk=application.pk)
    require_pi(actor, application.project, action="apply or change its application")
    for name in ("call", "project"):
        if name in fields and fields.pop(name) != getattr(application, name):
            raise ValidationError({name: _("cannot be changed; withdraw and apply again")})
    unknown = set(fields) - {"justification", "support_hours", "extra_fields"}
    if unknown:
        raise ValidationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    if application.status not in CHANGEABLE:
        raise ValidationError(
            {
                "status": _("An application that is %(status)s cannot be changed.")
                % {"status": application.status}
            }
        )
    require_open(application.call)
    for name, value in fields.items():
        setattr(application, name, value)
    application.full_clean()
    application.save()
    if requests is not None:
        wanted = _wanted(requests)
        _require_something(wanted, application.support_hours)
        _write_requests(application, wanted)
    return application


@transaction.atomic
def withdraw_application(actor: Any, application: Application) -> Application:
    """Withdraw an undecided application (its PI or an operator); withdrawing twice is a no-op."""
    application = Application.objects.select_for_update().get(pk=application.pk)
    require_pi(actor, application.project, action="apply or change its application")
    if application.status == ApplicationStatus.DECIDED:
        raise ValidationError({"status": _("A decided application cannot be withdrawn.")})
    application.status = ApplicationStatus.WITHDRAWN
    application.save(update_fields=["status"])
    logger.info("application %s withdrawn by %s", application, actor)
    return application


def _require_closed(actor: Any, call: Call, force_reason: str) -> None:
    """Deciding rejects what is not granted, so it waits until the call is closed for review;
    ``force_reason`` decides earlier, recorded in the audit log with the reason."""
    if call.status not in (CallStatus.DRAFT, CallStatus.OPEN):
        return
    if not force_reason.strip():
        raise ValidationError(
            {
                "status": _(
                    "The call %(call)s is still %(status)s; close it for review before "
                    "deciding its round (or force the decision, giving a reason)."
                )
                % {"call": call, "status": call.get_status_display().lower()}
            }
        )
    audit.note("force-decide", call, {"status": call.status, "reason": force_reason})
    logger.warning("call %s decided while %s, by %s: %s", call, call.status, actor, force_reason)


@transaction.atomic
def decide_application(
    actor: Any,
    application: Application,
    granted: Mapping[int, Decimal],
    *,
    force_reason: str = "",
) -> list[Allocation]:
    """Grant units per requested resource class (empty: rejected), through the policy rules,
    once the call is closed for review (or forced, with a reason)."""
    require_role(actor, RoleKind.OPERATOR, action="decide applications")
    application = Application.objects.select_for_update().get(pk=application.pk)
    if application.status == ApplicationStatus.WITHDRAWN:
        raise ValidationError({"status": _("The application was withdrawn.")})
    if application.status != ApplicationStatus.DECIDED:
        _require_closed(
            actor, Call.objects.select_for_update().get(pk=application.call_id), force_reason
        )
    return services.decide_application(application, granted, decided_by=user_of(actor))


@transaction.atomic
def decide_round(
    actor: Any,
    call: Call,
    grants: Mapping[int, Mapping[int, Decimal]],
    *,
    force_reason: str = "",
) -> dict[int, list[Allocation]]:
    """Decide every submitted application of ``call`` at once; all pass the rules or none.
    The call must be closed for review (or the decision forced, with a reason)."""
    require_role(actor, RoleKind.OPERATOR, action="decide a round")
    call = Call.objects.select_for_update().get(pk=call.pk)
    _require_closed(actor, call, force_reason)
    strangers = sorted(
        set(grants) - set(Application.objects.filter(call=call).values_list("pk", flat=True))
    )
    if strangers:
        raise ValidationError(
            {
                "grants": _("Applications %(ids)s are not in call %(call)s.")
                % {"ids": strangers, "call": call}
            }
        )
    return services.decide_round(call, grants, decided_by=user_of(actor))
