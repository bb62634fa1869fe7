"""No request gets a 500 for a locked database: writers queue for SQLite's lock (IMMEDIATE
transactions, a busy timeout), and one that still finds it locked gets a 503 with Retry-After
(regnekraft/dbbusy.py). The concurrent tests run on a file SQLite database (a copy of the test
database: the default one is in memory, where SQLite's locking differs), with one thread
holding a write transaction while 20 requests write through the API and the portal."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection, connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.http import HttpResponse
from django.test import Client, RequestFactory
from rest_framework.authtoken.models import Token

from regnekraft import dbbusy
from tests import factories as f

WRITERS = 20
PASSWORD = "pw-busy-123"
sqlite_only = pytest.mark.skipif(
    not connections.settings["default"]["ENGINE"].endswith("sqlite3"),
    reason="SQLite's locking (the settings and the file database copy are SQLite's)",
)


# -- the answer --------------------------------------------------------------------------------


def _raising(exc: Exception):
    def view(request):
        raise exc

    return view


def _answer(path: str, exc: Exception, **headers) -> HttpResponse:
    request = RequestFactory().post(path, headers=headers)
    middleware = dbbusy.DatabaseBusyMiddleware(lambda r: HttpResponse())
    return middleware.process_exception(request, exc)


def test_a_locked_database_is_a_503_with_retry_after_in_the_api_error_shape(settings):
    settings.DB_BUSY_RETRY_AFTER = 7
    response = _answer("/api/organisations/", OperationalError("database is locked"))
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response["Content-Language"] == "en"
    assert "try again in 7 seconds" in json.loads(response.content)["detail"]


def test_the_portal_answers_a_short_page_in_bokmal_or_english():
    response = _answer("/operator/calls/", OperationalError("database is locked"))
    assert response.status_code == 503 and response["Retry-After"]
    assert response["Content-Type"].startswith("text/html")
    assert b'<html lang="nb">' in response.content
    english = _answer("/en/operator/calls/", OperationalError("database is locked"))
    assert b'<html lang="en">' in english.content and b"Nothing was saved" in english.content


def test_other_database_errors_are_not_taken_for_busy():
    assert _answer("/api/x/", OperationalError("no such table: x")) is None
    assert _answer("/api/x/", ValueError("database is locked")) is None
    assert dbbusy.is_busy(OperationalError("database table is locked"))


def test_a_lock_found_by_a_later_middleware_is_a_503_too(rf):
    """A session save after the view (SessionMiddleware) raises outside the view: Django makes
    a 500 of it before the outer middleware sees it; that 500 becomes the 503."""
    from django.core.handlers.exception import convert_exception_to_response

    inner = convert_exception_to_response(_raising(OperationalError("database is locked")))
    middleware = dbbusy.DatabaseBusyMiddleware(inner)
    response = middleware(rf.get("/pi/"))
    assert response.status_code == 503 and response["Retry-After"]
    plain = dbbusy.DatabaseBusyMiddleware(convert_exception_to_response(_raising(KeyError("x"))))
    assert plain(rf.get("/pi/")).status_code == 500


@sqlite_only
def test_settings_queue_writers_in_wal():
    options = connections.settings["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert 5 <= options["timeout"] <= 60
    assert "journal_mode=WAL" in options["init_command"]


# -- the concurrent scenario on a file database ------------------------------------------------


@pytest.fixture
def file_db(transactional_db, tmp_path) -> Path:
    """The test database copied to a file, in WAL mode (as settings' init_command sets)."""
    path = tmp_path / "busy.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.execute("PRAGMA journal_mode=WAL")
    target.close()
    return path


def _use_file(path: Path, timeout: float) -> DatabaseWrapper:
    """This thread's default connection on the file database, with ``timeout`` seconds of busy
    timeout (the settings' options otherwise)."""
    base = connections.settings["default"]
    wrapper = DatabaseWrapper(
        {**base, "NAME": str(path), "OPTIONS": {**base["OPTIONS"], "timeout": timeout}}, "default"
    )
    connections["default"] = wrapper
    return wrapper


def _world():
    org = f.organisation()
    operator = f.person(org, "operator", username="busy_op", password=PASSWORD)
    pi = f.person(org, "pi", username="busy_pi", password=PASSWORD)
    token = Token.objects.create(user=operator.user)
    return token.key, pi


def _run(path: Path, token: str, *, hold: float, timeout: float, stagger: float) -> list:
    """One thread holds SQLite's write lock for ``hold`` seconds; meanwhile ``WRITERS``
    requests write: API organisations (a service write in a transaction) and portal sign-ins
    (session, last login and the sign-in log), started ``stagger`` seconds apart."""
    held, results = threading.Event(), []
    lock = threading.Lock()

    def holder():
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        db.execute("CREATE TABLE IF NOT EXISTS busy_holder (n INTEGER)")
        db.execute("INSERT INTO busy_holder VALUES (1)")
        held.set()
        time.sleep(hold)
        db.execute("COMMIT")
        db.close()

    def writer(i: int):
        wrapper = _use_file(path, timeout)
        try:
            client = Client(raise_request_exception=False)
            if i % 4 == 3:
                response = client.post(
                    "/accounts/login/", {"username": "busy_pi", "password": PASSWORD}
                )
                kind = "portal"
            else:
                response = client.post(
                    "/api/organisations/",
                    {"name": f"Busy {i}", "short_name": f"busy{i}", "kind": "research"},
                    content_type="application/json",
                    headers={"authorization": f"Token {token}"},
                )
                kind = "api"
            with lock:
                results.append((kind, i, response.status_code, response.get("Retry-After")))
        finally:
            wrapper.close()

    hold_thread = threading.Thread(target=holder)
    hold_thread.start()
    assert held.wait(10)
    threads = []
    for i in range(WRITERS):
        t = threading.Thread(target=writer, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(stagger)
    for t in threads:
        t.join(timeout=120)
    hold_thread.join(timeout=120)
    assert not any(t.is_alive() for t in [*threads, hold_thread])
    assert len(results) == WRITERS
    return results


def _organisations(path: Path, prefix: str = "Busy ") -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT count(*) FROM parties_organisation WHERE name LIKE ?", (prefix + "%",)
        ).fetchone()[0]
    finally:
        db.close()


@sqlite_only
def test_writers_queue_behind_a_long_write_and_all_get_through(file_db):
    token, _ = _world_on(file_db)
    results = _run(file_db, token, hold=1.0, timeout=20, stagger=0.02)
    statuses = sorted({status for _, _, status, _ in results})
    assert statuses in ([201, 302], [201], [302]), results
    assert _organisations(file_db) == sum(1 for kind, *_ in results if kind == "api")


@sqlite_only
def test_writers_that_wait_too_long_get_503_with_retry_after_never_500(file_db):
    token, _ = _world_on(file_db)
    results = _run(file_db, token, hold=2.5, timeout=0.5, stagger=0.15)
    answers = {status for _, _, status, _ in results}
    assert answers <= {201, 302, 503}, results
    assert 503 in answers, results  # the lock was really in the way
    assert answers & {201, 302}, results  # and those after it got through
    assert all(retry and int(retry) > 0 for _, _, status, retry in results if status == 503)
    created = sum(1 for kind, _, status, _ in results if kind == "api" and status == 201)
    assert _organisations(file_db) == created  # a 503 wrote nothing


def _world_on(path: Path):
    """The world written into the file database (through this thread's own connection on it),
    so the threads see it."""
    memory = connections["default"]  # kept: closing the last one would drop the test database
    wrapper = _use_file(path, 20)
    try:
        return _world()
    finally:
        wrapper.close()
        connections["default"] = memory
