"""Builders for the operator's view of the worker: schedules, job runs and workers as the worker
writes them (regnekraft/ops/tasks.py, worker.py), and people in the roles that may and may not
see them. Shared by test_runs_api.py and test_runs_portal.py."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.utils import timezone

from regnekraft.ops.models import JobRun, Schedule, WorkerBeat
from regnekraft.parties.models import Person
from tests import factories as f

T0 = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "regnekraft/slurm/scheduled.py", line 40, in scheduled_apply\n'
    "ConnectionError: sacctmgr on betzy: connection refused\n"
)


def people() -> dict[str, Person]:
    """One person per role that matters here (the operator may; the others may not)."""
    org = f.organisation("research", name="Sigma2")
    return {
        "operator": f.person(org, "operator", username="ops"),
        "finance": f.person(org, "finance", username="money"),
        "pi": f.person(org, "pi", username="lead"),
        "decision_maker": f.person(org, "decision_maker", username="boss"),
    }


def schedule(name: str, job: str = "balances", cron: str = "0 * * * *", **kw: Any) -> Schedule:
    kw.setdefault("next_run_at", timezone.now() + dt.timedelta(hours=1))
    return Schedule.objects.create(name=name, job=job, cron=cron, **kw)


def run(
    sched: Schedule | None,
    *,
    job: str | None = None,
    status: str = JobRun.Status.SUCCEEDED,
    started: dt.datetime = T0,
    seconds: float | None = 2.5,
    summary: dict | None = None,
    error: str = "",
    attempt: int = 1,
    save: bool = True,
) -> JobRun:
    row = JobRun(
        job=job or (sched.job if sched else "balances"),
        schedule=sched,
        task_id=f"task-{started.timestamp()}",
        attempt=attempt,
        worker="host:1234",
        status=status,
        started_at=started,
        finished_at=None if seconds is None else started + dt.timedelta(seconds=seconds),
        summary=summary if summary is not None else {"threshold_events": 2, "blocked": 0},
        error=error,
    )
    if save:
        row.save()
    return row


def many_runs(sched: Schedule, n: int, start: dt.datetime = T0) -> list[JobRun]:
    """``n`` runs of ``sched`` a minute apart, the newest last, in one insert."""
    return JobRun.objects.bulk_create(
        run(sched, started=start + dt.timedelta(minutes=i), save=False) for i in range(n)
    )


def worker(worker_id: str, seen_ago: dt.timedelta, stopped: bool = False) -> WorkerBeat:
    now = timezone.now()
    return WorkerBeat.objects.create(
        worker_id=worker_id,
        host="node1",
        pid=4242,
        started_at=now - seen_ago - dt.timedelta(hours=1),
        seen_at=now - seen_ago,
        stopped_at=now - seen_ago if stopped else None,
    )


def service(name: str):
    """``regnekraft.ops.schedule.<name>``, the lead's service function; the test is skipped,
    naming what is missing, while it is not there yet."""
    try:
        module = importlib.import_module("regnekraft.ops.schedule")
    except ImportError as exc:
        pytest.skip(f"regnekraft.ops.schedule cannot be imported yet ({exc})")
    if not hasattr(module, name):
        pytest.skip(f"regnekraft.ops.schedule.{name} does not exist yet")
    return getattr(module, name)
