"""Role checks for writes. Who sees what is decided in regnekraft.access; this module only
turns "may this user make this change?" into a clear 403."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.relations import PrimaryKeyRelatedField

from regnekraft.parties.actors import is_operator


def require_visible(visible, obj, field: str, given=None) -> None:
    """Refuse a reference to ``obj`` the user may not see exactly as DRF refuses an id that
    does not exist (``given``: the object the request named, when ``obj`` is its parent), so
    the answer tells nothing about what exists."""
    if not among(visible, obj):
        message = PrimaryKeyRelatedField.default_error_messages["does_not_exist"]
        raise ValidationError({field: [message.format(pk_value=(given or obj).pk)]})


def among(visible, obj) -> bool:
    """Is ``obj`` in the ``visible`` queryset (from access.py)? Asked of the database, not by
    loading it."""
    return visible.filter(pk=obj.pk).exists()


class ServicesDecideWrites(BasePermission):
    """Any signed-in user reads what access.py lets them see; whether they may write is the
    domain service's to say, which refuses naming who may (the same text in every interface)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


class OperatorOnly(BasePermission):
    message = "only a platform operator may use this endpoint"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_operator(request.user))
