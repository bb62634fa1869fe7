"""Serializers for calls, applications, reviews, allocations, orders, changes and the policy
knobs."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from regnekraft import access
from regnekraft.allocation.models import (
    REVIEW_CRITERIA,
    SCORE_MAX,
    SCORE_MIN,
    Allocation,
    Application,
    ApplicationRequest,
    Call,
    PolicySettings,
    Review,
    SectorOrderLine,
)
from regnekraft.api.schema import ViolationSchema
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Project

from .common import (
    MAX_YEAR,
    MIN_YEAR,
    DateRangeSerializer,
    country_field,
    reject_nul,
)

POSITIVE = {"min_value": Decimal("0.01")}


class CallSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = ["id", "name", "opens", "closes", "period_start", "period_end", "status"]

    def validate(self, attrs):
        for name in ("period_start", "period_end"):
            day = attrs.get(name)
            if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
                raise serializers.ValidationError({name: f"must lie within {MIN_YEAR}..{MAX_YEAR}"})
        return attrs


class RequestLineSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, **POSITIVE)

    class Meta:
        model = ApplicationRequest
        fields = ["resource_class", "amount"]


def _unique_classes(lines: list[dict], field: str) -> None:
    classes = [line["resource_class"].pk for line in lines]
    if len(classes) != len(set(classes)):
        raise serializers.ValidationError({field: "each resource class may appear only once"})


class ApplicationSerializer(serializers.ModelSerializer):
    requests = RequestLineSerializer(
        many=True, help_text="what is asked for, one line per resource class"
    )
    score = serializers.SerializerMethodField(
        help_text="mean of submitted reviews without a conflict; shown to applicants and "
        "reviewers once the round is decided (null before)"
    )

    class Meta:
        model = Application
        fields = [
            "id",
            "call",
            "project",
            "justification",
            "support_hours",
            "extra_fields",
            "status",
            "submitted_at",
            "requests",
            "score",
        ]
        read_only_fields = ["status", "submitted_at"]
        validators: list = []  # one application per call and project: the service's refusal

    @extend_schema_field(serializers.DecimalField(max_digits=6, decimal_places=3, allow_null=True))
    def get_score(self, application: Application) -> str | None:
        request = self.context.get("request")
        if request is None or not access.may_see_score(request.user, application):
            return None
        score = application.score()
        return None if score is None else str(score)

    def validate_requests(self, value):
        if not value:
            raise serializers.ValidationError("ask for at least one resource class")
        _unique_classes(value, "requests")
        return value

    def validate_extra_fields(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("a JSON object of call-specific answers")
        return reject_nul(value, field="extra_fields")


class ReviewSerializer(serializers.ModelSerializer):
    scores = serializers.DictField(
        child=serializers.IntegerField(min_value=SCORE_MIN, max_value=SCORE_MAX),
        required=False,
        help_text=f"score {SCORE_MIN}-{SCORE_MAX} per criterion: {', '.join(REVIEW_CRITERIA)}",
    )

    class Meta:
        model = Review
        fields = [
            "id",
            "application",
            "reviewer",
            "conflict_of_interest",
            "scores",
            "comment",
            "submitted",
        ]

    def validate_scores(self, value):
        unknown = set(value) - set(REVIEW_CRITERIA)
        if unknown:
            raise serializers.ValidationError(
                f"unknown criteria {sorted(unknown)}; use {list(REVIEW_CRITERIA)}"
            )
        return value


class ReviewUpdateSerializer(ReviewSerializer):
    """What a reviewer may change on their own review."""

    class Meta(ReviewSerializer.Meta):
        read_only_fields = ["application", "reviewer"]


class AllocationSerializer(serializers.ModelSerializer):
    project_code = serializers.CharField(source="project.code", read_only=True)
    resource_class_label = serializers.CharField(source="resource_class.__str__", read_only=True)
    unit = serializers.CharField(source="resource_class.unit", read_only=True)

    class Meta:
        model = Allocation
        fields = [
            "id",
            "project",
            "project_code",
            "resource_class",
            "resource_class_label",
            "unit",
            "amount",
            "start",
            "end",
            "source",
            "application",
            "order_line",
            "price_category",
            "charging_model",
            "status",
            "status_reason",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields


class GrantLineSerializer(serializers.Serializer):
    resource_class = serializers.PrimaryKeyRelatedField(queryset=ResourceClass.objects.all())
    amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        min_value=Decimal(0),
        help_text="units granted; 0 grants nothing of this class",
    )


class DecideApplicationSerializer(serializers.Serializer):
    grants = GrantLineSerializer(many=True, help_text="empty: the application is rejected")
    force_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="decide in a call that is still open or a draft: why (recorded in the audit log)",
    )

    def validate_grants(self, value):
        _unique_classes(value, "grants")
        return value

    def as_mapping(self) -> dict[int, Decimal]:
        return {line["resource_class"].pk: line["amount"] for line in self.validated_data["grants"]}


class RoundGrantSerializer(GrantLineSerializer):
    application = serializers.PrimaryKeyRelatedField(queryset=Application.objects.all())


class DecideRoundSerializer(serializers.Serializer):
    grants = RoundGrantSerializer(many=True, help_text="applications not named are rejected")
    force_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="decide a call that is still open or a draft: why (recorded in the audit log)",
    )

    def validate_grants(self, value):
        keys = [(line["application"].pk, line["resource_class"].pk) for line in value]
        if len(keys) != len(set(keys)):
            raise serializers.ValidationError(
                "each application and resource class may appear only once"
            )
        return value

    def as_mapping(self) -> dict[int, dict[int, Decimal]]:
        out: dict[int, dict[int, Decimal]] = {}
        for line in self.validated_data["grants"]:
            out.setdefault(line["application"].pk, {})[line["resource_class"].pk] = line["amount"]
        return out


class DecisionResultSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    status = serializers.CharField()
    allocations = AllocationSerializer(many=True)


class BindingConstraintSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="capacity, economic_cap or research_share")
    resource_class = serializers.IntegerField()
    limit = serializers.FloatField()
    used = serializers.FloatField()
    slack = serializers.FloatField()


class RoundProposalSerializer(serializers.Serializer):
    """The optimiser's proposal for a call's round (regnekraft.allocation.round.propose_round)."""

    call = serializers.CharField()
    status = serializers.CharField(help_text="the solver's status")
    method = serializers.CharField()
    objective = serializers.FloatField(allow_null=True, help_text="score-weighted granted capacity")
    mip_gap = serializers.FloatField(allow_null=True)
    solve_seconds = serializers.FloatField()
    funded = serializers.IntegerField()
    applications = serializers.IntegerField()
    grants = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="application id -> resource class id -> units",
    )
    scores = serializers.DictField(child=serializers.CharField(allow_null=True))
    binding = BindingConstraintSerializer(
        many=True, help_text="the constraints that limit the proposal"
    )
    ineligible = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="application id -> rules that exclude its requests",
    )
    policy_violations = serializers.ListField(
        child=serializers.CharField(), help_text="empty when the proposal passes the rules"
    )


class PolicySettingsSerializer(serializers.ModelSerializer):
    economic_cap_share = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=Decimal(0),
        required=False,
        help_text=(
            "share of yearly capacity economic activity may use (board: 0.05; law: at most 0.20)"
        ),
    )
    security_partner_countries = serializers.ListField(
        child=country_field(),
        required=False,
        min_length=1,
        help_text="countries outside Norway where open work may run (ISO codes)",
    )
    warning_thresholds = serializers.ListField(
        child=serializers.DecimalField(
            max_digits=4, decimal_places=3, min_value=Decimal("0.01"), max_value=Decimal("1.0")
        ),
        required=False,
        min_length=1,
        help_text="balance warnings at these used shares; 1.0 also blocks",
    )

    class Meta:
        model = PolicySettings
        fields = [
            "overbooking_factor",
            "economic_cap_share",
            "research_protected_share",
            "security_partner_countries",
            "min_grant_share",
            "warning_thresholds",
        ]
        extra_kwargs = {"overbooking_factor": {"max_value": Decimal("10")}}


class PolicyCheckSerializer(DateRangeSerializer):
    """A proposed grant to test against the rules without writing it."""

    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.select_related("organisation")
    )
    resource_class = serializers.PrimaryKeyRelatedField(
        queryset=ResourceClass.objects.select_related("system")
    )
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    order_line = serializers.PrimaryKeyRelatedField(
        queryset=SectorOrderLine.objects.select_related("order"),
        required=False,
        allow_null=True,
        help_text="test a sub-allocation inside this order line instead of a grant",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        line = attrs.get("order_line")
        if line is not None and line.resource_class_id != attrs["resource_class"].pk:
            raise serializers.ValidationError(
                {
                    "resource_class": f"order line {line.pk} is for resource class "
                    f"{line.resource_class_id}"
                }
            )
        return attrs


class PolicyCheckResultSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    violations = ViolationSchema.__class__(many=True)
