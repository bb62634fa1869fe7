"""The jobs the worker runs: one function per job, each calling its domain's services.

A job takes only JSON-able keyword arguments, acts as the platform (:data:`WORKER`), is
idempotent (running it twice, or again after a worker died in it, does its work once) and
returns a small JSON-able summary of what it changed; the worker keeps that in the
:class:`~regnekraft.ops.models.JobRun`. Jobs are looked up by name in :data:`JOBS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from regnekraft import clock
from regnekraft.parties.actors import SystemActor

WORKER = SystemActor(label="worker")

Summary = dict[str, Any]


@dataclass(frozen=True)
class Job:
    """What a job is: its function, what it does in a line, and its queue priority (higher
    runs first when several are due: thresholds before the notifications they cause)."""

    run: Callable[..., Summary]
    description: str
    priority: int = 0
    max_attempts: int = 4


def slurm_apply(cluster: str) -> Summary:
    from regnekraft.slurm.scheduled import scheduled_apply

    return scheduled_apply(cluster)


def slurm_ingest(cluster: str) -> Summary:
    from regnekraft.accounting.slurm_usage import scheduled_ingest

    return scheduled_ingest(cluster)


def balances_and_expiry() -> Summary:
    """Threshold events and blocks for every allocation's use; allocations past their end
    marked expired."""
    from regnekraft.accounting.balances import update_balances
    from regnekraft.allocation.services import expire_allocations

    events = update_balances()
    return {
        "threshold_events": len(events),
        "blocked": sum(1 for e in events if e["action"] == "block"),
        "expired": expire_allocations(clock.today()),
    }


def notifications(worker_id: str = "") -> Summary:
    """New events turned into notifications, and the due ones sent at once."""
    from regnekraft.notify import services

    return {"collected": services.collect(), "sent": services.send_pending(worker_id)}


def digests(worker_id: str = "") -> Summary:
    from regnekraft.notify import services

    return services.send_digests(worker_id=worker_id)


def usage_days() -> Summary:
    """Rebuild the open day sums from the usage records: a nightly check that the sums the
    pages read are the records' (they are kept in the import's transaction; this repairs
    what a hand edit of the records left behind)."""
    from regnekraft.accounting.runs import rebuild_usage_days

    return rebuild_usage_days(WORKER)


def month_end_invoices(today: str | None = None) -> Summary:
    """The draft invoices of the month just ended, per organisation, for finance to look
    over and issue (nothing is issued here)."""
    from regnekraft.accounting.invoicing import draft_invoices_for_month

    day = dt.date.fromisoformat(today) if today else clock.today()
    end = day.replace(day=1)
    start = (end - dt.timedelta(days=1)).replace(day=1)
    return draft_invoices_for_month(start, end)


def housekeeping(keep_days: int = 90) -> Summary:
    """Forget finished queue entries, job runs and stopped workers older than ``keep_days``."""
    from django_tasks_db.models import DBTaskResult

    from .models import JobRun, WorkerBeat

    before = timezone.now() - dt.timedelta(days=keep_days)
    return {
        "queue_entries": DBTaskResult.objects.finished().filter(finished_at__lt=before).delete()[0],
        "job_runs": JobRun.objects.filter(started_at__lt=before).delete()[0],
        "workers": WorkerBeat.objects.filter(seen_at__lt=before).delete()[0],
    }


JOBS: dict[str, Job] = {
    "slurm-apply": Job(slurm_apply, "Slurm: apply the platform's accounts, users and limits"),
    "slurm-ingest": Job(slurm_ingest, "Slurm: read finished jobs (sacct) into the usage"),
    "balances": Job(
        balances_and_expiry, "balance thresholds, blocks at 100 %, expiry", priority=20
    ),
    "notifications": Job(notifications, "notifications: collect and send at once", priority=10),
    "digests": Job(digests, "notifications: the daily digests", priority=10),
    "usage-days": Job(usage_days, "rebuild the open day sums of usage", priority=-10),
    "month-end-invoices": Job(month_end_invoices, "draft invoices of the month just ended"),
    "housekeeping": Job(housekeeping, "forget old queue entries, runs and workers", priority=-20),
}


def job(name: str) -> Job:
    try:
        return JOBS[name]
    except KeyError:
        raise KeyError(f"unknown job {name!r}; the jobs are {', '.join(sorted(JOBS))}") from None
