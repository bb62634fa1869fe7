"""Sending: claim due notifications, send them through Django's mail backend, record the
outcome, and retry a refused mail with back-off until it is given up as failed.

A worker claims rows in a short transaction (``select_for_update(skip_locked=True)`` on
PostgreSQL, so two workers never claim the same row; SQLite's IMMEDIATE transactions serialise
the claims), marks them ``sending`` under its id, commits, sends, and marks each one ``sent``.
A claim older than :data:`STALE_CLAIM` (its worker died) is taken back as pending.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .kinds import Delivery
from .models import Notification, Status
from .render import Mail, render_digest, render_one

logger = logging.getLogger(__name__)

# After the 1st, 2nd, 3rd and 4th refusal; the 5th attempt's refusal marks the mail failed.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
STALE_CLAIM = dt.timedelta(minutes=10)
SEND_BUDGET = STALE_CLAIM / 2
DIGEST_LIMIT = 20000
CHUNK = 500


def reclaim_stale(now: dt.datetime) -> int:
    """Take back claims whose worker has not finished within :data:`STALE_CLAIM`."""
    with transaction.atomic():
        return Notification.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - STALE_CLAIM
        ).update(status=Status.PENDING, claimed_by="", claimed_at=None)


def claim(worker_id: str, now: dt.datetime, delivery: str, limit: int) -> list[int]:
    """Mark up to ``limit`` due notifications ``sending`` for ``worker_id``; their ids."""
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, delivery=delivery, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        for i in range(0, len(ids), CHUNK):  # within any database's parameter limit
            Notification.objects.filter(pk__in=ids[i : i + CHUNK], status=Status.PENDING).update(
                status=Status.SENDING, claimed_by=worker_id, claimed_at=now
            )
    return ids


def _message(mail: Mail, to: str, ids: Iterable[int], connection: Any) -> EmailMultiAlternatives:
    msg = EmailMultiAlternatives(
        subject=mail.subject,
        body=mail.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        connection=connection,
        headers={"X-Regnekraft-Notification": ",".join(str(i) for i in ids)},
    )
    msg.attach_alternative(mail.html, "text/html")
    return msg


def _deliver(mail: Mail, to: str, ids: list[int]) -> str:
    """Send one mail; an empty string, or why it could not be delivered."""
    if not to:
        return "the recipient has no e-mail address"
    connection = get_connection(fail_silently=False)
    try:
        sent = _message(mail, to, ids, connection).send()
    except Exception as exc:  # a refusal, a closed port, a broken connection: retried
        return f"{type(exc).__name__}: {exc}"[:2000]
    return "" if sent else "the mail backend sent nothing"


def _record(ids: list[int], worker_id: str, error: str, now: dt.datetime) -> str:
    """Record the outcome of one send for ``ids`` (still claimed by ``worker_id``): sent, or
    back to pending with its next attempt, or failed after :data:`MAX_ATTEMPTS`."""
    mine = Notification.objects.filter(pk__in=ids, status=Status.SENDING, claimed_by=worker_id)
    if not error:
        mine.update(status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error="")
        return Status.SENT
    attempts = max(mine.values_list("attempts", flat=True), default=0) + 1
    if attempts >= MAX_ATTEMPTS:
        mine.update(status=Status.FAILED, attempts=F("attempts") + 1, last_error=error)
        logger.error("mail %s failed for good after %d attempts: %s", ids, attempts, error)
        return Status.FAILED
    mine.update(
        status=Status.PENDING,
        attempts=F("attempts") + 1,
        last_error=error,
        next_attempt_at=now + BACKOFF[attempts - 1],
        claimed_by="",
        claimed_at=None,
    )
    logger.warning("mail %s refused (attempt %d), retried later: %s", ids, attempts, error)
    return "retrying"


def _summary(outcomes: list[str], reclaimed: int, claimed: int) -> dict[str, int]:
    return {
        "claimed": claimed,
        "sent": outcomes.count(Status.SENT),
        "retrying": outcomes.count("retrying"),
        "failed": outcomes.count(Status.FAILED),
        "reclaimed": reclaimed,
    }


def release(ids: Iterable[int], worker_id: str) -> int:
    """Give back claims not yet sent (the batch ran out of time), for the next run."""
    return Notification.objects.filter(
        pk__in=list(ids), status=Status.SENDING, claimed_by=worker_id
    ).update(status=Status.PENDING, claimed_by="", claimed_at=None)


def send_pending(worker_id: str, now: dt.datetime | None = None, limit: int = 200) -> dict:
    """Send the due notifications chosen ``at once``; at most ``limit`` of them. A batch that
    takes longer than half the stale-claim time (a slow mail server) gives the rest back, so
    no other worker takes them over while this one still sends."""
    now = now or timezone.now()
    reclaimed = reclaim_stale(now)
    ids = claim(worker_id, now, Delivery.IMMEDIATE, limit)
    outcomes = []
    started = time.monotonic()
    todo = list(
        Notification.objects.filter(pk__in=ids, claimed_by=worker_id).select_related("recipient")
    )
    released = 0
    for i, n in enumerate(todo):
        if i and time.monotonic() - started > SEND_BUDGET.total_seconds():  # one at least
            released = release((m.pk for m in todo[i:]), worker_id)
            logger.warning("mail batch out of time: %d given back for the next run", released)
            break
        try:
            mail = render_one(n)
        except Exception as exc:  # a broken template must not stop the others
            logger.exception("could not render notification %s", n.pk)
            outcomes.append(_record([n.pk], worker_id, f"render: {exc}", now))
            continue
        outcomes.append(_record([n.pk], worker_id, _deliver(mail, n.recipient.email, [n.pk]), now))
    return {**_summary(outcomes, reclaimed, len(ids)), "released": released}


def send_digests(now: dt.datetime | None = None, worker_id: str = "") -> dict:
    """One mail per person with all their waiting digest notifications."""
    now = now or timezone.now()
    worker_id = worker_id or f"digest-{uuid.uuid4().hex[:12]}"
    reclaimed = reclaim_stale(now)
    ids = claim(worker_id, now, Delivery.DIGEST, DIGEST_LIMIT)
    by_person: dict[int, list[Notification]] = {}
    for n in Notification.objects.filter(
        status=Status.SENDING, delivery=Delivery.DIGEST, claimed_by=worker_id, claimed_at=now
    ).select_related("recipient"):
        by_person.setdefault(n.recipient_id, []).append(n)
    outcomes = []
    notifications = 0
    for group in by_person.values():
        person = group[0].recipient
        group_ids = [n.pk for n in group]
        try:
            mail = render_digest(person, group)
        except Exception as exc:
            logger.exception("could not render the digest for %s", person.pk)
            outcomes.append(_record(group_ids, worker_id, f"render: {exc}", now))
            continue
        outcome = _record(group_ids, worker_id, _deliver(mail, person.email, group_ids), now)
        outcomes.append(outcome)
        notifications += len(group) if outcome == Status.SENT else 0
    return {**_summary(outcomes, reclaimed, len(ids)), "notifications_sent": notifications}
