"""Role checks for writes. Who sees what is decided in regnekraft.access; this module only
turns "may this user make this change?" into a clear 403."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from regnekraft import access
from regnekraft.parties.actors import (  # noqa: F401  (the API's role checks are the services')
    is_operator,
    require_person,
    require_role,
    require_sector,
)
from regnekraft.parties.models import RoleKind


def among(visible, obj) -> bool:
    """Is ``obj`` in the ``visible`` queryset (from access.py)? Asked of the database, not by
    loading it."""
    return visible.filter(pk=obj.pk).exists()


class OperatorWritesOnly(BasePermission):
    """Any signed-in user reads (what access.py lets them see); only operators write."""

    message = "only a platform operator may change this"

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_operator(request.user)


class PricingWrites(BasePermission):
    """Any signed-in user reads; operators and finance (who set cost-plus and market prices)
    write."""

    message = "only a platform operator or finance may change prices"

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or access.has_role(
            request.user, RoleKind.OPERATOR, RoleKind.FINANCE
        )


class OperatorOnly(BasePermission):
    message = "only a platform operator may use this endpoint"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_operator(request.user))
