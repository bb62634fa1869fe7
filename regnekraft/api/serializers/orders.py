"""Serializers for sector orders and sub-allocations, purchases, co-location, change requests and
external capacity. They check shape only and write nothing: the views hand the data to the
services in regnekraft.allocation (orders, purchases, colocation, changes, external)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from regnekraft.allocation import orders
from regnekraft.allocation.external import EXTERNAL_FIELDS
from regnekraft.allocation.models import (
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.catalog.models import ResourceClass
from regnekraft.catalog.prices import PriceBook
from regnekraft.parties.models import Project

from .allocation import POSITIVE, _unique_classes
from .common import MAX_YEAR, MIN_YEAR, DateRangeSerializer, country_field


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


def price_estimate(order: SectorOrder, book: PriceBook | None = None) -> dict:
    """The order's estimate (``allocation.orders.estimate``, the one the portal shows too)."""
    found = orders.estimate(order, book)
    return {
        "category": found.category,
        "total_nok": found.total,
        "committed_nok": found.committed,
        "complete": found.complete,
        "lines": [
            {
                "resource_class": line.resource_class.pk,
                "amount": line.amount,
                "unit_price_nok": line.unit_price,
                "value_nok": line.value,
                "problem": line.problem,
            }
            for line in found.lines
        ],
    }


class SectorOrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)
    year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)
    price_estimate = serializers.SerializerMethodField()

    @extend_schema_field(PriceEstimateSerializer)
    def get_price_estimate(self, order: SectorOrder) -> dict:
        if "price_book" not in self.context:
            self.context["price_book"] = PriceBook()
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
        # One order per organisation and year is orders.save_order's rule (it replaces a draft).
        validators: list = []

    def validate_lines(self, value):
        _unique_classes(value, "lines")
        return value


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


class ChangeDecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ExternalCapacitySerializer(serializers.ModelSerializer):
    country = country_field()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, **POSITIVE)

    class Meta:
        model = ExternalCapacity
        fields = ["id", *EXTERNAL_FIELDS]
