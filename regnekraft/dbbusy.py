"""A database too busy to answer in time is a 503 with ``Retry-After``, never a 500.

SQLite lets one writer at a time: writers take the lock at BEGIN (``transaction_mode``
IMMEDIATE in settings) and queue for up to the busy timeout, so a request only fails when a
long write (an invoice run, a big import) holds the lock longer than that. PostgreSQL's
equivalents are a lock timeout, a deadlock or a serialisation failure. Any of them, raised by
a view or by a middleware after it (a session save), is answered here:

- under ``/api/``: ``{"detail": "..."}`` (the API's error shape) in the client's language;
- elsewhere: a short page in bokmål or English;

both with status 503 and ``Retry-After`` (``DB_BUSY_RETRY_AFTER`` seconds, default 5).
Nothing was written: the request's transaction was rolled back.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# PostgreSQL: lock_not_available (lock_timeout), deadlock_detected, serialization_failure
BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001"})
BUSY_TEXTS = ("database is locked", "database table is locked")
_MARK = "_regnekraft_db_busy"


def is_busy(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database is busy (locked), rather than broken."""
    if not isinstance(exc, OperationalError):
        return False
    if any(text in str(exc).lower() for text in BUSY_TEXTS):
        return True
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code in BUSY_SQLSTATES


def retry_after() -> int:
    return int(getattr(settings, "DB_BUSY_RETRY_AFTER", RETRY_AFTER_SECONDS))


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _language(request: HttpRequest) -> str:
    if _is_api(request):
        from regnekraft.api.mixins import api_language

        return api_language(request)
    return translation.get_language_from_request(request, check_path=True)


def busy_response(request: HttpRequest) -> HttpResponse:
    """The 503 answer for ``request``, in its language."""
    seconds = retry_after()
    language = _language(request)
    with translation.override(language):
        message = _(
            "The database is busy with another change and could not take yours in time. "
            "Nothing was saved. Please try again in %(seconds)s seconds."
        ) % {"seconds": seconds}
        if _is_api(request):
            response: HttpResponse = JsonResponse({"detail": message}, status=503)
        else:
            html = render_to_string(
                "portal/busy.html",
                {
                    "title": _("Busy, please try again"),
                    "message": message,
                    "LANG": language,
                    "home": "/" if language == settings.LANGUAGE_CODE else f"/{language}/",
                },
            )
            response = HttpResponse(html, status=503)
    response["Retry-After"] = str(seconds)
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    return response


def _mark_busy(sender, request=None, **kwargs) -> None:
    """An exception a middleware raised becomes a 500 before the outer middleware sees it; the
    signal Django sends with it (inside its ``except``) lets us remember that it was busy."""
    if request is not None and is_busy(sys.exc_info()[1]):
        setattr(request, _MARK, True)


got_request_exception.connect(_mark_busy, dispatch_uid="regnekraft.dbbusy")


class DatabaseBusyMiddleware:
    """Answer a busy database with 503 and Retry-After (see the module). Placed before the
    session middleware, so it also covers a session save that finds the database locked."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, _MARK, False) and response.status_code >= 500:
            log.warning("database busy: %s %s answered 503", request.method, request.path)
            return busy_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_busy(exception):
            return None
        log.warning(
            "database busy: %s %s answered 503 (%s)", request.method, request.path, exception
        )
        return busy_response(request)
