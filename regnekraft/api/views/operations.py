"""Operations and planning answers: the Slurm bridge's runs, a round replayed on a trace, the
rolling plan and the study's economics. Read-only; each computes through the same module the
CLI uses."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft import access
from regnekraft.allocation import whatif
from regnekraft.allocation.models import Call
from regnekraft.api.permissions import OperatorOnly
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind
from regnekraft.slurm.models import SyncRun
from regnekraft.textout import jsonable
from regnekraft.traces import traces_dir

from .base import BaseAPIView, ReadOnlyViewSet

PLANNERS = (RoleKind.OPERATOR, RoleKind.DECISION_MAKER, RoleKind.FINANCE)


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = ["id", "cluster", "mode", "at", "ok", "changes", "applied", "error", "details"]


class SyncRunViewSet(ReadOnlyViewSet):
    """Every plan, apply, reconcile and ingest the Slurm bridge ran, newest first (operators)."""

    serializer_class = SyncRunSerializer
    permission_classes = [OperatorOnly]
    queryset = SyncRun.objects.all()
    filterset_fields = None

    def get_queryset(self):
        runs = SyncRun.objects.all()
        cluster = self.request.query_params.get("cluster")
        return runs.filter(cluster=cluster) if cluster else runs


SIMULATION_PARAMETERS = [
    OpenApiParameter(
        "trace",
        str,
        description="a trace file name in the traces folder (default: the HPC2N trace)",
    ),
    OpenApiParameter(
        "proposed", bool, description="simulate the optimiser's proposal instead of the decisions"
    ),
]


class NoBody(serializers.Serializer):
    """A POST that takes no body (its parameters are in the query string). As the view's
    serializer it lets OPTIONS describe the view instead of failing for want of one."""


class RoundSimulationView(BaseAPIView):
    """A call's round (as decided, or as the optimiser proposes) replayed on a public workload trace
    in the simulator, against first-come-first-served: utilisation, waits, and each project's and
    user group's delivered share against its entitlement (operators and decision makers).
    GET runs it and answers; POST also keeps it for the dashboard (201, with its ``id``)."""

    permission_classes = [IsAuthenticated]
    serializer_class = NoBody

    def _inputs(self, request, pk: str):
        require_role(
            request.user, RoleKind.OPERATOR, RoleKind.DECISION_MAKER, action="simulate a round"
        )
        try:
            call = Call.objects.get(pk=int(pk))
        except (Call.DoesNotExist, ValueError, OverflowError):
            raise NotFound(f"no call with id {pk}") from None
        name = request.query_params.get("trace", "hpc2n-first3171.swf")
        folder = traces_dir()
        available = (
            sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        )
        if name not in available:
            raise ValidationError(
                {"trace": f"unknown trace {name!r}; available: {', '.join(available) or 'none'}"}
            )
        proposed = request.query_params.get("proposed", "false").lower() in ("1", "true", "yes")
        return call, folder / name, proposed

    @extend_schema(parameters=SIMULATION_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: str):
        call, trace, proposed = self._inputs(request, pk)
        try:
            return Response(whatif.summary(call, trace, proposed=proposed))
        except ValueError as exc:
            raise ValidationError({"call": str(exc)}) from None

    @extend_schema(
        parameters=SIMULATION_PARAMETERS, request=None, responses={201: OpenApiTypes.OBJECT}
    )
    def post(self, request, pk: str):
        call, trace, proposed = self._inputs(request, pk)
        try:
            run = whatif.store(call, trace, proposed=proposed, user=request.user)
        except ValueError as exc:
            raise ValidationError({"call": str(exc)}) from None
        return Response(
            {
                "id": run.pk,
                "created": run.created,
                "call": call.name,
                "trace": run.trace,
                "proposed": run.proposed,
                "scenarios": run.results,
            },
            status=201,
        )


def _require_planner(user) -> None:
    if not access.has_role(user, *PLANNERS):
        raise PermissionDenied("only operators, decision makers and finance may read the plan")


class PlanView(BaseAPIView):
    """The rolling four-year plan from the catalogue's systems and the accounting's usage (the
    shipped scenarios and thresholds): for each year and class what to buy or retire, and why."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        _require_planner(request.user)
        from regnekraft.planning.from_db import raw_input
        from regnekraft.planning.inputs import input_from_dict
        from regnekraft.planning.rolling import make_plan

        plan, _ = make_plan(input_from_dict(raw_input()))
        return Response(jsonable(plan.as_dict()))


class EconomicsView(BaseAPIView):
    """The concept study's cost/benefit figures (Tables 9.5 and 10.1) from its shipped inputs, with
    a seeded Monte Carlo (P10/P50/P90)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("runs", int, description="Monte Carlo runs, 0..20000 (default 2000)")
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        _require_planner(request.user)
        from regnekraft.planning import economics as ec

        try:
            runs = int(request.query_params.get("runs", 2000))
        except ValueError:
            raise ValidationError({"runs": "must be a whole number"}) from None
        if not 0 <= runs <= 20_000:
            raise ValidationError({"runs": "must be between 0 and 20000"})
        study = ec.load_study()
        mc = ec.monte_carlo(study, n=runs, seed=2026) if runs else None
        return Response(jsonable(ec.report(study, mc)))
