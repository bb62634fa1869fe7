"""Request ids and the access log (docs/operations.md).

Each request gets an id: the ``X-Request-ID`` the proxy (or the client) sent, if it is a
sensible token, else a new one. The id goes back on the response's ``X-Request-ID`` header and
onto every log line written while the request is answered (``regnekraft.ops.logs``); when the
answer is ready, one line on the ``regnekraft.access`` logger says method, path, status,
duration and user. Health checks that pass are logged at DEBUG only, so a load balancer asking
every few seconds does not fill the log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from .logs import request_id

log = logging.getLogger("regnekraft.access")

HEADER = "X-Request-ID"
MAX_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@+=/-]")
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


def clean_request_id(given: str | None) -> str:
    """``given`` without characters outside a plain token set and cut to 64 characters, or a
    new random id (32 hex digits) when nothing usable is left."""
    token = _UNSAFE.sub("", given or "")[:MAX_LENGTH]
    return token or uuid.uuid4().hex


def _user_name(request: HttpRequest) -> str:
    """Who made the request, if something already looked (never a query of its own)."""
    user = request.__dict__.get("user")
    if user is None:
        return ""
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return ""
    try:
        return user.get_username() if user.is_authenticated else ""
    except Exception:  # a broken session must not break the access line
        return ""


class RequestIdMiddleware:
    """First in MIDDLEWARE, so that a redirect or a refusal by a later middleware is logged
    with its id too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = clean_request_id(request.headers.get(HEADER))
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response[HEADER] = rid
            return response
        finally:
            self._log(request, status, (time.perf_counter() - started) * 1000)
            request_id.reset(token)

    def _log(self, request: HttpRequest, status: int, ms: float) -> None:
        if status >= 500:
            level = logging.WARNING
        elif request.path in HEALTH_PATHS and status < 400:
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not log.isEnabledFor(level):
            return
        user = _user_name(request)
        log.log(
            level,
            "%s %s %s %.0f ms%s",
            request.method,
            request.get_full_path(),
            status,
            ms,
            f" user={user}" if user else "",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(ms, 1),
                "user": user or None,
            },
        )
