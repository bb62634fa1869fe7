"""Two senders at the same time on PostgreSQL never send the same mail twice: each claims its
rows with SELECT ... FOR UPDATE SKIP LOCKED, and every mail reaches the SMTP server once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from regnekraft.notify import services
from regnekraft.notify.models import Notification, Status
from tests import factories as f

from .conftest import person

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: run with DATABASE_URL set (scripts/postgres.sh start)",
    ),
]

MAILS = 120


def test_two_concurrent_senders_never_send_the_same_mail(smtp):
    org = f.organisation()
    for i in range(6):
        person(org, "operator", language="en" if i % 2 else "nb")
    for i in range(MAILS // 6):
        services.notify_operators("slurm-failed", f"k{i}", {"job": f"slurm-sync-{i}"})
    assert Notification.objects.filter(status=Status.PENDING).count() == MAILS

    start = threading.Barrier(2)
    results: dict[str, list] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            start.wait(30)
            while True:
                summary = services.send_pending(name, now=timezone.now(), limit=7)
                results[name].append(summary)
                if summary["claimed"] == 0:
                    break
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors

    received = Counter(m["X-Regnekraft-Notification"] for m in smtp.messages)
    assert len(received) == MAILS
    assert set(received.values()) == {1}, "a mail was sent twice"
    sent = {n: sum(s["sent"] for s in runs) for n, runs in results.items()}
    assert sum(sent.values()) == MAILS
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}
    by_worker = Counter(Notification.objects.values_list("claimed_by", flat=True))
    assert set(by_worker) <= {"a", "b"}
