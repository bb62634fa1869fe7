"""Brute-force protection on every password sign-in (django-axes, configured in settings):
the portal's ``/accounts/login/``, the admin's ``/admin/login/`` and the API's ``/api/token/``.

After ``AXES_FAILURE_LIMIT`` failed sign-ins for one user name from one address, that pair is
locked for ``AXES_COOLOFF_TIME``: even the right password is refused, with HTTP 429 and a text
that says how long to wait (JSON for the API, a portal page elsewhere). A successful sign-in
resets the count. Operators unlock early with ``regnekraft manage axes_reset_username NAME``
or in the admin (Axes → access attempts).
"""

from __future__ import annotations

import logging
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

log = logging.getLogger(__name__)


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check before the password is compared. A sign-in without a request (the test
    client's ``login``, a script calling ``authenticate``) is not a web sign-in and is not
    counted; every web sign-in (login form, admin, token endpoint) passes its request."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any):
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def lockout_message() -> str:
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return ngettext(
        "Too many failed sign-ins for this user name from your address. Sign-in is locked "
        "for %(minutes)d minute; try again later or reset your password.",
        "Too many failed sign-ins for this user name from your address. Sign-in is locked "
        "for %(minutes)d minutes; try again later or reset your password.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: dict | None = None
) -> HttpResponse:
    """Axes' answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``)."""
    username = get_client_username(request, credentials) or ""
    log.warning("sign-in locked out: user name %r from %s", username, _address(request))
    status = settings.AXES_HTTP_RESPONSE_CODE
    retry = str(int(get_cool_off(request).total_seconds())) if get_cool_off(request) else None
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": lockout_message()}, status=status)
    else:
        from .views.base import page

        response = page(
            request,
            "portal/locked_out.html",
            {"title": _("Sign-in locked"), "message": lockout_message()},
            status=status,
        )
    if retry:
        response["Retry-After"] = retry
    return response


def client_ip(request: HttpRequest) -> str | None:
    """The client's address from the header the reverse proxy sets (``AXES_CLIENT_IP_CALLABLE``
    when ``REGNEKRAFT_CLIENT_IP_HEADER`` is set): the last address in it, the one our proxy
    added, so a client cannot choose its own."""
    value = request.META.get(settings.REGNEKRAFT_CLIENT_IP_HEADER, "")
    found = [part.strip() for part in value.split(",") if part.strip()]
    return found[-1] if found else request.META.get("REMOTE_ADDR")


def _address(request: HttpRequest) -> str:
    return str(getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR"))
