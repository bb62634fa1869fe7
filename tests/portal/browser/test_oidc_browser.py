"""OIDC sign-in in Chromium: the button on the sign-in page, the provider on 127.0.0.1, back
to the person's own pages."""

from __future__ import annotations

import pytest

from tests.portal.oidc_provider import Provider

from .walker import Walker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provider(settings):
    p = Provider().start()
    for name, value in p.settings().items():
        setattr(settings, name, value)
    yield p
    p.stop()


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_sign_in_with_the_organisation(
    page, live_server, axe_source, screenshots, browser_world, provider, lang
):
    provider.identity = {"sub": "feide-pia", "email": "pia@example.no", "name": "Pia"}
    me = Walker(page, live_server.url, lang, axe_source, screenshots, "oidc")
    me.go("/accounts/login/")
    me.follow('a[href^="/oidc/authenticate/"]', "signed-in")
    assert page.locator(".account strong").inner_text() == "pia"
    assert "/token" in provider.requests_seen
    me.go("/pi/")
    assert "nn1001k" in page.content() and "nn2002k" not in page.content()
