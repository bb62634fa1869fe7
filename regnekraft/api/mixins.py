"""Behaviour every API view shares: writes are one transaction, and the audit log names the API
user."""

from __future__ import annotations

from django.db import transaction
from django.utils import translation
from rest_framework.permissions import SAFE_METHODS

from regnekraft.audit.context import acting_as

API_DEFAULT_LANGUAGE = "en"


def api_language(request) -> str:
    """The API answers in the language its client asks for (``Accept-Language``: bokmål or
    English), and in English when it asks for none: its clients are programs and scripts,
    whereas the portal's default is bokmål."""
    if request.META.get("HTTP_ACCEPT_LANGUAGE"):
        return translation.get_language_from_request(request)
    return API_DEFAULT_LANGUAGE


class AtomicWrites:
    """Run each unsafe request in one transaction, rolled back when the answer is an error.

    DRF turns exceptions into responses inside ``dispatch``, so an ``atomic`` block would not see
    them; the status code decides instead. Token-authenticated users are only known after DRF's
    authentication, so the audit actor is set here rather than by the Django middleware.
    """

    def dispatch(self, request, *args, **kwargs):
        language = api_language(request)
        with translation.override(language):
            response = self._dispatch_atomic(request, *args, **kwargs)
        response.headers["Content-Language"] = language
        return response

    def _dispatch_atomic(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.user is not None and request.user.is_authenticated:
            self._acting = acting_as(request.user)
            self._acting.__enter__()

    def finalize_response(self, request, response, *args, **kwargs):
        acting = getattr(self, "_acting", None)
        if acting is not None:
            acting.__exit__(None, None, None)
            self._acting = None
        return super().finalize_response(request, response, *args, **kwargs)
