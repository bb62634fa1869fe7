"""The Content-Security-Policy (issue 10, item 9): no page needs an inline script, the
dashboard's inline SVG charts are allowed their styles, the API docs load their scripts."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.portal import world as world_module


@pytest.fixture
def enforced(settings):
    """The production policy, enforced (tests run in test mode, where it is report-only)."""
    policy = django_settings.CONTENT_SECURITY_POLICY or (
        django_settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
    )
    settings.CONTENT_SECURITY_POLICY = policy
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = None
    return policy


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def _inline_scripts(html: str) -> list[str]:
    return [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]


def test_test_mode_reports_the_policy_without_enforcing_it(db):
    response = Client().get("/accounts/login/")
    assert "script-src 'self'" in response["Content-Security-Policy-Report-Only"]
    assert "Content-Security-Policy" not in response


def test_the_dashboard_with_its_charts_fits_the_policy(db, enforced):
    world_module.build()
    client = Client()
    client.force_login(get_user_model().objects.get(username="dm"))
    response = client.get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'style="' in html  # matplotlib's inline SVG with styles
    policy = _policy(response)
    assert "'unsafe-inline'" in policy["style-src"]
    assert policy["script-src"] == "'self'"
    assert _inline_scripts(html) == []


def test_no_portal_page_has_an_inline_script_or_handler(db, enforced):
    world_module.build()
    for username, path in [
        ("pia", "/pi/"),
        ("op", "/operator/calls/"),
        ("coord", "/sector/"),
        ("dm", "/"),
    ]:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        html = client.get(path).content.decode()
        assert _inline_scripts(html) == [], path
        assert not re.search(r"\son[a-z]+\s*=", html), path


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_only_the_api_documentation_may_run_its_inline_set_up_script(db, enforced, path):
    client = Client()
    client.force_login(get_user_model().objects.create_user("reader", password="x" * 12))
    page = client.get(path)
    assert page.status_code == 200
    policy = _policy(page)
    assert "'unsafe-inline'" in policy["script-src"] and "blob:" in policy["worker-src"]
    assert policy["connect-src"] == "'self'"  # the schema comes from our own origin
    assert len(_inline_scripts(page.content.decode())) <= 1  # Swagger UI has one, Redoc none
    for other in ["/accounts/login/", "/api/schema/", "/admin/login/"]:
        assert _policy(client.get(other))["script-src"] == "'self'", other
