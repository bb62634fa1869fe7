"""Sign-in through OpenID Connect against a real (small) provider on 127.0.0.1."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .oidc_provider import Provider


@pytest.fixture
def provider(settings):
    p = Provider().start()
    for name, value in p.settings().items():
        setattr(settings, name, value)
    yield p
    p.stop()


def _through_provider(client, provider, next_url: str = "/pi/"):
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302 and start["Location"].startswith(provider.url + "/authorize")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/oidc/callback/"
    return client.get(f"{back.path}?{back.query}")


def test_login_page_offers_the_provider(world, client, provider):
    html = client.get("/accounts/login/").content.decode()
    assert 'href="/oidc/authenticate/' in html


def test_oidc_sign_in_lands_on_the_persons_own_pages(world, client, provider):
    provider.identity = {"sub": "feide-pia", "email": "PIA@example.no", "name": "Pia"}
    done = _through_provider(client, provider)
    assert done.status_code == 302 and done["Location"] == "/pi/"
    assert {"/authorize", "/token", "/jwks", "/userinfo"} <= set(provider.requests_seen)
    html = client.get("/pi/").content.decode()
    assert "nn1001k" in html and "nn2002k" not in html
    assert client.get("/dashboard/").status_code == 403


def test_unknown_identity_gets_no_account(world, client, provider):
    provider.identity = {"sub": "feide-x", "email": "stranger@example.org", "name": "Stranger"}
    done = _through_provider(client, provider)
    assert done.status_code == 302 and done["Location"] == "/accounts/login/"
    assert 'class="message error"' in client.get("/accounts/login/").content.decode()
    assert client.get("/pi/").status_code == 302  # still anonymous


def test_token_for_another_client_is_refused(world, client, provider):
    provider.audience = "some-other-service"
    done = _through_provider(client, provider)
    assert done["Location"] == "/accounts/login/"
    assert client.get("/pi/").status_code == 302


def test_provider_error_and_forged_state_are_refused(world, client, provider):
    client.get("/oidc/authenticate/")
    cancelled = client.get("/oidc/callback/", {"error": "access_denied", "state": "x"})
    assert cancelled["Location"] == "/accounts/login/"
    forged = client.get("/oidc/callback/", {"code": "abc", "state": "not-ours"})
    assert forged["Location"] == "/accounts/login/"
    assert client.get("/pi/").status_code == 302


@pytest.fixture
def discovered_provider(settings):
    """Only the client and the discovery address are configured: the rest is discovered."""
    p = Provider().start()
    settings.OIDC_RP_CLIENT_ID = p.client_id
    settings.OIDC_RP_CLIENT_SECRET = p.client_secret
    settings.OIDC_OP_DISCOVERY_URL = p.url
    yield p
    p.stop()


def test_sign_in_with_endpoints_from_the_discovery_document(world, client, discovered_provider):
    html = client.get("/accounts/login/").content.decode()
    assert 'href="/oidc/authenticate/' in html
    assert discovered_provider.requests_seen == []  # showing the button fetches nothing
    discovered_provider.identity = {"sub": "feide-pia", "email": "pia@example.no", "name": "Pia"}
    done = _through_provider(client, discovered_provider)
    assert done.status_code == 302 and done["Location"] == "/pi/"
    assert discovered_provider.requests_seen.count("/.well-known/openid-configuration") == 1


def test_unreachable_discovery_is_a_clear_refusal_not_an_error(
    world, client, settings, monkeypatch
):
    from regnekraft.portal import oidc

    calls = []
    real_get = oidc.requests.get
    monkeypatch.setattr(
        oidc.requests, "get", lambda *a, **kw: calls.append(a) or real_get(*a, **kw)
    )
    settings.OIDC_RP_CLIENT_ID = "regnekraft"
    settings.OIDC_OP_DISCOVERY_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.OIDC_TIMEOUT = 2
    start = client.get("/en/accounts/login/")
    assert start.status_code == 200
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    page = client.get("/accounts/login/").content.decode()
    # the message is in the language of the request that started the sign-in
    assert "is not available right now" in page or "er ikke tilgjengelig akkurat nå" in page
    client.get(
        "/oidc/authenticate/"
    )  # a second try within a minute does not wait for the provider again
    assert len(calls) == 1


# --- matching a person: a verified e-mail address, or the subject once linked (issue 10, 9) ---


@pytest.mark.parametrize("verified", [False, None], ids=["email_verified-false", "no-claim"])
def test_an_unverified_address_matches_nobody(world, client, provider, verified):
    provider.email_verified = verified
    provider.identity = {"sub": "evil-1", "email": "pia@example.no", "name": "Not Pia"}
    done = _through_provider(client, provider)
    assert done["Location"] == "/accounts/login/"
    page = client.get("/accounts/login/").content.decode()  # the callback is in bokmål
    assert "oppgir ikke at e-postadressen din er verifisert" in page
    assert client.get("/pi/").status_code == 302  # still anonymous


def test_a_verified_address_links_the_subject_and_the_subject_matches_later(
    world, client, provider
):
    from django.test import Client

    from regnekraft.portal.models import OidcIdentity

    provider.identity = {"sub": "feide-pia", "email": "pia@example.no", "email_verified": "true"}
    assert _through_provider(client, provider)["Location"] == "/pi/"
    linked = OidcIdentity.objects.get()
    assert (linked.subject, linked.issuer, linked.user.username) == (
        "feide-pia",
        provider.url,
        "pia",
    )
    # later: the provider gives another (even unverified) address; the subject still matches
    provider.email_verified = False
    provider.identity = {"sub": "feide-pia", "email": "pia.new@example.org"}
    again = Client()
    assert _through_provider(again, provider)["Location"] == "/pi/"
    assert "nn1001k" in again.get("/pi/").content.decode()


def test_an_account_linked_to_one_subject_is_not_taken_by_another(world, client, provider):
    from django.test import Client

    provider.identity = {"sub": "feide-pia", "email": "pia@example.no"}
    assert _through_provider(client, provider)["Location"] == "/pi/"
    # the address is reassigned at the provider to someone else, verified there
    provider.identity = {"sub": "feide-someone-else", "email": "pia@example.no"}
    other = Client()
    assert _through_provider(other, provider)["Location"] == "/accounts/login/"
    assert "knyttet til en annen identitet" in other.get("/accounts/login/").content.decode()
    assert other.get("/pi/").status_code == 302


def test_trusting_every_address_is_a_setting(world, client, provider, settings):
    settings.OIDC_REQUIRE_EMAIL_VERIFIED = False
    provider.email_verified = None  # a provider that never sends the claim
    provider.identity = {"sub": "feide-pia", "email": "pia@example.no"}
    assert _through_provider(client, provider)["Location"] == "/pi/"
    from regnekraft.portal.models import OidcIdentity

    assert OidcIdentity.objects.get().subject == "feide-pia"  # linked all the same
