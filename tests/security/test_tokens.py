"""API tokens expire after REGNEKRAFT_TOKEN_DAYS and can be revoked (issue 10, item 5)."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

PASSWORD = "Correct-Horse-42"


def _get_token(username="alice", password=PASSWORD):
    answer = APIClient().post(
        "/api/token/", {"username": username, "password": password}, format="json"
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def _as(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_says_when_it_expires(alice, settings):
    settings.REGNEKRAFT_TOKEN_DAYS = 30
    answer = _get_token()
    expires = dt.datetime.fromisoformat(answer["expires"])
    assert dt.timedelta(days=29, hours=23) < expires - timezone.now() <= dt.timedelta(days=30)
    assert _get_token()["token"] == answer["token"]  # the same while it is valid


def test_an_expired_token_is_refused_with_a_clear_401_and_a_new_one_is_issued(alice, settings):
    settings.REGNEKRAFT_TOKEN_DAYS = 30
    old = _get_token()["token"]
    Token.objects.filter(key=old).update(created=timezone.now() - dt.timedelta(days=31))
    refused = _as(old).get("/api/me/")
    assert refused.status_code == 401
    assert "This API token expired" in refused.json()["detail"]  # English, the API's default
    assert "POST /api/token/" in refused.json()["detail"]
    asked = _as(old).get("/api/me/", HTTP_ACCEPT_LANGUAGE="nb")
    assert "Denne API-nøkkelen gikk ut" in asked.json()["detail"]
    new = _get_token()["token"]
    assert new != old
    assert _as(new).get("/api/me/").json()["username"] == "alice"
    assert _as(old).get("/api/me/").status_code == 401


def test_the_expiry_is_a_setting(alice, settings):
    token = _get_token()["token"]
    Token.objects.filter(key=token).update(created=timezone.now() - dt.timedelta(days=3))
    settings.REGNEKRAFT_TOKEN_DAYS = 7
    assert _as(token).get("/api/me/").status_code == 200
    settings.REGNEKRAFT_TOKEN_DAYS = 2
    assert _as(token).get("/api/me/").status_code == 401


def test_delete_revokes_the_callers_token(alice, operator):
    token = _get_token()["token"]
    other = _get_token("op")["token"]
    me = _as(token)
    assert me.delete("/api/token/").status_code == 204
    assert me.get("/api/me/").status_code == 401
    assert not Token.objects.filter(key=token).exists()
    assert _as(other).get("/api/me/").status_code == 200  # only the caller's
    assert APIClient().delete("/api/token/").status_code == 401  # needs a sign-in


def test_a_session_user_revokes_their_token_too(alice):
    token = _get_token()["token"]
    client = APIClient()
    client.force_login(alice.user)
    assert client.delete("/api/token/").status_code == 204
    assert _as(token).get("/api/me/").status_code == 401


def test_a_password_change_revokes_the_token(alice):
    token = _get_token()["token"]
    client = Client()
    client.force_login(alice.user)
    changed = client.post(
        "/en/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "Another-Battery-77",
            "new_password2": "Another-Battery-77",
        },
    )
    assert changed.status_code == 302
    assert _as(token).get("/api/me/").status_code == 401
