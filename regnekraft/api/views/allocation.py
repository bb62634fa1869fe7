"""Calls, applications, reviews, allocations and the decisions that create allocations.

Every decision calls regnekraft.allocation.services, which enforces the policy rules; a broken
rule comes back as 409 with the violations (regnekraft.api.errors)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from regnekraft import access
from regnekraft.allocation import applications, calls, reviews
from regnekraft.allocation import round as rounds
from regnekraft.allocation.models import Allocation, Application, Call
from regnekraft.api.permissions import ServicesDecideWrites, require_visible
from regnekraft.api.schema import DECISION_ERRORS
from regnekraft.api.serializers.allocation import (
    AllocationSerializer,
    ApplicationSerializer,
    CallSerializer,
    DecideApplicationSerializer,
    DecideRoundSerializer,
    DecisionResultSerializer,
    ReviewSerializer,
    ReviewUpdateSerializer,
    RoundProposalSerializer,
)
from regnekraft.api.serializers.common import id_param
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind

from .base import ReadOnlyViewSet, WritableViewSet

PROPOSAL_TIME_LIMIT = 30.0  # seconds the solver may take for a round proposal


def _request_lines(lines: list[dict]) -> dict:
    return {line["resource_class"]: line["amount"] for line in lines}


def _decisions(applications) -> list[dict]:
    """Each application as decided, with its allocations: three queries for a whole round."""
    rows = applications.order_by("pk").prefetch_related(
        Prefetch(
            "allocations",
            queryset=Allocation.objects.select_related("project", "resource_class__system"),
        )
    )
    return [
        {
            "application": a.pk,
            "status": a.status,
            "allocations": AllocationSerializer(a.allocations.all(), many=True).data,
        }
        for a in rows
    ]


def _decision(application) -> dict:
    [found] = _decisions(Application.objects.filter(pk=application.pk))
    return found


class CallViewSet(WritableViewSet):
    """Calls for applications (by default two a year). Operators open, close and decide them."""

    queryset = Call.objects.all()
    serializer_class = CallSerializer
    permission_classes = [ServicesDecideWrites]

    def perform_create(self, serializer):
        serializer.instance = calls.save_call(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = calls.save_call(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        calls.delete_call(self.request.user, instance)

    @extend_schema(request=None, responses={200: RoundProposalSerializer})
    @action(detail=True, methods=["get"])
    def proposal(self, request, pk=None):
        """The optimiser's proposal for the round (operators): grants that maximise score-weighted
        granted capacity within the rules, the binding constraints, and ineligible requests.
        Nothing is written; adjust the grants and POST them to decide."""
        require_role(request.user, RoleKind.OPERATOR, action="see a round's proposal")
        call = self.get_object()
        return Response(
            RoundProposalSerializer(
                rounds.propose_round(call, time_limit=PROPOSAL_TIME_LIMIT).as_dict()
            ).data
        )

    @extend_schema(
        request=DecideRoundSerializer,
        responses={200: DecisionResultSerializer(many=True), **DECISION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Decide a whole round: every submitted application of the call at once. All grants pass
        the policy rules together, or nothing is written (409 with the violations). The call
        must be closed for review; `force_reason` decides an open call (audited)."""
        call = self.get_object()
        form = DecideRoundSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        applications.decide_round(
            request.user,
            call,
            form.as_mapping(),
            force_reason=form.validated_data["force_reason"],
        )
        return Response(_decisions(call.applications.all()))


class ApplicationViewSet(WritableViewSet):
    """Applications with their request lines. The project's PI applies while the call is open;
    reviewers see only applications assigned to them."""

    serializer_class = ApplicationSerializer
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        return (
            access.visible_applications(self.request.user)
            .select_related("call", "project")
            .prefetch_related("requests", "reviews", "project__members")
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        require_visible(access.visible_projects(self.request.user), data["project"], "project")
        serializer.instance = applications.submit_application(
            self.request.user,
            data["call"],
            data["project"],
            justification=data["justification"],
            requests=_request_lines(data["requests"]),
            support_hours=data.get("support_hours", Decimal(0)),
            extra_fields=data.get("extra_fields"),
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        lines = data.pop("requests", None)
        serializer.instance = applications.update_application(
            self.request.user,
            serializer.instance,
            requests=None if lines is None else _request_lines(lines),
            **data,
        )

    @extend_schema(request=None, responses={200: ApplicationSerializer, **DECISION_ERRORS})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Withdraw an undecided application (its PI or an operator)."""
        application = applications.withdraw_application(request.user, self.get_object())
        return Response(ApplicationSerializer(application).data)

    @extend_schema(
        request=DecideApplicationSerializer,
        responses={200: DecisionResultSerializer, **DECISION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Decide one application: grant units per requested resource class (operators only).
        A grant that breaks a rule is refused with 409 naming the rule and the numbers."""
        require_role(request.user, RoleKind.OPERATOR, action="decide applications")
        application = self.get_object()
        form = DecideApplicationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        applications.decide_application(
            request.user,
            application,
            form.as_mapping(),
            force_reason=form.validated_data["force_reason"],
        )
        return Response(_decision(application))


class ReviewViewSet(WritableViewSet):
    """Reviews. Operators assign reviewers (POST); a reviewer sees and changes only their own:
    declares a conflict of interest, scores each criterion, comments and submits."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):
        return ReviewUpdateSerializer if self.action == "partial_update" else ReviewSerializer

    def get_queryset(self):
        return access.visible_reviews(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = reviews.assign_reviewer(
            self.request.user,
            serializer.validated_data["application"],
            serializer.validated_data["reviewer"],
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = reviews.save_review(
            self.request.user,
            serializer.instance,
            conflict=data.get("conflict_of_interest"),
            scores=data.get("scores"),
            comment=data.get("comment"),
            submitted=data.get("submitted"),
        )

    def perform_destroy(self, instance):
        reviews.remove_reviewer(self.request.user, instance)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("project", int, description="only this project's allocations")]
    )
)
class AllocationViewSet(ReadOnlyViewSet):
    """Decided grants (read only: they are made by decisions, orders, purchases and changes)."""

    serializer_class = AllocationSerializer

    def get_queryset(self):
        allocations = access.visible_allocations(self.request.user).select_related(
            "project", "resource_class__system"
        )
        project = id_param(self.request, "project")
        if project is not None:
            allocations = allocations.filter(project_id=project)
        return allocations
