"""Shapes of the error answers, so the OpenAPI schema documents them next to each operation."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorDetail = inline_serializer("ErrorDetail", fields={"detail": serializers.CharField()})

ViolationSchema = inline_serializer(
    "PolicyViolationItem",
    fields={
        "rule": serializers.CharField(
            help_text="the rule broken: capacity, economic_cap, research_share, "
            "placement, availability_tier, ownership, order_bounds, amount, period"
        ),
        "message": serializers.CharField(help_text="what is wrong, with the numbers"),
        "numbers": serializers.DictField(help_text="the figures the rule compared"),
    },
)

PolicyConflict = inline_serializer(
    "PolicyConflict",
    fields={
        "detail": serializers.CharField(),
        "violations": ViolationSchema.__class__(many=True),
    },
)

VALIDATION = OpenApiResponse(
    description="invalid input: the body names each field and what is wrong with it"
)
UNAUTHENTICATED = OpenApiResponse(ErrorDetail, description="no valid token or session")
FORBIDDEN = OpenApiResponse(ErrorDetail, description="your role may not do this")
NOT_FOUND = OpenApiResponse(ErrorDetail, description="no such object among those you may see")
CONFLICT = OpenApiResponse(
    PolicyConflict, description="a policy rule is broken; nothing was written"
)

WRITE_ERRORS = {400: VALIDATION, 403: FORBIDDEN}
OBJECT_WRITE_ERRORS = {400: VALIDATION, 403: FORBIDDEN, 404: NOT_FOUND}
DECISION_ERRORS = {400: VALIDATION, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT}


class RegnekraftAutoSchema(AutoSchema):
    """Adds the error answers every operation can give (401/403, 404 on objects, 400 on writes)
    to what drf-spectacular discovers, unless an ``extend_schema`` already documents them."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        extra = {"401": UNAUTHENTICATED, "403": FORBIDDEN}
        if "{" in self.path:
            extra["404"] = NOT_FOUND
        if self.method in ("POST", "PUT", "PATCH"):
            extra["400"] = VALIDATION
        for code, response in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
