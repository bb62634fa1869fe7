"""Serializers for calls, applications, reviews, allocations, orders, changes and the policy knobs."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from regnekraft.accounting import rating
from regnekraft.allocation import policy
from regnekraft.allocation.models import (
    LEGAL_ECONOMIC_CAP,
    REVIEW_CRITERIA,
    SCORE_MAX,
    SCORE_MIN,
    Allocation,
    Application,
    ApplicationRequest,
    Call,
    CallStatus,
    ChangeKind,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    PolicySettings,
    Review,
    SectorOrder,
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
    run_model_clean,
)

POSITIVE = {"min_value": Decimal("0.01")}


class CallSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = ["id", "name", "opens", "closes", "period_start", "period_end", "status"]

    def validate(self, attrs):
        run_model_clean(Call, attrs, self.instance)
        if "status" in attrs:
            try:
                (self.instance or Call(status=CallStatus.DRAFT)).check_status_change(
                    attrs["status"]
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from None
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
        help_text="mean of submitted reviews without a declared conflict"
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

    @extend_schema_field(serializers.DecimalField(max_digits=6, decimal_places=3, allow_null=True))
    def get_score(self, application: Application) -> str | None:
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

    def create(self, validated_data):
        lines = validated_data.pop("requests")
        application = Application.objects.create(**validated_data)
        for line in lines:
            ApplicationRequest.objects.create(application=application, **line)
        return application

    def update(self, instance, validated_data):
        lines = validated_data.pop("requests", None)
        instance = super().update(instance, validated_data)
        if lines is not None:
            instance.requests.all().delete()
            for line in lines:
                ApplicationRequest.objects.create(application=instance, **line)
        return instance


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

    def validate(self, attrs):
        submitted = attrs.get("submitted", getattr(self.instance, "submitted", False))
        conflict = attrs.get(
            "conflict_of_interest", getattr(self.instance, "conflict_of_interest", False)
        )
        scores = attrs.get("scores", getattr(self.instance, "scores", {}))
        if submitted and not conflict and set(scores) != set(REVIEW_CRITERIA):
            raise serializers.ValidationError(
                {
                    "scores": f"a submitted review scores every criterion: {', '.join(REVIEW_CRITERIA)}"
                }
            )
        if conflict:
            attrs["scores"] = {}  # a declared conflict takes the review out of the score
        return attrs


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

    def validate_grants(self, value):
        _unique_classes(value, "grants")
        return value

    def as_mapping(self) -> dict[int, Decimal]:
        return {line["resource_class"].pk: line["amount"] for line in self.validated_data["grants"]}


class RoundGrantSerializer(GrantLineSerializer):
    application = serializers.PrimaryKeyRelatedField(queryset=Application.objects.all())


class DecideRoundSerializer(serializers.Serializer):
    grants = RoundGrantSerializer(many=True, help_text="applications not named are rejected")

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


class OrderLineSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, **POSITIVE)

    class Meta:
        model = SectorOrderLine
        fields = ["id", "resource_class", "amount"]


class PriceEstimateLineSerializer(serializers.Serializer):
    resource_class = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=None, decimal_places=2)
    unit_price_nok = serializers.DecimalField(max_digits=None, decimal_places=4, allow_null=True)
    value_nok = serializers.DecimalField(max_digits=None, decimal_places=2, allow_null=True)
    problem = serializers.CharField(
        allow_blank=True, help_text="why no price was found, if none was"
    )


class PriceEstimateSerializer(serializers.Serializer):
    category = serializers.CharField(help_text="price category the order is valued in")
    total_nok = serializers.DecimalField(
        max_digits=None,
        decimal_places=2,
        help_text="value of the order at the prices valid on 1 January",
    )
    committed_nok = serializers.DecimalField(
        max_digits=None, decimal_places=2, help_text="take-or-pay minimum: total x commitment share"
    )
    complete = serializers.BooleanField(help_text="false if some line has no price")
    lines = PriceEstimateLineSerializer(many=True)


def price_estimate(order: SectorOrder, book: rating.PriceBook | None = None) -> dict:
    """What the order costs at the price list valid at the start of its year (accounting's rating)."""
    book = book or rating.PriceBook()
    category = policy.order_category(order.organisation)
    lines, total = [], Decimal(0)
    for line in order.lines.select_related("resource_class__system"):
        try:
            unit_price = book.unit_price(category, line.resource_class, order.start)
        except rating.NoPrice as exc:
            lines.append(
                {
                    "resource_class": line.resource_class_id,
                    "amount": line.amount,
                    "unit_price_nok": None,
                    "value_nok": None,
                    "problem": str(exc),
                }
            )
            continue
        value = rating.to_ore(line.amount * unit_price)
        total += value
        lines.append(
            {
                "resource_class": line.resource_class_id,
                "amount": line.amount,
                "unit_price_nok": unit_price,
                "value_nok": value,
                "problem": "",
            }
        )
    return {
        "category": category,
        "total_nok": total,
        "committed_nok": rating.to_ore(total * order.commitment_share),
        "complete": all(line["value_nok"] is not None for line in lines),
        "lines": lines,
    }


class SectorOrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)
    year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)
    price_estimate = serializers.SerializerMethodField()

    @extend_schema_field(PriceEstimateSerializer)
    def get_price_estimate(self, order: SectorOrder) -> dict:
        if "price_book" not in self.context:
            self.context["price_book"] = rating.PriceBook()
        return PriceEstimateSerializer(price_estimate(order, self.context["price_book"])).data

    class Meta:
        model = SectorOrder
        fields = [
            "id",
            "organisation",
            "sector",
            "year",
            "commitment_share",
            "status",
            "ordered_by",
            "created",
            "lines",
            "price_estimate",
        ]
        read_only_fields = ["sector", "status", "ordered_by", "created"]

    def validate_lines(self, value):
        if not value:
            raise serializers.ValidationError("order at least one resource class")
        _unique_classes(value, "lines")
        return value

    def validate_organisation(self, value):
        if not value.sector:
            raise serializers.ValidationError(
                f"{value} has no sector; only a sector's organisations order capacity"
            )
        return value

    def create(self, validated_data):
        lines = validated_data.pop("lines")
        order = SectorOrder.objects.create(
            sector=validated_data["organisation"].sector, **validated_data
        )
        for line in lines:
            SectorOrderLine.objects.create(order=order, **line)
        return order

    def update(self, instance, validated_data):
        lines = validated_data.pop("lines", None)
        if "organisation" in validated_data:
            validated_data["sector"] = validated_data["organisation"].sector
        instance = super().update(instance, validated_data)
        if lines is not None:
            instance.lines.all().delete()
            for line in lines:
                SectorOrderLine.objects.create(order=instance, **line)
        return instance


class SubAllocationSerializer(serializers.Serializer):
    order_line = serializers.PrimaryKeyRelatedField(
        queryset=SectorOrderLine.objects.select_related("order")
    )
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, **POSITIVE)
    start = serializers.DateField(
        required=False, help_text="default: 1 January of the order's year"
    )
    end = serializers.DateField(required=False, help_text="default: 1 January of the next year")

    def validate(self, attrs):
        for name in ("start", "end"):
            day = attrs.get(name)
            if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
                raise serializers.ValidationError({name: f"must lie within {MIN_YEAR}..{MAX_YEAR}"})
        return attrs


class PurchaseSerializer(DateRangeSerializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    resource_class = serializers.PrimaryKeyRelatedField(
        queryset=ResourceClass.objects.select_related("system")
    )
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, **POSITIVE)


class ColocatedEquipmentSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        source="system.owner", read_only=True, help_text="the system's owner"
    )

    class Meta:
        model = ColocatedEquipment
        fields = [
            "id",
            "system",
            "owner",
            "rack_units",
            "hosting_fee_nok_per_month",
            "contract_start",
            "contract_end",
        ]

    def validate(self, attrs):
        run_model_clean(ColocatedEquipment, attrs, self.instance)
        start = attrs.get("contract_start", getattr(self.instance, "contract_start", None))
        end = attrs.get("contract_end", getattr(self.instance, "contract_end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"contract_end": "must be after contract_start"})
        return attrs


class ChangeRequestSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        required=False,
        allow_null=True,
        **POSITIVE,
        help_text="increase: extra units; renew: units for the new period",
    )

    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "allocation",
            "kind",
            "amount",
            "new_end",
            "reason",
            "status",
            "requested_by",
            "decision_note",
            "created",
        ]
        read_only_fields = ["status", "requested_by", "decision_note", "created"]

    def validate(self, attrs):
        kind, allocation = attrs.get("kind"), attrs.get("allocation")
        if kind in (ChangeKind.INCREASE, ChangeKind.RENEW) and not attrs.get("amount"):
            raise serializers.ValidationError(
                {"amount": f"a change of kind '{kind}' needs an amount"}
            )
        if kind in (ChangeKind.EXTEND, ChangeKind.RENEW):
            new_end = attrs.get("new_end")
            if new_end is None:
                raise serializers.ValidationError(
                    {"new_end": f"a change of kind '{kind}' needs a new end"}
                )
            if allocation is not None and new_end <= allocation.end:
                raise serializers.ValidationError(
                    {"new_end": f"must be after the allocation's end {allocation.end}"}
                )
            if new_end.year > MAX_YEAR:
                raise serializers.ValidationError({"new_end": f"must lie before {MAX_YEAR}"})
        return attrs


class ChangeDecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ExternalCapacitySerializer(serializers.ModelSerializer):
    country = country_field()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, **POSITIVE)

    class Meta:
        model = ExternalCapacity
        fields = [
            "id",
            "organisation",
            "provider",
            "country",
            "kind",
            "amount",
            "cost_nok",
            "start",
            "end",
            "reference",
        ]

    def validate(self, attrs):
        start = attrs.get("start", getattr(self.instance, "start", None))
        end = attrs.get("end", getattr(self.instance, "end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class PolicySettingsSerializer(serializers.ModelSerializer):
    economic_cap_share = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=Decimal(0),
        max_value=LEGAL_ECONOMIC_CAP,
        required=False,
        help_text="share of yearly capacity economic activity may use (board: 0.05; law: at most 0.20)",
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

    def validate_warning_thresholds(self, value):
        return sorted({float(v) for v in value})

    def validate_security_partner_countries(self, value):
        return sorted(set(value))


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
