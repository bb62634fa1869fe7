from django.contrib import admin

from regnekraft.audit.admin import ReadOnlyAdmin

from .models import IngestWatermark, SyncRun, UsagePeriod


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("at", "cluster", "mode", "ok", "changes", "applied", "error")
    list_filter = ("cluster", "mode", "ok")


@admin.register(IngestWatermark)
class IngestWatermarkAdmin(ReadOnlyAdmin):
    """Written only by ingest runs (the watermark moves with the usage it stored)."""

    list_display = ("cluster", "ingested_up_to", "last_run", "last_records", "last_error")


@admin.register(UsagePeriod)
class UsagePeriodAdmin(ReadOnlyAdmin):
    """Written only by apply runs (after the usage reset ran in Slurm)."""

    list_display = ("cluster", "account", "period", "updated")
    list_filter = ("cluster",)
    search_fields = ("account",)
