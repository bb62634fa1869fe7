"""Brute-force protection: five failures for one user name from one address lock that pair for
the cool-off time on the portal's, the admin's and the API's sign-in (issue 10, item 5)."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

RIGHT, WRONG = "Correct-Horse-42", "guess"
EN, NB = "Too many failed sign-ins", "For mange mislykkede innlogginger"


def _portal(client, username, password):
    return client.post("/en/accounts/login/", {"username": username, "password": password})


def _admin(client, username, password):
    return client.post("/admin/login/", {"username": username, "password": password})


def _token(client, username, password):
    return client.post("/api/token/", {"username": username, "password": password}, format="json")


TEXT = {_portal: EN, _admin: NB, _token: NB}


@pytest.mark.parametrize(
    ("sign_in", "client_class", "success"),
    [(_portal, Client, 302), (_admin, Client, 302), (_token, APIClient, 200)],
    ids=["portal", "admin", "api-token"],
)
def test_five_failures_lock_the_user_name_from_that_address(
    operator, sign_in, client_class, success
):
    client = client_class(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        assert sign_in(client, "op", WRONG).status_code in (200, 400)
    assert sign_in(client, "op", WRONG).status_code == 429  # the fifth failure locks
    locked = sign_in(client, "op", RIGHT)  # even the right password is refused now
    assert locked.status_code == 429
    # the portal's page in English under /en/; the admin and the API in bokmål (the default)
    assert TEXT[sign_in] in locked.content.decode()
    assert int(locked["Retry-After"]) == 15 * 60
    # another address, or the user name's owner elsewhere, is not locked out by the attacker
    assert sign_in(client_class(REMOTE_ADDR="198.51.100.9"), "op", RIGHT).status_code == success


def test_the_api_answers_a_lockout_in_json(alice):
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        _token(client, "alice", WRONG)
    locked = _token(client, "alice", RIGHT)
    assert locked.status_code == 429
    assert "sperret i 15 minutter" in locked.json()["detail"]
    assert "token" not in locked.json()


def test_the_portal_says_so_in_bokmal(alice):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": WRONG})
    locked = client.post("/accounts/login/", {"username": "alice", "password": RIGHT})
    assert locked.status_code == 429
    html = locked.content.decode()
    assert NB in html and 'href="/accounts/reset/"' in html


def test_a_success_resets_the_count(alice):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        _portal(client, "alice", WRONG)
    assert _portal(client, "alice", RIGHT).status_code == 302
    client.post("/en/accounts/logout/")
    for _ in range(4):
        _portal(client, "alice", WRONG)
    assert _portal(client, "alice", RIGHT).status_code == 302


def test_the_lock_ends_after_the_cool_off(alice):
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        _token(client, "alice", WRONG)
    assert _token(client, "alice", RIGHT).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert _token(client, "alice", RIGHT).status_code == 200
