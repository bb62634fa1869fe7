"""On PostgreSQL an import does not hold up other users: while an import's transaction is open
(records written, not yet committed), an invoice run for the same organisation and a decision
on the same resource class go through, each with ``lock_timeout`` at one second, so a lock
wait longer than that fails the test instead of passing slowly."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from regnekraft.accounting.importer import import_records
from regnekraft.accounting.invoicing import issue_invoices
from regnekraft.accounting.models import UsageDay
from tests import factories as f

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: run with DATABASE_URL set (scripts/postgres.sh start)",
    ),
]

JAN = (dt.date(2027, 1, 1), dt.date(2027, 2, 1))


def records(account: str, prefix: str, n: int, day: str) -> list[dict]:
    return [
        {
            "cluster": "betzy",
            "job_id": f"{prefix}{i}",
            "account": account,
            "kind": "gpu",
            "gpu_type": "A100",
            "quantity": "1",
            "start": f"{day}T08:00:00",
            "end": f"{day}T10:00:00",
        }
        for i in range(n)
    ]


def test_invoices_and_decisions_do_not_wait_for_an_open_import(world):
    project = f.project(code="nn1000k")
    f.granted(project, world.gpu, 100_000)
    import_records(records("nn1000k", "jan", 10, "2027-01-10"), source="t")
    paused, resume = threading.Event(), threading.Event()
    outcome: dict = {}

    def hold(done: int, total: int | None = None) -> None:
        if not paused.is_set():
            paused.set()
            resume.wait(60)

    def importing() -> None:
        try:
            # January (being invoiced meanwhile) and February, in one transaction
            batch = records("nn1000k", "late", 500, "2027-01-20")
            batch += records("nn1000k", "feb", 500, "2027-02-03")
            outcome["import"] = import_records(batch, source="t", progress=hold)
        except Exception as e:  # reported by the main thread
            outcome["error"] = e
        finally:
            connection.close()

    worker = threading.Thread(target=importing)
    worker.start()
    try:
        assert paused.wait(60), "the import never reached its writes"
        with connection.cursor() as cur:
            cur.execute("SET lock_timeout = '1s'")
        [invoice] = issue_invoices(*JAN)
        assert invoice.lines.get().quantity == Decimal(10)  # the open import is not on it
        other = f.granted(f.project(code="nn1001k"), world.gpu, 1_000)  # locks the class
        assert other.amount == Decimal(1000)
    finally:
        resume.set()
        worker.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["import"].new == 1000
    # the late January use waits, open, for the next invoice
    assert UsageDay.objects.filter(invoice__isnull=True, usage_date="2027-01-20").get().records == (
        500
    )
