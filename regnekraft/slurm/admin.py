from django.contrib import admin

from regnekraft.audit.admin import ReadOnlyAdmin

from .models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("at", "cluster", "mode", "ok", "changes", "applied", "error")
    list_filter = ("cluster", "mode", "ok")
