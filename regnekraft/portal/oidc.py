"""Sign-in through OpenID Connect (Feide, ID-porten or any OIDC provider) with
mozilla-django-oidc.

Configuration comes from Django settings when they define it, otherwise from environment
variables with the prefix ``REGNEKRAFT_`` (e.g. ``REGNEKRAFT_OIDC_RP_CLIENT_ID``), so the
portal needs no settings edit to enable it. A person signs in through OIDC only if a
Regnekraft person with the same e-mail address exists: the platform never creates people
without an organisation and roles.

The session is recorded against Django's ``ModelBackend`` (which only loads the user by
id), so ``AUTHENTICATION_BACKENDS`` does not have to list the OIDC backend.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from regnekraft.parties.models import Person

log = logging.getLogger(__name__)
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"

DEFAULTS: dict[str, Any] = {
    "OIDC_RP_SIGN_ALGO": "RS256",
    "OIDC_RP_SCOPES": "openid email profile",
    "OIDC_CREATE_USER": False,
    "OIDC_USE_PKCE": True,
    "OIDC_TIMEOUT": 10,
    "OIDC_PROVIDER_LABEL": "Feide / ID-porten",
    "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc_authentication_callback",
}


#: Settings that the provider's discovery document can give (OpenID Connect Discovery 1.0).
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_ISSUER": "issuer",
}
DISCOVERY_SECONDS = 3600  # how long a fetched discovery document is used
DISCOVERY_RETRY_SECONDS = 60  # how long a failure is remembered, so an outage costs one timeout
_discovered: dict[str, tuple[float, dict]] = {}
_failed: dict[str, tuple[float, str]] = {}
_MISSING = object()


def _given(name: str) -> Any:
    """A setting from Django settings or the environment, or ``_MISSING``."""
    if hasattr(settings, name):
        return getattr(settings, name)
    env = os.environ.get(f"REGNEKRAFT_{name}")
    if env is not None:
        return {"true": True, "false": False}.get(env.lower(), env)
    return _MISSING


def setting(name: str, *default: Any) -> Any:
    value = _given(name)
    if value is not _MISSING:
        return value
    if name in DISCOVERED and (url := _given("OIDC_OP_DISCOVERY_URL")) not in (_MISSING, ""):
        found = discovery(str(url)).get(DISCOVERED[name])
        if found:
            return found
    if name in DEFAULTS:  # ours win over the library's fallbacks (e.g. PKCE on, RS256)
        return DEFAULTS[name]
    if default:
        return default[0]
    raise ImproperlyConfigured(
        f"OIDC setting {name} is missing (set it in settings or REGNEKRAFT_{name})"
    )


def discovery(url: str) -> dict:
    """The provider's discovery document (``url`` is the issuer or the document itself),
    fetched once an hour. Settings given explicitly win over it."""
    if not url.rstrip("/").endswith("/.well-known/openid-configuration"):
        url = url.rstrip("/") + "/.well-known/openid-configuration"
    now = time.monotonic()
    hit = _discovered.get(url)
    if hit is not None and now - hit[0] < DISCOVERY_SECONDS:
        return hit[1]
    failed = _failed.get(url)
    if failed is not None and now - failed[0] < DISCOVERY_RETRY_SECONDS:
        raise ImproperlyConfigured(failed[1])
    try:
        response = requests.get(url, timeout=float(setting("OIDC_TIMEOUT")))
        response.raise_for_status()
        doc = response.json()
    except (requests.RequestException, ValueError) as exc:
        message = f"the OIDC discovery document {url} could not be read: {exc}"
        _failed[url] = (now, message)
        raise ImproperlyConfigured(message) from None
    missing = [
        f
        for f in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(doc, dict) or not doc.get(f)
    ]
    if missing:
        raise ImproperlyConfigured(f"the OIDC discovery document {url} lacks {', '.join(missing)}")
    _discovered[url] = (now, doc)
    _failed.pop(url, None)
    return doc


def configured() -> bool:
    """Whether to offer OIDC sign-in (without fetching anything from the provider)."""

    def given(name: str) -> bool:
        return _given(name) not in (_MISSING, "")

    return given("OIDC_RP_CLIENT_ID") and (
        given("OIDC_OP_AUTHORIZATION_ENDPOINT") or given("OIDC_OP_DISCOVERY_URL")
    )


def provider_label() -> str:
    return str(setting("OIDC_PROVIDER_LABEL"))


class Backend(OIDCAuthenticationBackend):
    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return setting(attr, *args)

    def filter_users_by_claims(self, claims: dict):
        email = (claims.get("email") or "").strip()
        if not email:
            return get_user_model().objects.none()
        people = Person.objects.filter(email__iexact=email).values("user")
        return get_user_model().objects.filter(pk__in=people)

    def verify_token(self, token: str, **kwargs: Any) -> dict:
        """The library checks signature and nonce; also insist the token was issued to us (and by
        the configured issuer, when one is set), so a token meant for another service is refused."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("id_token was issued to another client")
        issuer = setting("OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("id_token comes from another issuer")
        return payload


class InitView(OIDCAuthenticationRequestView):
    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return setting(attr, *args)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.unavailable: ImproperlyConfigured | None = None
        try:
            super().__init__(*args, **kwargs)  # reads the endpoints (perhaps by discovery)
        except ImproperlyConfigured as exc:
            View.__init__(self, *args, **kwargs)
            self.unavailable = exc

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.unavailable is None:
            try:
                return super().dispatch(request, *args, **kwargs)
            except ImproperlyConfigured as exc:
                self.unavailable = exc
        # e.g. the provider's discovery document cannot be read: say so, not a server error
        log.warning("OIDC sign-in cannot start: %s", self.unavailable)
        messages.error(
            request,
            _("Sign-in with %(provider)s is not available right now.")
            % {"provider": provider_label()},
        )
        return HttpResponseRedirect(reverse("portal:login"))


class CallbackView(View):
    """The provider sends the browser back here with a code; trade it for a verified identity."""

    http_method_names = ["get"]

    def failure(self, request: HttpRequest, text: str) -> HttpResponse:
        messages.error(request, text)
        return HttpResponseRedirect(reverse("portal:login"))

    def get(self, request: HttpRequest) -> HttpResponse:
        states = request.session.get("oidc_states") or {}
        state = request.GET.get("state", "")
        if request.GET.get("error") or "code" not in request.GET or state not in states:
            states.pop(state, None)
            request.session["oidc_states"] = states
            return self.failure(
                request,
                _("Sign-in with %(provider)s was cancelled or failed.")
                % {"provider": provider_label()},
            )
        entry = states.pop(state)
        request.session["oidc_states"] = states
        request.session.save()
        try:
            user = Backend().authenticate(
                request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier")
            )
        except (SuspiciousOperation, ValueError, OSError) as exc:
            log.warning("OIDC sign-in failed: %s", exc)
            user = None
        except Exception as exc:  # noqa: BLE001 - a provider error must not become a 500 page
            log.warning("OIDC sign-in failed: %s", exc)
            user = None
        if user is None or not user.is_active:
            return self.failure(
                request,
                _(
                    "Your identity was confirmed, but no Regnekraft account has that "
                    "e-mail address. Ask your organisation's coordinator for access."
                )
                if user is None
                else _("This account is not active."),
            )
        user.backend = SESSION_BACKEND
        auth.login(request, user)
        next_url = request.session.pop("oidc_login_next", None)
        return HttpResponseRedirect(next_url or reverse("portal:home"))
