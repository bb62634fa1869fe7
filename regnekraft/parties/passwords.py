"""Passwords: a person changes their own (knowing the old one, or through a reset link sent to
their e-mail address); operators set them through ``people.update_person``.

A new password also ends the person's API token (``tokens.revoke``), so a token copied
before the change stops working with it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q

from . import tokens
from .actors import is_operator
from .models import Person

log = logging.getLogger(__name__)


@transaction.atomic
def set_password(actor: Any, user: Any, password: str) -> Any:
    """Give ``user`` the new ``password`` (checked by ``AUTH_PASSWORD_VALIDATORS``).

    ``actor`` is the user themselves (signed in, or holding a valid reset link, which the
    reset view checks) or an operator."""
    if not (getattr(actor, "pk", None) == user.pk or is_operator(actor)):
        raise PermissionDenied("only the account's owner or an operator may set its password")
    password_validation.validate_password(password, user)
    locked = get_user_model().objects.select_for_update().get(pk=user.pk)
    locked.set_password(password)
    locked.save(update_fields=["password"])
    user.password = locked.password  # the caller's object keeps the session hash in step
    tokens.revoke(actor, user)
    log.info("password of %s set by %s", user.get_username(), _name(actor))
    return user


def users_with_email(email: str) -> list[Any]:
    """Active accounts with a usable password whose e-mail address (the account's or its
    person's) is ``email``: the accounts a reset link may be sent for."""
    email = email.strip()
    if not email:
        return []
    people = Person.objects.filter(email__iexact=email).values("user")
    found = get_user_model().objects.filter(
        Q(email__iexact=email) | Q(pk__in=people), is_active=True
    )
    return [u for u in found.distinct() if u.has_usable_password()]


def _name(actor: Any) -> str:
    getter = getattr(actor, "get_username", None)
    return getter() if getter else str(actor)
