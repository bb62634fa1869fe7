"""``regnekraft worker``: queue what the schedule says is due, and run the queue.

Each pass of the loop: write the schedule's defaults if missing, queue the due schedules, put
back the jobs of workers that died, then take one queue entry (django-tasks' database queue:
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, an exclusive transaction on SQLite, so no
two workers take the same one) and run it. A thread writes the worker's
:class:`~regnekraft.ops.models.WorkerBeat` every :data:`BEAT_EVERY` while the worker lives,
also during a long job.

A worker is dead when it runs on this host and its process is gone, or when it has not been
seen for :data:`STALE_AFTER` (other hosts). The entry it held is queued again and its
:class:`~regnekraft.ops.models.JobRun` closed as failed; the jobs are idempotent, so the rerun
does the work once (a job killed inside its transaction left nothing behind).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import socket
import threading
import time
from types import FrameType

from django.db import OperationalError, close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker as TaskRunner
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from . import schedule, tasks
from .models import JobRun, WorkerBeat

logger = logging.getLogger(__name__)

BEAT_EVERY = float(os.environ.get("REGNEKRAFT_WORKER_BEAT_SECONDS", "10"))
STALE_AFTER = dt.timedelta(seconds=float(os.environ.get("REGNEKRAFT_WORKER_STALE_SECONDS", "60")))
POLL_EVERY = float(os.environ.get("REGNEKRAFT_WORKER_POLL_SECONDS", "2"))


def new_worker_id() -> str:
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def dead_workers(now: dt.datetime | None = None) -> set[str]:
    """The workers holding a running entry that are gone (see the module's docstring)."""
    now = now or timezone.now()
    holders = {
        ids[-1]
        for ids in DBTaskResult.objects.running().values_list("worker_ids", flat=True)
        if ids
    }
    beats = {b.worker_id: b for b in WorkerBeat.objects.filter(worker_id__in=holders)}
    host = socket.gethostname()[:40]
    dead = set()
    for worker_id in holders:
        beat = beats.get(worker_id)
        if beat is None or beat.stopped_at is not None:
            dead.add(worker_id)
        elif beat.host == host:
            if not _process_alive(beat.pid):
                dead.add(worker_id)
        elif beat.seen_at < now - STALE_AFTER:
            dead.add(worker_id)
    return dead


def requeue_orphans(now: dt.datetime | None = None) -> int:
    """Queue again the entries that dead workers held; close their runs as failed."""
    dead = dead_workers(now)
    if not dead:
        return 0
    count = 0
    with transaction.atomic():
        for entry in DBTaskResult.objects.running().select_for_update(skip_locked=True):
            holder = entry.worker_ids[-1] if entry.worker_ids else ""
            if holder not in dead:
                continue
            entry.status = "READY"
            entry.save(update_fields=["status"])
            JobRun.objects.filter(task_id=str(entry.id), status=JobRun.Status.RUNNING).update(
                status=JobRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"worker {holder} stopped during the run; queued again",
            )
            logger.warning("worker %s died running %s; queued again", holder, entry.id)
            count += 1
    return count


class Heart(threading.Thread):
    """Writes the worker's beat every BEAT_EVERY seconds until stopped."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(name=f"beat-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.task_id = ""
        self.done = threading.Event()

    def beat(self) -> None:
        try:
            WorkerBeat.objects.filter(worker_id=self.worker_id).update(
                seen_at=timezone.now(), current_task_id=self.task_id
            )
        except OperationalError as exc:  # SQLite busy with a long write: try at the next beat
            logger.debug("beat not written: %s", exc)

    def run(self) -> None:
        try:
            while not self.done.wait(BEAT_EVERY):
                self.beat()
        finally:
            connection.close()


class Worker:
    """One worker process. ``once``: queue what is due, run every ready entry, then return."""

    def __init__(self, *, once: bool = False, worker_id: str | None = None) -> None:
        self.once = once
        self.worker_id = worker_id or new_worker_id()
        self.running = True
        self.busy = False
        self.ran = 0
        self.runner = TaskRunner(
            queue_names=["*"],
            interval=POLL_EVERY,
            batch=once,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )

    # --- signals: finish the job in hand, then stop -------------------------------------

    def stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.running:
            raise SystemExit(1)  # the second signal: stop now
        logger.warning("%s: stopping after the current job", signal.strsignal(signum))
        self.running = False
        if not self.busy:
            raise SystemExit(0)

    def _signals(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)

    # --- the loop -----------------------------------------------------------------------

    def _register(self) -> None:
        now = timezone.now()
        WorkerBeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "host": socket.gethostname()[:40],
                "pid": os.getpid(),
                "started_at": now,
                "seen_at": now,
            },
        )

    def _take(self) -> DBTaskResult | None:
        entries = DBTaskResult.objects.ready().filter(backend_name="default")
        try:
            with exclusive_transaction(entries.db):
                entry = entries.get_locked()
                if entry is not None:
                    entry.claim(self.worker_id)
                return entry
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def _run(self, entry: DBTaskResult, heart: Heart) -> None:
        self.busy = True
        heart.task_id = str(entry.id)
        heart.beat()
        worker_token = tasks.current_worker.set(self.worker_id)
        task_token = tasks.current_task.set(str(entry.id))
        try:
            self.runner.run_task(entry)  # records success or failure in the queue entry
        finally:
            tasks.current_worker.reset(worker_token)
            tasks.current_task.reset(task_token)
            heart.task_id = ""
            self.busy = False
            self.ran += 1

    def _plan(self) -> None:
        try:
            schedule.ensure_schedules()
            schedule.queue_due()
            requeue_orphans()
        except OperationalError as exc:
            if not is_locked_database_exception(exc):
                raise
            logger.info("database busy; the schedule is looked at in the next pass")

    def run(self) -> int:
        """Run until stopped (or, with ``once``, until nothing is ready); the jobs run."""
        self._signals()
        self._register()
        heart = Heart(self.worker_id)
        heart.start()
        logger.info("worker %s started%s", self.worker_id, " (once)" if self.once else "")
        try:
            while self.running:
                if not connection.in_atomic_block:  # (a test runs the loop inside one)
                    close_old_connections()  # a connection the database dropped is made anew
                self._plan()
                entry = self._take()
                if entry is not None:
                    self._run(entry, heart)
                elif self.once:
                    break
                else:
                    time.sleep(POLL_EVERY)
        finally:
            heart.done.set()
            WorkerBeat.objects.filter(worker_id=self.worker_id).update(
                seen_at=timezone.now(), stopped_at=timezone.now(), current_task_id=""
            )
            logger.info("worker %s stopped after %d job(s)", self.worker_id, self.ran)
        return self.ran
