"""The production topology on loopback (issue 12, acceptance): two web processes
(``regnekraft serve``, gunicorn), two workers (``regnekraft worker``), PostgreSQL and a real
SMTP server (aiosmtpd), walked through a cycle:

1. usage imported through one web process crosses 80 % of the PI's allocation: the workers
   send exactly one warning mail, in the PI's language (English here);
2. a second import, through the other web process, passes 100 %: the block mail is sent and
   the Slurm plan (the platform's desired state against the one before) blocks the account;
3. the notification job is queued twice each time, so both workers run it at once: no mail is
   sent twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from tests import factories as f
from tests.processes import ROOT, Inbox, database_url_for_children, free_port

TODAY = "2027-03-01"  # inside the allocation's period (tests/factories.H1)
WAIT = 120  # seconds a process may take to come up or a mail to arrive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Mails(Inbox):
    def balance_mails(self, address: str) -> list[Message]:
        """The mails about the use of an allocation (the decision of the application that
        made it is mailed too), known by the notifications each mail names in its header."""
        from regnekraft.notify.models import Notification

        out = []
        for mail in self.to(address):
            ids = [int(i) for i in mail["X-Regnekraft-Notification"].split(",")]
            kinds = set(Notification.objects.filter(pk__in=ids).values_list("kind", flat=True))
            if kinds & {"balance_warning", "balance_block"}:
                out.append(mail)
        return out


def _environment(smtp_port: int) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=database_url_for_children(),
        REGNEKRAFT_MODE="test",
        REGNEKRAFT_TODAY=TODAY,
        REGNEKRAFT_EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        REGNEKRAFT_WARM_UP="0",
        REGNEKRAFT_WORKER_POLL_SECONDS="0.2",
        REGNEKRAFT_WORKER_BEAT_SECONDS="1",
        PYTHONPATH=str(ROOT),
    )


@contextlib.contextmanager
def _processes(commands: list[list[str]], env: dict[str, str], logs: Path) -> Iterator[None]:
    started = []
    try:
        for n, command in enumerate(commands):
            log = (logs / f"process-{n}.log").open("w")
            started.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            )
        yield
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _until(what: str, check, logs: Path, seconds: float = WAIT):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    tails = "\n".join(p.read_text()[-1500:] for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"{what} did not happen within {seconds} s; the processes said:\n{tails}")


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _queue_notifications_twice() -> None:
    from regnekraft.ops import tasks

    tasks.enqueue("notifications", {})
    tasks.enqueue("notifications", {})


def _queue_settled() -> bool:
    from django_tasks_db.models import DBTaskResult

    return not DBTaskResult.objects.filter(status__in=("READY", "RUNNING")).exists()


def _import(url: str, token: str, jobs: range, hours: str) -> dict:
    records = [
        {
            "cluster": "betzy",
            "job_id": f"j{n}",
            "account": "nn1000k",
            "kind": "gpu",
            "gpu_type": "A100",
            "quantity": hours,
            "start": "2027-02-01T08:00:00",
            "end": "2027-02-01T10:00:00",
        }
        for n in jobs
    ]
    request = urllib.request.Request(
        f"{url}/api/usage/import/",
        data=json.dumps({"source": "topology", "records": records}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"import refused: {exc.code} {exc.read()[:2000]!r}") from exc


def _world():
    from rest_framework.authtoken.models import Token

    from regnekraft.catalog.models import Price

    f.policy()
    betzy = f.system("betzy", tier=1)
    gpu = f.resource_class(betzy, kind="gpu", units=100, gpu_type="A100")
    prices = f.price_list("A", prices={"cpu": "0.04", "gpu": "5.6"})
    Price.objects.create(price_list=prices, kind="gpu", gpu_type="A100", unit_price=Decimal("7.2"))
    org = f.organisation(name="UiO")
    pi = f.person(org, "pi", username="pi-en")
    pi.language = "en"
    pi.save(update_fields=["language"])
    f.granted(f.project(org, pi=pi, code="nn1000k"), gpu, 100)
    operator = f.person(org, "operator", username="ops")
    token, _ = Token.objects.get_or_create(user=operator.user)
    return betzy, pi, token.key


def test_production_topology_walks_a_cycle(tmp_path, settings):
    from regnekraft.slurm.adapter import desired_spec
    from regnekraft.slurm.diff import command_line, diff

    if connection.vendor != "postgresql":
        pytest.skip("the production topology runs on PostgreSQL (set DATABASE_URL)")
    settings.REGNEKRAFT_TODAY = TODAY
    betzy, pi, token = _world()
    before = desired_spec(betzy, today=dt.date.fromisoformat(TODAY))
    inbox = Mails()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = _environment(smtp.port)
    ports = [free_port(), free_port()]
    web = [
        [sys.executable, "-m", "regnekraft.cli", "serve", "--port", str(p), "--workers", "1"]
        for p in ports
    ]
    workers = [[sys.executable, "-m", "regnekraft.cli", "worker"]] * 2
    try:
        with _processes(web + workers, env, tmp_path):
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            for url in urls:
                _until(f"{url} answering", lambda u=url: _up(u), tmp_path)

            # 85 of 100 GPU-hours through the first web process: past 50 % and 80 %
            assert _import(urls[0], token, range(0, 17), "5")["new"] == 17
            _queue_notifications_twice()
            _until("the warning mail", lambda: inbox.balance_mails(pi.email), tmp_path)
            _until("the notification jobs finishing", _queue_settled, tmp_path)
            mails = inbox.balance_mails(pi.email)
            assert len(mails) == 1, [m["Subject"] for m in mails]  # 80 %, not 50 % as well
            [warning] = mails
            assert "nn1000k" in warning["Subject"] and "80" in warning["Subject"]
            assert warning.get_content_maintype() == "multipart"
            parts = {
                p.get_content_type(): p.get_payload(decode=True).decode()
                for p in warning.walk()
                if not p.is_multipart()
            }
            assert set(parts) == {"text/plain", "text/html"}
            assert "allocation" in parts["text/plain"].lower()  # English, the PI's language

            # 20 more through the second web process: past 100 %, blocked
            assert _import(urls[1], token, range(17, 21), "5")["new"] == 4
            _queue_notifications_twice()
            _until("the block mail", lambda: len(inbox.balance_mails(pi.email)) >= 2, tmp_path)
            _until("the notification jobs finishing", _queue_settled, tmp_path)
            time.sleep(1)  # a duplicate, were there one, would have been sent by now
            mails = inbox.balance_mails(pi.email)
            assert len(mails) == 2, [m["Subject"] for m in mails]
            assert "blocked" in mails[1]["Subject"]
    finally:
        smtp.stop()

    after = desired_spec(betzy, today=dt.date.fromisoformat(TODAY))
    plan = [command_line(op) for op in diff(after, before)]
    assert any("nn1000k" in line and "grpsubmitjobs=0" in line.lower() for line in plan), plan
