"""The worker's record as the API shows it: job runs, the schedule, the workers seen.

Read-only shapes; the two writes (change a schedule, run one now) take ``ScheduleChangeSerializer``
and no body respectively and go through ``regnekraft.ops.schedule``.
"""

from __future__ import annotations

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from regnekraft.ops.health import WORKER_SEEN_WITHIN
from regnekraft.ops.models import JobRun, Schedule, WorkerBeat
from regnekraft.ops.queries import is_alive, job_description


def seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    """How long a run took, in seconds (None while it runs)."""
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


class JobRunSerializer(serializers.ModelSerializer):
    schedule_name = serializers.SerializerMethodField(
        help_text="the schedule that queued the run; null for a run queued by hand"
    )
    duration_seconds = serializers.SerializerMethodField(
        help_text="finished minus started; null while it runs"
    )

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "schedule",
            "schedule_name",
            "arguments",
            "task_id",
            "attempt",
            "worker",
            "status",
            "started_at",
            "finished_at",
            "duration_seconds",
            "summary",
            "error",
            "retry_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "status": {
                "help_text": "running; succeeded; retrying (failed, tried again at retry_at); "
                "failed (the last attempt failed)"
            }
        }

    def get_schedule_name(self, run: JobRun) -> str | None:
        return run.schedule.name if run.schedule_id else None

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_duration_seconds(self, run: JobRun) -> float | None:
        return seconds_between(run.started_at, run.finished_at)


class LastRunSerializer(serializers.Serializer):
    """The newest run of a schedule, from the list's annotations (``ops.queries.with_last_run``)."""

    id = serializers.IntegerField()
    status = serializers.CharField(help_text="as a job run's status")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField()


class ScheduleSerializer(serializers.ModelSerializer):
    description = serializers.SerializerMethodField(help_text="what the job does")
    last_run = serializers.SerializerMethodField(
        help_text="the newest run of this schedule; null if it has not run"
    )

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "job",
            "description",
            "arguments",
            "cron",
            "enabled",
            "next_run_at",
            "last_enqueued_at",
            "changed_by_operator",
            "last_run",
        ]
        read_only_fields = fields

    def get_description(self, schedule: Schedule) -> str:
        return job_description(schedule.job)

    @extend_schema_field(LastRunSerializer(allow_null=True))
    def get_last_run(self, schedule: Schedule) -> dict | None:
        run_id = getattr(schedule, "last_run_id", None)
        if run_id is None:
            return None
        started = schedule.last_run_started_at  # type: ignore[attr-defined]
        finished = schedule.last_run_finished_at  # type: ignore[attr-defined]
        return {
            "id": run_id,
            "status": schedule.last_run_status,  # type: ignore[attr-defined]
            "started_at": started,
            "finished_at": finished,
            "duration_seconds": seconds_between(started, finished),
            "error": schedule.last_run_error,  # type: ignore[attr-defined]
        }


class ScheduleChangeSerializer(serializers.Serializer):
    """What an operator may change: when it runs, and whether it runs. Give at least one."""

    cron = serializers.CharField(
        required=False,
        max_length=100,
        help_text="a cron expression in Norwegian time, e.g. */15 * * * *",
    )
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["give cron, enabled or both; nothing to change"]}
            )
        return attrs


class RunNowSerializer(serializers.Serializer):
    """The answer to "run now": the schedule and the queued task (or the one still queued or
    running, which is not queued twice)."""

    schedule = serializers.CharField()
    task_id = serializers.CharField()


class WorkerSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="worker_id", read_only=True)
    alive = serializers.SerializerMethodField(
        help_text=f"seen within the last {int(WORKER_SEEN_WITHIN.total_seconds() // 60)} minutes "
        "and not stopped"
    )

    class Meta:
        model = WorkerBeat
        fields = [
            "id",
            "host",
            "pid",
            "started_at",
            "seen_at",
            "stopped_at",
            "current_task_id",
            "alive",
        ]
        read_only_fields = fields

    def get_alive(self, beat: WorkerBeat) -> bool:
        return is_alive(beat, self.context.get("now"))
