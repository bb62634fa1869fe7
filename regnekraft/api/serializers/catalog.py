"""Serializers for the service catalogue: systems, resource classes, price lists."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from regnekraft.catalog.models import AvailabilityTier, Price, PriceList, ResourceClass, System

from .common import country_field, decimal_string


class SystemSerializer(serializers.ModelSerializer):
    country = country_field()

    class Meta:
        model = System
        fields = [
            "id",
            "name",
            "slug",
            "kind",
            "operator",
            "owner",
            "country",
            "security_zone",
            "availability_tier",
            "commissioned",
            "decommissioned",
            "power_kw",
            "pue",
            "description",
            "source",
        ]


class ResourceClassSerializer(serializers.ModelSerializer):
    unit = serializers.CharField(read_only=True)
    label = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = ResourceClass
        fields = [
            "id",
            "label",
            "system",
            "kind",
            "gpu_type",
            "unit",
            "installed_units",
            "expected_availability",
            "public_description",
            "orderable",
        ]
        extra_kwargs = {"expected_availability": {"max_value": Decimal("1")}}


class CapacitySerializer(serializers.Serializer):
    """What a class can deliver in a period and how much of it is already committed."""

    resource_class = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    unit = serializers.CharField()
    capacity = serializers.DecimalField(max_digits=None, decimal_places=2)
    committed = serializers.DecimalField(max_digits=None, decimal_places=2)
    free = serializers.DecimalField(
        max_digits=None, decimal_places=2, help_text="capacity x overbooking - committed"
    )
    economic_room = serializers.DecimalField(
        max_digits=None, decimal_places=2, help_text="what economic activity may still use"
    )
    non_research_room = serializers.DecimalField(
        max_digits=None, decimal_places=2, help_text="what non-research users may still use"
    )


class CatalogueEntrySerializer(serializers.ModelSerializer):
    """One orderable service as users see it."""

    system = serializers.CharField(source="system.name")
    system_kind = serializers.CharField(source="system.kind")
    country = serializers.CharField(source="system.country")
    security_zone = serializers.CharField(source="system.security_zone")
    availability_tier = serializers.IntegerField(source="system.availability_tier")
    operator = serializers.CharField(source="system.operator")
    unit = serializers.CharField()
    capacity_this_year = serializers.DecimalField(max_digits=None, decimal_places=2)
    prices_today = serializers.DictField(
        child=serializers.DecimalField(max_digits=None, decimal_places=4, allow_null=True),
        help_text=(
            "NOK per unit today in each price category (A, B, C, D, 0), tier multiplier included; "
            "null where no price list applies"
        ),
    )

    class Meta:
        model = ResourceClass
        fields = [
            "id",
            "system",
            "system_kind",
            "operator",
            "country",
            "security_zone",
            "availability_tier",
            "kind",
            "gpu_type",
            "unit",
            "public_description",
            "capacity_this_year",
            "prices_today",
        ]


class PriceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Price
        fields = ["id", "kind", "gpu_type", "unit_price"]


class PriceListSerializer(serializers.ModelSerializer):
    prices = PriceSerializer(
        many=True, required=False, help_text="when given on update, replaces all prices of the list"
    )
    tier_multipliers = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text='price factor per availability tier, e.g. {"1": "1.0", "2": "1.25", "3": "1.6"}',
    )

    class Meta:
        model = PriceList
        fields = [
            "id",
            "category",
            "name",
            "valid_from",
            "tier_multipliers",
            "free_allowance_nok",
            "source",
            "prices",
        ]
        validators: list = []  # one list per category and day: the service's refusal

    def validate_tier_multipliers(self, value: dict) -> dict:
        tiers = {str(t.value) for t in AvailabilityTier}
        out = {}
        for tier, factor in value.items():
            if tier not in tiers:
                raise serializers.ValidationError(
                    f"unknown tier {tier!r}; tiers are {sorted(tiers)}"
                )
            out[tier] = str(decimal_string(factor, field="tier_multipliers", maximum=Decimal(100)))
        return out

    def validate_prices(self, value: list[dict]) -> list[dict]:
        seen = set()
        for price in value:
            key = (price["kind"], price.get("gpu_type", ""))
            if key in seen:
                raise serializers.ValidationError(f"two prices for {key[0]} {key[1]}".strip())
            seen.add(key)
        return value
