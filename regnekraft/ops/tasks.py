"""The one task the queue holds: run a job, record the run, and retry a failure with back-off.

Every queued job is a :func:`run_job` entry in django-tasks' database queue. A worker that
takes it writes a :class:`~regnekraft.ops.models.JobRun` (running), calls the job as the
platform, and records the outcome and the job's summary. A failed attempt queues the next one
after :data:`BACKOFF` (1, 5, 15 minutes ...) until the job's ``max_attempts``; the last
failure of a Slurm job also tells the operators (regnekraft/notify).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from contextvars import ContextVar
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from regnekraft.audit.context import acting_as

from .jobs import WORKER, job
from .models import JobRun, Schedule

logger = logging.getLogger(__name__)

BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=15))
current_worker: ContextVar[str] = ContextVar("regnekraft_worker", default="")
current_task: ContextVar[str] = ContextVar("regnekraft_task", default="")


def backoff(attempt: int) -> dt.timedelta:
    """How long to wait after failed attempt ``attempt`` (1-based) before the next."""
    return BACKOFF[min(attempt, len(BACKOFF)) - 1]


def enqueue(
    name: str,
    arguments: dict[str, Any],
    schedule: Schedule | None = None,
    *,
    attempt: int = 1,
    run_after: dt.datetime | None = None,
) -> str:
    """Queue job ``name``; return the queue entry's id. In the caller's transaction."""
    spec = job(name)  # an unknown job is refused here, not when a worker takes it
    queued = run_job.using(priority=spec.priority, run_after=run_after).enqueue(
        name, arguments, schedule.pk if schedule else None, attempt
    )
    return str(queued.id)


def _arguments(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The notification jobs also get the worker's id (they claim mails in its name)."""
    if name in {"notifications", "digests"}:
        return {**arguments, "worker_id": current_worker.get()}
    return arguments


@task()
def run_job(
    name: str, arguments: dict[str, Any], schedule_id: int | None = None, attempt: int = 1
) -> dict[str, Any]:
    spec = job(name)
    run = JobRun.objects.create(
        job=name,
        schedule_id=schedule_id,
        arguments=arguments,
        task_id=current_task.get(),
        attempt=attempt,
        worker=current_worker.get(),
        status=JobRun.Status.RUNNING,
        started_at=timezone.now(),
    )
    logger.info("job %s started (attempt %d)", name, attempt, extra={"job": name})
    try:
        with acting_as(WORKER):
            summary = spec.run(**_arguments(name, arguments))
    except Exception as exc:
        _failed(run, spec.max_attempts, exc)
        raise
    run.status = JobRun.Status.SUCCEEDED
    run.summary = summary or {}
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "finished_at"])
    logger.info("job %s done: %s", name, summary, extra={"job": name})
    return run.summary


def _failed(run: JobRun, max_attempts: int, exc: Exception) -> None:
    now = timezone.now()
    run.finished_at = now
    run.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
    with transaction.atomic():
        if run.attempt < max_attempts:
            run.status = JobRun.Status.RETRYING
            run.retry_at = now + backoff(run.attempt)
            task_id = enqueue(
                run.job,
                run.arguments,
                run.schedule,
                attempt=run.attempt + 1,
                run_after=run.retry_at,
            )
            if run.schedule_id:
                Schedule.objects.filter(pk=run.schedule_id).update(pending_task_id=task_id)
        else:
            run.status = JobRun.Status.FAILED
        run.save(update_fields=["status", "finished_at", "error", "retry_at"])
    logger.error(
        "job %s failed (attempt %d of %d): %s",
        run.job,
        run.attempt,
        max_attempts,
        run.error,
        extra={"job": run.job},
    )
    if run.status == JobRun.Status.FAILED and run.job.startswith("slurm-"):
        _tell_operators(run)


def _tell_operators(run: JobRun) -> None:
    from regnekraft.notify.services import notify_operators

    try:
        notify_operators(
            "slurm-failed",
            f"{run.job}:{run.arguments.get('cluster', '')}:{run.pk}",
            {"job": run.job, "cluster": run.arguments.get("cluster", ""), "error": run.error},
        )
    except Exception:  # the run's record stands even if the notice cannot be written
        logger.exception("could not tell the operators that %s failed", run.job)
