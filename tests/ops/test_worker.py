"""The worker and its schedule (issue 12, item 2): due runs queued once, failures retried with
back-off and recorded, ``--once`` runs what is due and exits, and the job of a worker that
died runs again and does its work once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from regnekraft.ops import schedule, tasks, worker
from regnekraft.ops.models import JobRun, Schedule, WorkerBeat
from regnekraft.parties.actors import SYSTEM
from regnekraft.parties.models import Organisation
from tests import factories as f

from . import jobs_for_tests  # noqa: F401  (registers the test jobs)

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)  # before the real now: due


@pytest.fixture(autouse=True)
def _only_the_tests_schedules():
    """The platform's own schedules are written, and off: these tests run their own jobs."""
    schedule.ensure_schedules(NOW)
    Schedule.objects.update(enabled=False)


def _schedule(name: str, job: str, arguments: dict, cron: str = "*/5 * * * *") -> Schedule:
    return Schedule.objects.create(
        name=name, job=job, arguments=arguments, cron=cron, next_run_at=NOW
    )


def _run_once() -> int:
    return worker.Worker(once=True, worker_id="test-worker").run()


def test_defaults_written_once_and_first_runs_due_at_once():
    Schedule.objects.all().delete()
    assert schedule.ensure_schedules(NOW) == len(schedule.DEFAULTS)
    assert schedule.ensure_schedules(NOW) == 0
    due = set(Schedule.objects.filter(next_run_at__lte=NOW).values_list("name", flat=True))
    assert {"balances", "notifications"} <= due
    assert "month-end-invoices" not in due  # at its next cron time, not at start
    month_end = Schedule.objects.get(name="month-end-invoices")
    assert month_end.next_run_at.astimezone(schedule.OSLO).day == 1


def test_a_due_schedule_is_queued_once():
    s = _schedule("rec", "test-record", {"tag": "once"})
    assert schedule.queue_due(NOW) == ["rec"]
    assert schedule.queue_due(NOW) == []  # next run moved to the next cron time
    s.refresh_from_db()
    assert s.next_run_at == NOW + dt.timedelta(minutes=5)
    assert DBTaskResult.objects.count() == 1


def test_a_schedule_whose_run_is_still_queued_is_not_queued_again():
    _schedule("rec", "test-record", {"tag": "pending"})
    schedule.queue_due(NOW)
    later = NOW + dt.timedelta(minutes=5)
    assert schedule.queue_due(later) == []
    assert DBTaskResult.objects.count() == 1


def test_disabled_schedule_is_not_queued():
    s = _schedule("rec", "test-record", {"tag": "off"})
    schedule.change_schedule(SYSTEM, s.name, enabled=False)
    assert schedule.queue_due(NOW + dt.timedelta(hours=1)) == []


def test_once_runs_what_is_due_and_records_it():
    _schedule("rec", "test-record", {"tag": "ran"})
    assert _run_once() >= 1
    run = JobRun.objects.get(job="test-record")
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.summary == {"created": True}
    assert run.finished_at is not None and run.worker == "test-worker"
    assert Organisation.objects.filter(short_name="ran").count() == 1
    beat = WorkerBeat.objects.get(worker_id="test-worker")
    assert beat.stopped_at is not None


def test_a_failure_is_retried_with_backoff_then_recorded_as_failed():
    _schedule("boom", "test-fail", {"message": "the cluster is down"})
    _run_once()
    first = JobRun.objects.get(job="test-fail")
    assert first.status == JobRun.Status.RETRYING
    assert "the cluster is down" in first.error
    assert first.retry_at - first.finished_at == tasks.backoff(1)
    retry = DBTaskResult.objects.get(status="READY")  # not yet due: --once leaves it
    assert retry.run_after == first.retry_at
    assert Schedule.objects.get(name="boom").pending_task_id == str(retry.id)
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    _run_once()
    second = JobRun.objects.filter(job="test-fail").order_by("attempt").last()
    assert (second.attempt, second.status) == (2, JobRun.Status.FAILED)  # max_attempts=2
    assert not DBTaskResult.objects.filter(status="READY").exists()


def test_backoff_grows():
    assert tasks.backoff(1) < tasks.backoff(2) < tasks.backoff(3) == tasks.backoff(9)


def test_unknown_job_refused_when_queued():
    with pytest.raises(KeyError, match="unknown job 'nope'"):
        tasks.enqueue("nope", {})


def test_orphaned_entry_of_a_dead_worker_is_queued_again():
    entry_id = tasks.enqueue("test-record", {"tag": "orphan"})
    entry = DBTaskResult.objects.get(pk=entry_id)
    entry.claim("gone:1:abc")
    JobRun.objects.create(
        job="test-record",
        task_id=entry_id,
        worker="gone:1:abc",
        status=JobRun.Status.RUNNING,
        started_at=timezone.now(),
    )
    # its beat is from another host and old: dead
    WorkerBeat.objects.create(
        worker_id="gone:1:abc",
        host="elsewhere",
        pid=1,
        started_at=NOW,
        seen_at=timezone.now() - worker.STALE_AFTER * 2,
    )
    assert worker.requeue_orphans() == 1
    assert DBTaskResult.objects.get(pk=entry_id).status == "READY"
    assert JobRun.objects.get(task_id=entry_id).status == JobRun.Status.FAILED
    _run_once()
    assert Organisation.objects.filter(short_name="orphan").count() == 1


def test_a_live_worker_keeps_its_entry():
    entry_id = tasks.enqueue("test-record", {"tag": "alive"})
    DBTaskResult.objects.get(pk=entry_id).claim("other:2:def")
    WorkerBeat.objects.create(
        worker_id="other:2:def", host="elsewhere", pid=2, started_at=NOW, seen_at=timezone.now()
    )
    assert worker.requeue_orphans() == 0
    assert DBTaskResult.objects.get(pk=entry_id).status == "RUNNING"


def test_changing_the_schedule_checks_the_cron_and_the_role():
    s = _schedule("rec", "test-record", {"tag": "x"})
    with pytest.raises(ValidationError, match="not a cron expression"):
        schedule.change_schedule(SYSTEM, s.name, cron="every tuesday")
    pi = f.person(None, "pi").user
    with pytest.raises(PermissionDenied, match="operator"):
        schedule.change_schedule(pi, s.name, cron="0 * * * *")
    with pytest.raises(PermissionDenied):
        schedule.run_now(pi, s.name)
    changed = schedule.change_schedule(SYSTEM, s.name, cron="0  3 * * *")
    assert changed.cron == "0 3 * * *" and changed.changed_by_operator


def test_run_now_queues_once():
    s = _schedule("rec", "test-record", {"tag": "now"}, cron="0 3 * * *")
    first = schedule.run_now(SYSTEM, s.name)
    assert schedule.run_now(SYSTEM, s.name) == first  # still queued: the same entry
    _run_once()
    assert Organisation.objects.filter(short_name="now").count() == 1


def test_a_schedule_naming_a_job_this_version_lacks_does_not_stop_the_others():
    _schedule("gone", "no-such-job", {})
    _schedule("rec", "test-record", {"tag": "others"})
    assert schedule.queue_due(NOW) == ["rec"]
    assert Schedule.objects.get(name="gone").next_run_at > NOW
