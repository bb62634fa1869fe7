"""Calls, applications, reviews, allocations and the decisions that create allocations.

Every decision calls regnekraft.allocation.services, which enforces the policy rules; a broken
rule comes back as 409 with the violations (regnekraft.api.errors)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from regnekraft import access
from regnekraft.allocation import round as rounds
from regnekraft.allocation import services
from regnekraft.allocation.models import (
    ApplicationStatus,
    Call,
    CallStatus,
)
from regnekraft.api.permissions import (
    OperatorWritesOnly,
    among,
    is_operator,
    require_person,
    require_role,
)
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
from regnekraft.parties.models import RoleKind

from .base import ReadOnlyViewSet, WritableViewSet

PROPOSAL_TIME_LIMIT = 30.0  # seconds the solver may take for a round proposal


def _decision(application) -> dict:
    application.refresh_from_db()
    return {
        "application": application.pk,
        "status": application.status,
        "allocations": AllocationSerializer(application.allocations.all(), many=True).data,
    }


class CallViewSet(WritableViewSet):
    """Calls for applications (by default two a year). Operators open, close and decide them."""

    queryset = Call.objects.all()
    serializer_class = CallSerializer
    permission_classes = [OperatorWritesOnly]

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
        """Decide a whole round: every submitted application of the call at once. All grants pass the
        policy rules together, or nothing is written (409 with the violations)."""
        call = self.get_object()
        form = DecideRoundSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        grants = form.as_mapping()
        named = {line["application"] for line in form.validated_data["grants"]}
        strangers = sorted(app.pk for app in named if app.call_id != call.pk)
        if strangers:
            raise ValidationError(
                {"grants": f"applications {sorted(strangers)} are not in call {call}"}
            )
        services.decide_round(call, grants, decided_by=request.user)
        return Response([_decision(app) for app in call.applications.order_by("pk")])


class ApplicationViewSet(WritableViewSet):
    """Applications with their request lines. The project's PI applies while the call is open;
    reviewers see only applications assigned to them."""

    serializer_class = ApplicationSerializer
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        return (
            access.visible_applications(self.request.user)
            .select_related("call", "project")
            .prefetch_related("requests", "reviews")
        )

    def _require_applicant(self, project) -> None:
        if is_operator(self.request.user):
            return
        person = require_person(self.request.user, action="apply")
        if project.pi_id != person.pk:
            raise PermissionDenied(
                f"only the PI of {project.code} may apply or change its application"
            )

    def perform_create(self, serializer):
        data = serializer.validated_data
        if not among(access.visible_projects(self.request.user), data["project"]):
            raise ValidationError({"project": "no such project among yours"})
        self._require_applicant(data["project"])
        if data["call"].status != CallStatus.OPEN:
            raise ValidationError(
                {
                    "call": f"call {data['call']} is not open for applications "
                    f"(status {data['call'].status})"
                }
            )
        serializer.save(status=ApplicationStatus.SUBMITTED)

    def perform_update(self, serializer):
        application = serializer.instance
        self._require_applicant(application.project)
        if application.status not in (ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED):
            raise ValidationError(
                {"status": f"an application that is {application.status} cannot be changed"}
            )
        for field in ("call", "project"):
            if field in serializer.validated_data and serializer.validated_data[field] != getattr(
                application, field
            ):
                raise ValidationError({field: "cannot be changed; withdraw and apply again"})
        if application.call.status != CallStatus.OPEN:
            raise ValidationError({"call": f"call {application.call} is closed for changes"})
        serializer.save()

    @extend_schema(request=None, responses={200: ApplicationSerializer, **DECISION_ERRORS})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Withdraw an undecided application (its PI or an operator)."""
        application = self.get_object()
        self._require_applicant(application.project)
        if application.status == ApplicationStatus.DECIDED:
            raise ValidationError({"status": "a decided application cannot be withdrawn"})
        application.status = ApplicationStatus.WITHDRAWN
        application.save(update_fields=["status"])
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
        if application.status == ApplicationStatus.WITHDRAWN:
            raise ValidationError({"status": "the application was withdrawn"})
        form = DecideApplicationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.decide_application(application, form.as_mapping(), decided_by=request.user)
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
        require_role(self.request.user, RoleKind.OPERATOR, action="assign reviewers")
        try:
            serializer.instance = services.assign_reviewer(
                serializer.validated_data["application"], serializer.validated_data["reviewer"]
            )
        except DjangoValidationError as exc:
            raise ValidationError({"reviewer": exc.messages}) from None

    def perform_update(self, serializer):
        review = serializer.instance
        person = access.person_of(self.request.user)
        if person is None or review.reviewer_id != person.pk:
            raise PermissionDenied("only the assigned reviewer may change a review")
        if review.application.status == ApplicationStatus.DECIDED:
            raise ValidationError(
                {"application": "the application is decided; its reviews are closed"}
            )
        serializer.save()

    def perform_destroy(self, instance):
        require_role(self.request.user, RoleKind.OPERATOR, action="remove a reviewer")
        instance.delete()


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
