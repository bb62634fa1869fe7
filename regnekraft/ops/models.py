"""What the worker keeps: the schedule, the record of every job run, and the workers seen.

The queue itself is django-tasks' database table (``django_tasks_db.DBTaskResult``); these
tables are what operators read and change (portal, API, admin, ``regnekraft schedule``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Schedule(models.Model):
    """One recurring job. Invariants: ``name`` is unique; ``next_run_at`` is the next time the
    cron expression ``cron`` (Europe/Oslo) gives after the last enqueue; at most one run of a
    schedule is queued or running at a time (``pending_task_id``)."""

    name = models.CharField(
        _("name"), max_length=80, unique=True, help_text=_("e.g. slurm-apply:betzy")
    )
    job = models.CharField(
        _("job"), max_length=80, help_text=_("what runs (regnekraft/ops/jobs.py)")
    )
    arguments = models.JSONField(_("arguments"), default=dict, blank=True)
    cron = models.CharField(
        _("when"),
        max_length=100,
        help_text=_("a cron expression in Norwegian time, e.g. */15 * * * * (every 15 minutes)"),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    next_run_at = models.DateTimeField(_("next run"))
    last_enqueued_at = models.DateTimeField(_("last queued"), null=True, blank=True)
    pending_task_id = models.CharField(max_length=64, blank=True)
    changed_by_operator = models.BooleanField(
        default=False, help_text="kept as the operator set it when the defaults change"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")

    def __str__(self) -> str:
        return f"{self.name} ({self.cron})"


class JobRun(models.Model):
    """One attempt of one job: queued by the schedule or by hand, run by one worker.

    A failed attempt that will be tried again has status ``retrying`` and names the time of the
    next attempt; the last failed attempt has status ``failed``."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        RETRYING = "retrying", _("failed, will retry")
        FAILED = "failed", _("failed")

    job = models.CharField(_("job"), max_length=80)
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    arguments = models.JSONField(_("arguments"), default=dict, blank=True)
    task_id = models.CharField(max_length=64, db_index=True)
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    worker = models.CharField(_("worker"), max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    started_at = models.DateTimeField(_("started"), db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    summary = models.JSONField(_("what changed"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    retry_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"])]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")

    def __str__(self) -> str:
        return f"{self.job} #{self.attempt} {self.status} at {self.started_at:%Y-%m-%d %H:%M}"


class WorkerBeat(models.Model):
    """A worker process, as last seen. A worker writes ``seen_at`` every few seconds while it
    lives, also during a long job; one not seen for ``ops.worker.STALE_AFTER`` is dead, and the
    job it held is queued again."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    current_task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-seen_at"]
        verbose_name = _("worker")
        verbose_name_plural = _("workers")

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.host} (pid {self.pid})"
