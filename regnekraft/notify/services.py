"""The writes of notifications, in one place for the worker and the portal:

- :func:`collect` finds new events and creates notifications (``collect.py``);
- :func:`send_pending` and :func:`send_digests` send them (``sending.py``);
- :func:`set_preference` and :func:`set_language` record a person's choices (``preferences.py``);
- :func:`notify_operators` tells the operators that a scheduled run failed;
- :func:`retry_now` puts a failed or waiting mail back at the head of the queue.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from regnekraft.audit.log import note
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import Person, RoleKind

from .collect import collect, create
from .kinds import Kind
from .models import Notification, Status
from .preferences import preferences_of, save_settings, set_language, set_preference
from .sending import send_digests, send_pending

__all__ = [
    "collect",
    "notify_operators",
    "preferences_of",
    "retry_now",
    "save_settings",
    "send_digests",
    "send_pending",
    "set_language",
    "set_preference",
]

logger = logging.getLogger(__name__)


@transaction.atomic
def notify_operators(kind: str, key: str, context: dict[str, Any]) -> dict[str, Any]:
    """A notification of ``kind`` for every operator (e.g. ``"slurm-failed"`` with the job,
    the cluster and the error in ``context``); the same ``key`` twice makes nothing new."""
    kind = kind.replace("-", "_")
    if kind not in Kind.values:
        raise ValidationError({"kind": _("unknown notification kind %(kind)r") % {"kind": kind}})
    operators = (
        Person.objects.filter(roles__kind=RoleKind.OPERATOR).distinct().values_list("pk", flat=True)
    )
    rows = [(pk, kind, str(key), dict(context)) for pk in operators]
    counts = create(rows, timezone.now())
    return {"created": sum(counts.values())}


@transaction.atomic
def retry_now(actor: Any, notification: Notification) -> Notification:
    """Send a failed or waiting mail at the next run (operators); one more attempt."""
    require_role(actor, RoleKind.OPERATOR, action="retry mails")
    row = Notification.objects.select_for_update().get(pk=notification.pk)
    if row.status not in (Status.FAILED, Status.PENDING):
        raise ValidationError(
            {
                "status": _("only a failed or waiting mail can be retried; this one is %(status)s")
                % {"status": row.get_status_display()}
            }
        )
    before = row.status
    row.status = Status.PENDING
    row.next_attempt_at = timezone.now()
    if before == Status.FAILED:  # one more try; a refusal then marks it failed again
        from .sending import MAX_ATTEMPTS

        row.attempts = min(row.attempts, MAX_ATTEMPTS - 1)
    row.save(update_fields=["status", "next_attempt_at", "attempts"])
    note("retry", row, {"status_before": before, "attempts": row.attempts})
    logger.info("notification %s queued again (was %s)", row.pk, before)
    return row
