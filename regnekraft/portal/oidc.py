"""Sign-in through OpenID Connect (Feide, ID-porten or any OIDC provider) with
mozilla-django-oidc.

Configuration comes from Django settings when they define it, otherwise from environment
variables with the prefix ``REGNEKRAFT_`` (e.g. ``REGNEKRAFT_OIDC_RP_CLIENT_ID``), so the
portal needs no settings edit to enable it. The platform never creates people without an
organisation and roles, so a sign-in must match an existing account:

* by the provider's subject (``iss`` + ``sub``) once it is linked (``models.OidcIdentity``);
* otherwise by e-mail address, and only when the provider says it has verified the address
  (``email_verified`` true; ``OIDC_REQUIRE_EMAIL_VERIFIED`` off trusts every address). Such a
  first sign-in links the subject, and an account already linked to another subject at the
  same provider is refused, so a reassigned address cannot take over the account.

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
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from regnekraft.parties.models import Person

from .models import OidcIdentity

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
    "OIDC_REQUIRE_EMAIL_VERIFIED": True,
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


def _verified(claims: dict) -> bool:
    if not setting("OIDC_REQUIRE_EMAIL_VERIFIED"):
        return True
    return claims.get("email_verified") in (True, "true", "True")  # some providers send text


@transaction.atomic
def link_identity(actor: Any, user: Any, issuer: str, subject: str) -> OidcIdentity:
    """Link ``subject`` at ``issuer`` to ``user`` (``actor``: the person signing in, whose
    verified address matched ``user``). Refused if either side is linked already."""
    if getattr(actor, "pk", None) != user.pk:
        raise SuspiciousOperation("an OIDC identity is linked only by its own sign-in")
    try:
        with transaction.atomic():
            identity = OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    except IntegrityError:
        raise SuspiciousOperation(f"{user.get_username()} is linked to another subject") from None
    log.info("OIDC subject %s at %s linked to %s", subject, issuer, user.get_username())
    return identity


class Backend(OIDCAuthenticationBackend):
    """Matches a sign-in to an account (see the module's text); ``refusal`` says why none was."""

    refusal: str | None = None

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return setting(attr, *args)

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict):
        claims = dict(self.get_userinfo(access_token, id_token, payload))
        subject = str(payload.get("sub") or "")
        if not subject or claims.setdefault("sub", subject) != subject:
            raise SuspiciousOperation("userinfo is about another subject than the id_token")
        issuer = str(payload.get("iss") or setting("OIDC_OP_TOKEN_ENDPOINT"))
        linked = OidcIdentity.objects.filter(issuer=issuer, subject=subject).first()
        if linked is not None:
            return self.update_user(linked.user, claims)
        if not _verified(claims):
            self.refusal = "unverified"
            return None
        users = list(self.filter_users_by_claims(claims))
        if len(users) != 1:
            self.refusal = "unknown" if not users else "ambiguous"
            return None
        user = users[0]
        if OidcIdentity.objects.filter(issuer=issuer, user=user).exists():
            log.warning("OIDC: %s is linked to another subject than %s", user, subject)
            self.refusal = "other_subject"
            return None
        link_identity(user, user, issuer, subject)
        return self.update_user(user, claims)

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
        backend = Backend()
        try:
            user = backend.authenticate(
                request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier")
            )
        except (SuspiciousOperation, ValueError, OSError) as exc:
            log.warning("OIDC sign-in failed: %s", exc)
            user = None
        except Exception as exc:  # a provider error must not become a 500 page
            log.warning("OIDC sign-in failed: %s", exc)
            user = None
        if user is None or not user.is_active:
            return self.failure(
                request,
                _refusal(backend.refusal) if user is None else _("This account is not active."),
            )
        user.backend = SESSION_BACKEND
        auth.login(request, user)
        next_url = request.session.pop("oidc_login_next", None)
        return HttpResponseRedirect(next_url or reverse("portal:home"))


def _refusal(reason: str | None) -> str:
    provider = provider_label()
    if reason == "unverified":
        return _(
            "Your identity was confirmed, but %(provider)s does not say that your e-mail "
            "address is verified, so it cannot be matched to a Regnekraft account. Ask the "
            "operators for access."
        ) % {"provider": provider}
    if reason == "other_subject":
        return _(
            "The Regnekraft account with that e-mail address is linked to another identity at "
            "%(provider)s. Ask the operators."
        ) % {"provider": provider}
    return _(
        "Your identity was confirmed, but no Regnekraft account has that "
        "e-mail address. Ask your organisation's coordinator for access."
    )
