"""Helpers shared by the serializers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import serializers

COUNTRY_PATTERN = r"^[A-Z]{2}$"
country_code = RegexValidator(
    COUNTRY_PATTERN, "an ISO 3166-1 alpha-2 code in capitals, e.g. NO or FI"
)


def country_field(**kw) -> serializers.RegexField:
    """A country code field whose pattern also appears in the OpenAPI schema."""
    return serializers.RegexField(
        COUNTRY_PATTERN,
        max_length=2,
        help_text="ISO 3166-1 alpha-2, e.g. NO",
        error_messages={"invalid": country_code.message},
        **kw,
    )


MIN_YEAR, MAX_YEAR = 2000, 2100


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


def run_model_clean(model_cls, attrs: dict, instance=None) -> None:
    """Apply the model's own ``clean()`` (cross-field rules) to the data about to be saved."""
    data = (
        {}
        if instance is None
        else {f.attname: getattr(instance, f.attname) for f in model_cls._meta.concrete_fields}
    )
    candidate = model_cls(**data)
    for key, value in attrs.items():
        setattr(candidate, key, value)
    try:
        candidate.clean()
    except DjangoValidationError as exc:
        raise as_drf_error(exc) from exc


def decimal_string(
    value, *, field: str, minimum: Decimal = Decimal(0), maximum: Decimal = Decimal(1000)
) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise serializers.ValidationError({field: f"{value!r} is not a number"}) from exc
    if not number.is_finite() or not minimum <= number <= maximum:
        raise serializers.ValidationError(
            {field: f"{value!r} must be between {minimum} and {maximum}"}
        )
    return number


class DateRangeSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="first day")
    end = serializers.DateField(help_text="the day after the last day")

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        if attrs["start"].year < MIN_YEAR or attrs["end"].year > MAX_YEAR:
            raise serializers.ValidationError(
                {"start": f"the period must lie within {MIN_YEAR}..{MAX_YEAR}"}
            )
        return attrs


def reject_nul(value, *, field: str):
    """Refuse NUL characters anywhere in JSON input: PostgreSQL cannot store them in text or
    JSONB."""
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError({field: "NUL characters are not allowed"})
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, field=field)
            reject_nul(item, field=field)
    elif isinstance(value, list):
        for item in value:
            reject_nul(item, field=field)
    return value


def text_param(request, name: str) -> str:
    """A free-text query parameter, refused (400) if it holds a NUL character."""
    value = request.query_params.get(name, "")
    if "\x00" in value:
        raise serializers.ValidationError({name: "NUL characters are not allowed"})
    return value


MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"^[0-9]{1,30}$")


def id_param(request, name: str) -> int | None:
    """An id filter from the query string: None if absent or not a number. An id beyond the 64-bit
    range of the database stays a filter that matches nothing (0 is never a primary key)."""
    value = request.query_params.get(name, "")
    if not _DIGITS.match(value):
        return None
    number = int(value)
    return number if number <= MAX_ID else 0
