"""What the bridge did, per run (operators see it in the admin, the API and the portal), and
what it remembers between runs: the ingest watermark and the usage periods per cluster.

Only this module, ``stores.py`` and ``adapter.py`` use Django; the bridge's core stays
framework-free (``state.py`` holds the interfaces and the file backends).
"""

from __future__ import annotations

from django.db import models


class SyncRun(models.Model):
    class Mode(models.TextChoices):
        PLAN = "plan"
        APPLY = "apply"
        RECONCILE = "reconcile"
        INGEST = "ingest"

    cluster = models.CharField(max_length=50, db_index=True)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    ok = models.BooleanField()
    changes = models.PositiveIntegerField(
        default=0, help_text="operations found (sync) or records read (ingest)"
    )
    applied = models.PositiveIntegerField(
        default=0, help_text="operations applied (sync) or records stored (ingest)"
    )
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return (
            f"{self.cluster} {self.mode} at {self.at:%Y-%m-%d %H:%M}: "
            f"{'ok' if self.ok else 'error'}"
        )


def record(
    cluster: str,
    mode: str,
    *,
    ok: bool,
    changes: int = 0,
    applied: int = 0,
    error: str = "",
    details: dict | None = None,
) -> SyncRun:
    return SyncRun.objects.create(
        cluster=cluster,
        mode=mode,
        ok=ok,
        changes=changes,
        applied=applied,
        error=error or "",
        details=details or {},
    )


class IngestWatermark(models.Model):
    """How far ``sacct`` has been read for one cluster, and what the last ingest saw.

    Invariants:

    - one row per cluster (``cluster`` is unique); no row before the first ingest;
    - ``ingested_up_to`` is null only while no run has succeeded (a failure recorded first);
      once set it only moves forward;
    - when the usage read is stored in the platform, ``ingested_up_to`` moves in the same
      database transaction as the usage import of that window
      (``regnekraft.accounting.slurm_usage``): a window is either stored and passed, or
      neither, so a crash never loses or skips usage (re-reading is harmless: usage records
      are idempotent);
    - ``last_error`` is empty after a successful run and holds the failure's text after a
      failed one (the watermark then stays where it was); ``last_run`` is the time of the
      latest run either way.
    """

    cluster = models.CharField(max_length=50, unique=True)
    ingested_up_to = models.DateTimeField(
        null=True, blank=True, help_text="usage was read (and stored) up to this time"
    )
    last_run = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_records = models.PositiveIntegerField(
        default=0, help_text="records read by the last successful run"
    )
    last_unknown_accounts = models.JSONField(
        default=dict, blank=True, help_text="Slurm account -> jobs not mapped to a project"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster"]

    def __str__(self) -> str:
        mark = f"{self.ingested_up_to:%Y-%m-%d %H:%M}" if self.ingested_up_to else "never"
        return f"{self.cluster}: ingested up to {mark}"


class UsagePeriod(models.Model):
    """The allocation period a project account's accrued Slurm usage was last reset for.

    Invariants:

    - one row per (cluster, account), ``account`` being the Slurm account of a project;
    - ``period`` is the first day of the allocation period; a row is written when the bridge
      first sees the account (adopted, without a reset) and moved forward only after the
      ``RawUsage=0`` reset for the later period ran in Slurm, so a reset is never repeated
      and one that failed is tried again by the next apply;
    - rows of accounts that leave the desired state are kept (a project that comes back is
      not reset twice for the same period).
    """

    cluster = models.CharField(max_length=50)
    account = models.CharField(max_length=100)
    period = models.DateField(help_text="the usage was reset (or adopted) for the period from")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "account"], name="slurm_usage_period_one_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.account}: period from {self.period}"
