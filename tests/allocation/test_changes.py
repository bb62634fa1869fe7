"""Change requests (more, longer, renewal) pass the same rules; expiry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from regnekraft.allocation import policy, services
from regnekraft.allocation.models import Allocation, ChangeKind, ChangeRequest
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def allocation():
    rc = f.resource_class(units=10)  # 43,440 core-hours in H1
    return f.granted(f.project(), rc, 20_000)


def _change(allocation, kind, **kw):
    return ChangeRequest.objects.create(
        allocation=allocation, kind=kind, reason="More science.", **kw
    )


def test_increase_within_capacity_is_approved_once(allocation):
    change = _change(allocation, ChangeKind.INCREASE, amount=Decimal(5_000))
    services.decide_change(change, True)
    services.decide_change(change, True)  # deciding twice changes nothing
    allocation.refresh_from_db()
    assert allocation.amount == Decimal(25_000)


def test_increase_beyond_capacity_is_refused_and_nothing_changes(allocation):
    change = _change(allocation, ChangeKind.INCREASE, amount=Decimal(30_000))
    with pytest.raises(policy.PolicyViolation) as exc:
        services.decide_change(change, True)
    assert exc.value.violations[0].rule == "capacity"
    allocation.refresh_from_db()
    change.refresh_from_db()
    assert allocation.amount == Decimal(20_000) and change.status == "pending"


def test_extension_keeps_the_daily_rate(allocation):
    new_end = allocation.end + (allocation.end - allocation.start)  # twice as long
    services.decide_change(_change(allocation, ChangeKind.EXTEND, new_end=new_end), True)
    allocation.refresh_from_db()
    assert allocation.end == new_end and allocation.amount == Decimal(40_000)


def test_renewal_makes_a_new_allocation_for_the_next_period(allocation):
    next_end = dt.date(f.YEAR + 1, 1, 1)
    services.decide_change(
        _change(allocation, ChangeKind.RENEW, amount=Decimal(10_000), new_end=next_end), True
    )
    renewed = Allocation.objects.exclude(pk=allocation.pk).get()
    assert (renewed.start, renewed.end, renewed.amount) == (
        allocation.end,
        next_end,
        Decimal(10_000),
    )
    assert renewed.source == "change" and renewed.price_category == allocation.price_category


def test_rejection_records_the_note(allocation):
    change = services.decide_change(
        _change(allocation, ChangeKind.INCREASE, amount=Decimal(1)), False, note="No."
    )
    assert (change.status, change.decision_note) == ("rejected", "No.")


def test_allocations_expire_after_their_period(allocation):
    assert services.expire_allocations(allocation.end - dt.timedelta(days=1)) == 0
    assert services.expire_allocations(allocation.end) == 1
    allocation.refresh_from_db()
    assert allocation.status == "expired"


def test_an_increase_lifts_a_block_the_use_no_longer_justifies(allocation):
    import datetime as dt

    from regnekraft.accounting.importer import import_records
    from regnekraft.accounting.models import BalanceEvent

    f.price_list("A")
    f.price_list("0")
    rc = allocation.resource_class
    import_records(
        [
            {
                "cluster": rc.system.slug,
                "job_id": "1",
                "account": allocation.project.code,
                "system": rc.system.slug,
                "kind": "cpu",
                "quantity": "20000",
                "start": dt.datetime(f.YEAR, 2, 1, 10).isoformat(),
                "end": dt.datetime(f.YEAR, 2, 1, 11).isoformat(),
            }
        ],
        source="t",
    )
    allocation.refresh_from_db()
    assert allocation.status == "blocked"
    services.decide_change(_change(allocation, ChangeKind.INCREASE, amount=Decimal(20_000)), True)
    allocation.refresh_from_db()
    assert allocation.status == "active"  # 20,000 of 40,000 used: 50 % warned, no block
    assert sorted(
        BalanceEvent.objects.filter(allocation=allocation).values_list("action", flat=True)
    ) == ["warn"]


def test_withdrawn_applications_are_not_decided():
    from django.core.exceptions import ValidationError

    rc = f.resource_class(units=10)
    app = f.application(f.call(), f.project(), {rc: 100})
    app.status = "withdrawn"
    app.save()
    with pytest.raises(ValidationError, match="withdrawn"):
        services.decide_application(app, {rc.pk: Decimal(100)})


def test_a_call_becomes_decided_only_by_its_round():
    from django.core.exceptions import ValidationError

    c = f.call()
    with pytest.raises(ValidationError):
        c.check_status_change("decided")
    services.decide_round(c, {})
    c.refresh_from_db()
    with pytest.raises(ValidationError):
        c.check_status_change("open")
