"""API tokens: issued by ``POST /api/token/``, valid ``REGNEKRAFT_TOKEN_DAYS`` days from issue,
revoked by ``DELETE /api/token/`` (or a password change).

One token per user (Django REST framework's ``authtoken`` model; ``created`` is the issue
time). Asking again returns the same token while it is valid and a new one once it has
expired, so a client can always get a working token with its password.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .actors import is_operator

log = logging.getLogger(__name__)


def lifetime() -> dt.timedelta:
    return dt.timedelta(days=settings.REGNEKRAFT_TOKEN_DAYS)


def expires(token: Token) -> dt.datetime:
    return token.created + lifetime()


def is_expired(token: Token, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) >= expires(token)


def _require_self_or_operator(actor: Any, user: Any, action: str) -> None:
    if getattr(actor, "pk", None) != user.pk and not is_operator(actor):
        raise PermissionDenied(f"only the account's owner or an operator may {action}")


@transaction.atomic
def issue(actor: Any, user: Any) -> Token:
    """The user's valid token; a new one if they have none or theirs has expired."""
    _require_self_or_operator(actor, user, "get its API token")
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and not is_expired(token):
        return token
    if token is not None:
        token.delete()
    token = Token.objects.create(user=user)
    log.info("API token issued to %s, valid until %s", user.get_username(), expires(token))
    return token


@transaction.atomic
def revoke(actor: Any, user: Any) -> bool:
    """End the user's token (idempotent); whether there was one."""
    _require_self_or_operator(actor, user, "revoke its API token")
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        log.info("API token of %s revoked", user.get_username())
    return bool(deleted)
