"""The worker's tables in the admin: the schedule (when and whether each job runs, changed
through ``ops.schedule.change_schedule``), and the job runs and workers, which only the worker
writes."""

from __future__ import annotations

from croniter import croniter
from django import forms
from django.contrib import admin
from django.utils.translation import gettext as _

from regnekraft.audit.admin import ReadOnlyAdmin, ServiceWrites, adopt

from .models import JobRun, Schedule, WorkerBeat


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ("cron", "enabled")

    def clean_cron(self) -> str:
        cron = " ".join((self.cleaned_data.get("cron") or "").split())
        if not croniter.is_valid(cron):
            raise forms.ValidationError(
                _(
                    "%(cron)r is not a cron expression: give minute, hour, day of month, month "
                    "and weekday, e.g. */15 * * * * (every 15 minutes)"
                )
                % {"cron": cron}
            )
        return cron


@admin.register(Schedule)
class ScheduleAdmin(ServiceWrites):
    """Operators change when a job runs and whether it runs; the rows themselves come from the
    schedule's defaults (``ops.schedule.ensure_schedules``), so none is added or deleted here."""

    form = ScheduleForm
    list_display = ("name", "job", "cron", "enabled", "next_run_at", "last_enqueued_at")
    list_filter = ("enabled", "job")
    search_fields = ("name", "job")
    fields = (
        "name",
        "job",
        "arguments",
        "cron",
        "enabled",
        "next_run_at",
        "last_enqueued_at",
        "pending_task_id",
        "changed_by_operator",
    )
    readonly_fields = (
        "name",
        "job",
        "arguments",
        "next_run_at",
        "last_enqueued_at",
        "pending_task_id",
        "changed_by_operator",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from .schedule import change_schedule

        wanted = {name: form.cleaned_data[name] for name in form.changed_data}
        if wanted:
            adopt(obj, change_schedule(request.user, obj.name, **wanted))


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "job", "schedule", "attempt", "status", "worker", "finished_at")
    list_filter = ("status", "job")
    list_select_related = ("schedule",)
    search_fields = ("job", "task_id", "error")
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in JobRun._meta.fields]


@admin.register(WorkerBeat)
class WorkerBeatAdmin(ReadOnlyAdmin):
    list_display = ("worker_id", "host", "pid", "started_at", "seen_at", "stopped_at")
    search_fields = ("worker_id", "host")
    readonly_fields = [f.name for f in WorkerBeat._meta.fields]
