"""Organisations, people and their roles: operators keep them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.rows import write_row

from .actors import forget, require_role
from .models import Organisation, Person, Role, RoleKind
from .passwords import set_password


def require_operator(actor: Any) -> None:
    require_role(actor, RoleKind.OPERATOR, action="change organisations, people and roles")


@transaction.atomic
def save_organisation(actor: Any, organisation: Organisation | None = None, **fields: Any):
    require_operator(actor)
    return write_row(Organisation, organisation, fields)


@transaction.atomic
def delete_organisation(actor: Any, organisation: Organisation) -> None:
    require_operator(actor)
    organisation.delete()


def username_taken() -> ValidationError:
    return ValidationError({"username": _("this user name is taken")})


def _require_free_username(username: str, person: Person | None) -> None:
    users = get_user_model().objects.filter(username=username)
    if person is not None:
        users = users.exclude(pk=person.user_id)
    if users.exists():
        raise username_taken()


@transaction.atomic
def create_person(
    actor: Any, *, username: str, password: str | None = None, **fields: Any
) -> Person:
    """A person with a sign-in; without ``password`` they sign in through SSO only."""
    require_operator(actor)
    _require_free_username(username, None)
    user = get_user_model().objects.create_user(username=username, email=fields.get("email", ""))
    if password:
        set_password(actor, user, password)  # the password rules, as for the owner's own change
    return write_row(Person, None, {"user": user, **fields})


@transaction.atomic
def save_person(actor: Any, person: Person | None = None, **fields: Any) -> Person:
    """Create (for an existing ``user``) or change a person's own fields."""
    require_operator(actor)
    return write_row(Person, person, fields)


@transaction.atomic
def update_person(
    actor: Any,
    person: Person,
    *,
    username: str | None = None,
    password: str | None = None,
    **fields: Any,
) -> Person:
    require_operator(actor)
    if username or password:
        user = person.user
        if username:
            _require_free_username(username, person)
            user.username = username
        user.save()
        if password:
            set_password(actor, user, password)  # checked, and the old API token revoked
    return write_row(Person, person, fields)


@transaction.atomic
def delete_person(actor: Any, person: Person) -> None:
    require_operator(actor)
    person.delete()


@transaction.atomic
def grant_role(actor: Any, person: Person, kind: str, sector: str = "") -> Role:
    """Give ``person`` a role (idempotent); a coordinator's role names its sector."""
    require_operator(actor)
    existing = Role.objects.filter(person=person, kind=kind, sector=sector).first()
    role = existing or write_row(Role, None, {"person": person, "kind": kind, "sector": sector})
    forget(actor)
    return role


@transaction.atomic
def revoke_role(actor: Any, role: Role) -> None:
    require_operator(actor)
    role.delete()
    forget(actor)
