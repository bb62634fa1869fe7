"""What the bridge did, per run: operators see it in the admin, the API and the portal.

Only this module and ``adapter.py`` use Django; the bridge's core stays framework-free.
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
