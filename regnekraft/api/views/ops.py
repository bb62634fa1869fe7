"""The worker's record (operators): every job run, the schedule with its last and next run, and
the workers seen. Two writes on a schedule, both through ``regnekraft.ops.schedule``: change
when it runs or whether it runs (PATCH), and queue a run now (POST .../run/)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from regnekraft.api.mixins import AtomicWrites
from regnekraft.api.pagination import BoundedLimitOffsetPagination, KeysetPagination
from regnekraft.api.permissions import OperatorOnly
from regnekraft.api.schema import OBJECT_WRITE_ERRORS, RegnekraftAutoSchema
from regnekraft.api.serializers.common import id_param, text_param
from regnekraft.api.serializers.ops import (
    JobRunSerializer,
    RunNowSerializer,
    ScheduleChangeSerializer,
    ScheduleSerializer,
    WorkerSerializer,
)
from regnekraft.ops.models import JobRun, Schedule, WorkerBeat
from regnekraft.ops.queries import with_last_run

from .base import ReadOnlyViewSet


class JobRunCursorPagination(KeysetPagination):
    """Job runs, newest first (the ``started_at`` index; ``id`` breaks ties)."""

    ordering = ("-started_at", "-id")


STATUSES = [value for value, _ in JobRun.Status.choices]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("job", str, description="a job's name, e.g. balances"),
            OpenApiParameter("status", str, enum=STATUSES, description="the run's outcome"),
            OpenApiParameter(
                "schedule", str, description="the schedule's id or name, e.g. slurm-apply:betzy"
            ),
        ]
    )
)
class JobRunViewSet(ReadOnlyViewSet):
    """Every attempt of every job the worker ran (operators): start, end, outcome, what changed
    (``summary``) and the error of a failed one; newest first, paged by cursor (follow
    `next`)."""

    serializer_class = JobRunSerializer
    permission_classes = [OperatorOnly]
    pagination_class = JobRunCursorPagination
    queryset = JobRun.objects.none()
    filterset_fields = None

    def get_queryset(self):
        runs = JobRun.objects.select_related("schedule").order_by(*JobRunCursorPagination.ordering)
        if self.action != "list":
            return runs
        job = text_param(self.request, "job")
        if job:
            runs = runs.filter(job=job)
        status = text_param(self.request, "status")
        if status:
            if status not in STATUSES:
                raise ValidationError(
                    {"status": [f"unknown status {status!r}; one of {', '.join(STATUSES)}"]}
                )
            runs = runs.filter(status=status)
        schedule = text_param(self.request, "schedule")
        if schedule:
            number = id_param(self.request, "schedule")
            runs = (
                runs.filter(schedule_id=number)
                if number is not None
                else runs.filter(schedule__name=schedule)
            )
        return runs


class ScheduleViewSet(ReadOnlyViewSet):
    """The schedule (operators): each recurring job, when it runs (a cron expression in
    Norwegian time), whether it is on, its next run and its last run. PATCH changes ``cron``
    or ``enabled``; POST ``run/`` queues a run now."""

    serializer_class = ScheduleSerializer
    permission_classes = [OperatorOnly]
    queryset = Schedule.objects.none()
    filterset_fields = None
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_queryset(self):
        return with_last_run(Schedule.objects.order_by("name", "pk"))

    def _answer(self, schedule: Schedule) -> Response:
        fresh = self.get_queryset().get(pk=schedule.pk)
        return Response(ScheduleSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(
        request=ScheduleChangeSerializer,
        responses={200: ScheduleSerializer, **OBJECT_WRITE_ERRORS},
    )
    def partial_update(self, request, *args, **kwargs):
        """Change when the schedule runs (``cron``) or whether it runs (``enabled``). The next
        run is worked out again from the new expression; the change is audited."""
        from regnekraft.ops.schedule import change_schedule

        schedule = self.get_object()
        form = ScheduleChangeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        changed = change_schedule(request.user, schedule.name, **form.validated_data)
        return self._answer(changed)

    @extend_schema(request=None, responses={200: RunNowSerializer, **OBJECT_WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Queue a run of this schedule now, whatever its next run. If its last run is still
        queued or running, nothing more is queued and that run's task is named."""
        from regnekraft.ops.schedule import run_now

        schedule = self.get_object()
        try:
            queued = run_now(request.user, schedule.name)
        except KeyError as exc:  # a job this version no longer has (ops.jobs.job)
            raise ValidationError({"job": [str(exc.args[0] if exc.args else exc)]}) from None
        task_id = queued if isinstance(queued, str) else queued.task_id
        return Response({"schedule": schedule.name, "task_id": task_id})


class WorkerViewSet(AtomicWrites, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The worker processes (operators), the newest seen first: where each runs, when it was
    last seen, whether it is alive, and the task it holds. A list only: a worker has nothing
    more to show than its row."""

    schema = RegnekraftAutoSchema()
    pagination_class = BoundedLimitOffsetPagination

    serializer_class = WorkerSerializer
    permission_classes = [OperatorOnly]
    queryset = WorkerBeat.objects.none()
    filterset_fields = None

    def get_queryset(self):
        return WorkerBeat.objects.order_by("-seen_at", "worker_id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}
