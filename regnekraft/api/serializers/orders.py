"""Serializers for sector orders and sub-allocations, purchases, co-location, change requests and
external capacity. They check shape only; the rules are the services' (regnekraft.allocation)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from regnekraft.accounting import rating
from regnekraft.allocation import policy
from regnekraft.allocation.models import (
    ChangeKind,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Project

from .allocation import POSITIVE, _unique_classes
from .common import MAX_YEAR, MIN_YEAR, DateRangeSerializer, country_field, run_model_clean


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
