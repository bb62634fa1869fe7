"""What the operator's pages ask of the worker's record (the API's and the portal's reads).

Kept here, below both interfaces, so the API and the portal show the same "last run" and the
same "alive" for the same rows.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from .health import WORKER_SEEN_WITHIN
from .models import JobRun, Schedule, WorkerBeat

LAST_RUN_FIELDS = ("id", "status", "started_at", "finished_at", "error")


def with_last_run(schedules: QuerySet[Schedule]) -> QuerySet[Schedule]:
    """``schedules`` with their newest run's fields as ``last_run_<field>`` (None if it has
    not run), in the one query that reads the schedules."""
    newest = JobRun.objects.filter(schedule=OuterRef("pk")).order_by("-started_at", "-id")
    return schedules.annotate(
        **{f"last_run_{name}": Subquery(newest.values(name)[:1]) for name in LAST_RUN_FIELDS}
    )


def is_alive(beat: WorkerBeat, now: dt.datetime | None = None) -> bool:
    """A worker is alive if it has not stopped and was seen within ``WORKER_SEEN_WITHIN``
    (the same span /readyz asks of the newest worker)."""
    return beat.stopped_at is None and beat.seen_at >= (now or timezone.now()) - WORKER_SEEN_WITHIN


def job_description(name: str) -> str:
    """The job's line from ``ops.jobs.JOBS`` ("" for a job this version does not know)."""
    from . import jobs

    known = getattr(jobs, "JOBS", {}).get(name)
    return known.description if known is not None else ""
