"""/healthz and /readyz: JSON, no sign-in, no HTTPS redirect, the failed checks named."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from regnekraft.ops import views
from regnekraft.ops.models import WorkerBeat


def beat(seen: dt.datetime) -> WorkerBeat:
    return WorkerBeat.objects.create(
        worker_id="w-test", host="localhost", pid=1, started_at=seen, seen_at=seen
    )


def test_healthz_answers_without_the_database():
    # No django_db mark: any query would raise here.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_health_checks_are_not_redirected_to_https(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/accounts/login/").status_code == 301  # the rest of the site is
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)


def test_health_checks_need_no_sign_in_and_ignore_a_locked_out_address(settings, db):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        client.post("/accounts/login/", {"username": "nobody", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "nobody", "password": "x"}).status_code == (
        429
    )
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["failed"] == ["worker"]


def test_readyz_names_the_missing_worker(db):
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["worker"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True}
    assert body["checks"]["worker"]["last_seen"] is None
    assert "no worker" in body["checks"]["worker"]["detail"]


def test_readyz_is_ready_with_a_fresh_worker_beat(db):
    beat(timezone.now())
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"
    assert response.json()["failed"] == []


def test_readyz_counts_a_worker_seen_too_long_ago_as_missing(db):
    beat(timezone.now() - dt.timedelta(minutes=6))
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["worker"]
    assert "5 minutes" in response.json()["checks"]["worker"]["detail"]


def test_an_unapplied_migration_is_named(db):
    beat(timezone.now())
    assert views.check_migrations() == {"ok": True}
    MigrationRecorder(connection).record_unapplied("ops", "0001_initial")
    outcome = views.check_migrations()
    assert outcome["ok"] is False
    assert "ops.0001_initial" in outcome["unapplied"]
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["migrations"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_refuse_writes(path, db):
    assert Client().post(path).status_code == 405
