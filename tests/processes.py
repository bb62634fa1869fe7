"""What the tests that start real processes share: the environment of a child process that
uses the test's database, a free loopback port, and an SMTP server's inbox (aiosmtpd)."""

from __future__ import annotations

import os
import socket
import threading
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url_for_children() -> str:
    """The PostgreSQL test database as a DATABASE_URL (child processes use it)."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def child_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A child process's environment: on PostgreSQL the test database (so the test must be
    transactional); on SQLite a database file of its own under ``tmp_path``."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="regnekraft.settings",
        PYTHONPATH=str(ROOT),
        REGNEKRAFT_MODE="test",  # no production secret key needed (docs/security.md)
        REGNEKRAFT_WARM_UP="0",
    )
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = database_url_for_children()
    else:
        env.pop("DATABASE_URL", None)
        env["REGNEKRAFT_VAR"] = str(tmp_path / "var")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it is given (headers decoded), or refuses
    them with a 550 while ``refuse`` is set."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse = False
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        data = envelope.original_content or envelope.content
        with self.lock:
            self.messages.append(message_from_bytes(data, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["To"]]
