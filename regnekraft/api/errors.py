"""Turn domain errors into clear API answers that name what is wrong."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from regnekraft.allocation.policy import PolicyViolation


def exception_handler(exc, context):
    if isinstance(exc, PolicyViolation):
        return Response(
            {
                "detail": str(exc),
                "violations": [
                    {"rule": v.rule, "message": v.message, "numbers": v.numbers}
                    for v in exc.violations
                ],
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        return Response(validation_body(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError | RestrictedError):
        used_by = (
            sorted(
                {
                    str(obj._meta.verbose_name)
                    for obj in exc.protected_objects
                    if hasattr(obj, "_meta")
                }
            )
            if hasattr(exc, "protected_objects")
            else []
        )
        return Response(
            {
                "detail": "still in use"
                + (f" by {', '.join(used_by)}" if used_by else "")
                + "; it cannot be deleted"
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": f"conflicts with existing data: {exc}"}, status=status.HTTP_409_CONFLICT
        )
    return drf_handler(exc, context)


def validation_body(exc: DjangoValidationError) -> dict:
    """A service's refusal as DRF shapes a serializer's: each field's messages under its name
    (``__all__`` under ``non_field_errors``), and all of them together in ``detail``."""
    if not hasattr(exc, "error_dict"):
        return {"detail": exc.messages}
    fields = {
        ("non_field_errors" if name == "__all__" else name): messages
        for name, messages in exc.message_dict.items()
    }
    return {**fields, "detail": exc.message_dict}
