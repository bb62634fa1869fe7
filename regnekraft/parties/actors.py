"""Who is acting, and may they? The one place for role checks on writes.

Every domain service takes the acting user as its first argument: a Django user (from the web,
the API or the admin) or :data:`SYSTEM` (the command line and scheduled jobs, which act as the
platform operator). A refusal is a :class:`~django.core.exceptions.PermissionDenied` whose text
names who may do what; the API turns it into 403 and the portal into an error message.
Role codes, not their translated labels, keep the texts stable for API clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied

from .models import Person, RoleKind


@dataclass(frozen=True)
class SystemActor:
    """The platform itself (CLI, worker): an operator without a person; audited under ``label``."""

    label: str = "cli"
    is_authenticated: bool = True
    is_superuser: bool = True

    def get_username(self) -> str:
        return self.label


SYSTEM = SystemActor()

SEE_ALL = {RoleKind.OPERATOR, RoleKind.FINANCE, RoleKind.DECISION_MAKER}


_CACHE = "_regnekraft_access"


def _cached(user, key: str, compute):
    """Remember per user object (so per request) what one page asks about the same person
    many times; a new request has a new user object and sees fresh data."""
    cache = user.__dict__.setdefault(_CACHE, {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def forget(user) -> None:
    """Drop what was remembered about ``user`` (after changing their roles in the same request)."""
    user.__dict__.pop(_CACHE, None)


def person_of(user: Any) -> Person | None:
    if user is None or is_system(user) or not getattr(user, "is_authenticated", False):
        return None
    return _cached(user, "person", lambda: Person.objects.filter(user=user).first())


def roles(user: Any) -> set[str]:
    if is_system(user):
        return {RoleKind.OPERATOR}
    if user is None or not getattr(user, "is_authenticated", False):
        return set()

    def compute() -> set[str]:
        found = set(Person.objects.filter(user=user).values_list("roles__kind", flat=True)) - {None}
        if user.is_superuser:
            found.add(RoleKind.OPERATOR)
        return found

    return set(_cached(user, "roles", compute))


def has_role(user, *kinds: str) -> bool:
    return bool(roles(user) & set(kinds))


def sees_all(user) -> bool:
    return bool(roles(user) & SEE_ALL)


def coordinated_sectors(user) -> list[str]:
    person = person_of(user)
    if person is None:
        return []
    # A coordinator without a sector coordinates nothing (a blank would match every sector-less
    # organisation).
    return list(
        _cached(
            user,
            "sectors",
            lambda: list(
                person.roles.filter(kind=RoleKind.COORDINATOR)
                .exclude(sector="")
                .values_list("sector", flat=True)
            ),
        )
    )


def is_system(user: Any) -> bool:
    return isinstance(user, SystemActor)


def is_operator(user: Any) -> bool:
    return is_system(user) or has_role(user, RoleKind.OPERATOR)


def require_role(user: Any, *kinds: str, action: str) -> None:
    """Refuse ``action`` unless ``user`` holds one of ``kinds`` (the platform itself always may)."""
    if is_system(user) or has_role(user, *kinds):
        return
    noun = "role" if len(kinds) == 1 else "roles"
    raise PermissionDenied(
        f"only the {noun} {', '.join(RoleKind(k).value for k in kinds)} may {action}"
    )


def require_person(user: Any, *, action: str) -> Person:
    person = person_of(user)
    if person is None:
        raise PermissionDenied(f"your account is not linked to a person, so you may not {action}")
    return person


def require_sector(user: Any, sector: str, *, action: str) -> None:
    """Operators act for every sector; a coordinator only for the sectors they coordinate."""
    if is_operator(user):
        return
    require_role(user, RoleKind.COORDINATOR, action=action)
    if sector not in coordinated_sectors(user):
        raise PermissionDenied(
            f"you coordinate {', '.join(coordinated_sectors(user)) or 'no sector'}, not '{sector}'"
        )


def require_pi(user: Any, project: Any, *, action: str) -> None:
    """The project's PI (or an operator) may ``action``."""
    if is_operator(user):
        return
    person = person_of(user)
    if person is None or project.pi_id != person.pk:
        raise PermissionDenied(f"only the PI of {project.code} may {action}")


def user_of(actor: Any) -> Any:
    """The user to record as ``decided_by``: none for the platform itself."""
    return None if is_system(actor) or not getattr(actor, "is_authenticated", False) else actor
