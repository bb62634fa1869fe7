"""The demo's mail (issue 12, acceptance): with ``REGNEKRAFT_EMAIL_URL`` naming a real SMTP
server (aiosmtpd on loopback) and a demo database, ``regnekraft worker --once`` sends the demo's
pending warning mails and exits 0; a second run sends nothing more.

The demo is built in a subprocess into an SQLite database of its own (``regnekraft demo``
empties the database it is given, so never the test database)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from tests.processes import ROOT, Inbox, free_port

pytestmark = pytest.mark.django_db


def _run(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "regnekraft.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_worker_once_sends_the_demos_warning_mails(tmp_path, traces):
    if connection.vendor != "sqlite":
        pytest.skip("the demo's database here is SQLite; the run on SQLite covers it")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = dict(
        os.environ,
        REGNEKRAFT_VAR=str(tmp_path / "var"),
        REGNEKRAFT_MODE="demo",
        REGNEKRAFT_WARM_UP="0",
        REGNEKRAFT_EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
    )
    env.pop("DATABASE_URL", None)
    try:
        built = _run(env, "demo", "--no-serve", "--json", "--traces", str(traces))
        assert built.returncode == 0, built.stderr[-3000:]
        first = _run(env, "worker", "--once", "--json")
        assert first.returncode == 0, first.stderr[-3000:]
        second = _run(env, "worker", "--once", "--json")
        assert second.returncode == 0, second.stderr[-3000:]
    finally:
        smtp.stop()

    db = sqlite3.connect(tmp_path / "var" / "regnekraft.sqlite3")
    warnings = db.execute(
        "select count(*) from notify_notification n join accounting_balanceevent e"
        " on n.key = cast(e.id as text)"
        " where n.kind in ('balance_warning', 'balance_block') and n.status = 'sent'"
    ).fetchone()[0]
    pending = db.execute(
        "select count(*) from notify_notification where status = 'pending'"
        " and delivery = 'immediate'"
    ).fetchone()[0]
    sent = db.execute("select count(*) from notify_notification where status = 'sent'").fetchone()[
        0
    ]
    events = db.execute("select count(*) from accounting_balanceevent").fetchone()[0]
    assert events > 0, "the demo has no balance events to warn about"
    assert warnings > 0, "no warning mail was sent"
    assert pending == 0, "mails left unsent after worker --once"
    assert len(inbox.messages) == sent, "one mail per notification sent, none twice"
