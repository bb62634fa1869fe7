"""Role checks for writes. Who sees what is decided in regnekraft.access; this module only
turns "may this user make this change?" into a clear 403."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from regnekraft import access
from regnekraft.parties.models import Person, RoleKind


def require_role(user, *kinds: str, action: str) -> None:
    """Raise 403 naming the roles that may do ``action`` unless ``user`` holds one of them."""
    if not access.has_role(user, *kinds):
        # Role codes, not their (translated) labels: stable for clients and readable in any language.
        noun = "role" if len(kinds) == 1 else "roles"
        raise PermissionDenied(
            f"only the {noun} {', '.join(RoleKind(k).value for k in kinds)} may {action}"
        )


def require_person(user, *, action: str) -> Person:
    person = access.person_of(user)
    if person is None:
        raise PermissionDenied(f"your account is not linked to a person, so you may not {action}")
    return person


def among(visible, obj) -> bool:
    """Is ``obj`` in the ``visible`` queryset (from access.py)? Asked of the database, not by loading it."""
    return visible.filter(pk=obj.pk).exists()


def is_operator(user) -> bool:
    return access.has_role(user, RoleKind.OPERATOR)


class OperatorWritesOnly(BasePermission):
    """Any signed-in user reads (what access.py lets them see); only operators write."""

    message = "only a platform operator may change this"

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_operator(request.user)


class PricingWrites(BasePermission):
    """Any signed-in user reads; operators and finance (who set cost-plus and market prices) write."""

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
