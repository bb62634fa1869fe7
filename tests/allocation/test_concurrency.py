"""20 decisions racing for the last capacity never over-commit it (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from regnekraft.allocation import policy, services
from regnekraft.allocation.models import Allocation
from tests import factories as f


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_decisions_never_overcommit():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL set (scripts/postgres.sh start)")
    rc = f.resource_class(units=1)
    cap = rc.capacity(*f.H1)
    share = (cap / Decimal(5)).quantize(Decimal("0.01"))  # room for exactly five of the twenty
    c = f.call()
    apps = [f.application(c, f.project(), {rc: share}) for _ in range(20)]
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def decide(app):
        try:
            barrier.wait()
            services.decide_application(app, {rc.pk: share})
            outcomes.append("granted")
        except policy.PolicyViolation as exc:
            outcomes.append(exc.violations[0].rule)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(a.amount for a in Allocation.objects.filter(resource_class=rc))
    assert total <= cap
    assert outcomes.count("granted") == 5
    assert outcomes.count("capacity") == 15
