"""collect(): every kind of event becomes one notification per recipient, once; each person's
preference decides how; blocks and invoices cannot be turned off; the cost does not grow with
the number of events."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from regnekraft.notify import services
from regnekraft.notify.kinds import Delivery, Kind
from regnekraft.notify.models import Notification, NotificationPreference, Status
from regnekraft.parties.actors import SYSTEM

from .conftest import TODAY, add_projects, build

ALL_KINDS = set(Kind.values)


def kinds_of(person) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in Notification.objects.filter(recipient=person).values_list("kind", flat=True):
        out[kind] = out.get(kind, 0) + 1
    return out


def test_each_kind_is_notified_once_and_only_once(world):
    first = services.collect(today=TODAY)
    services.notify_operators(
        "slurm-failed",
        "slurm-sync:betzy:1",
        {"job": "slurm-sync", "cluster": "betzy", "error": "boom"},
    )
    assert first["created"] > 0
    pi = kinds_of(world.pi)
    assert pi == {
        Kind.BALANCE_WARNING: 1,
        Kind.BALANCE_BLOCK: 1,
        Kind.ALLOCATION_EXPIRING: 1,  # 21 days left: the 30-day notice
        Kind.APPLICATION_DECIDED: 1,
        Kind.CHANGE_DECIDED: 1,
        Kind.CALL_OPENED: 1,
        Kind.CALL_CLOSING: 1,
        Kind.INVOICE_ISSUED: 1,
    }
    assert kinds_of(world.reviewer) == {Kind.REVIEWER_ASSIGNED: 1}
    assert kinds_of(world.coordinator) == {Kind.ORDER_CONFIRMED: 1}
    assert kinds_of(world.operator) == {Kind.SLURM_FAILED: 1}
    assert {Kind.CALL_OPENED, Kind.CALL_CLOSING} <= set(kinds_of(world.other_pi))
    assert set(Notification.objects.values_list("kind", flat=True)) == ALL_KINDS

    total = Notification.objects.count()
    again = services.collect(today=TODAY)
    services.notify_operators("slurm-failed", "slurm-sync:betzy:1", {"job": "slurm-sync"})
    assert again["created"] == 0
    assert Notification.objects.count() == total

    # Seven days before the end the second expiry notice comes, once.
    later = TODAY.replace(day=26)
    services.collect(today=later)
    services.collect(today=later)
    keys = sorted(
        Notification.objects.filter(kind=Kind.ALLOCATION_EXPIRING, recipient=world.pi).values_list(
            "key", flat=True
        )
    )
    assert keys == [f"{world.allocations[0].pk}:30", f"{world.allocations[0].pk}:7"]


def test_the_contexts_carry_what_the_mail_says(world):
    services.collect(today=TODAY)
    warning = Notification.objects.get(recipient=world.pi, kind=Kind.BALANCE_WARNING)
    assert warning.context["threshold"] == 80
    assert warning.context["project"] == world.projects[0].code
    order = Notification.objects.get(kind=Kind.ORDER_CONFIRMED)
    assert order.context["commitment_share"] == 80
    invoice = Notification.objects.get(recipient=world.pi, kind=Kind.INVOICE_ISSUED)
    assert invoice.context["project"] == world.projects[0].code


def test_preferences_decide_delivery(world):
    services.set_preference(world.pi.user, world.pi, Kind.BALANCE_WARNING, Delivery.OFF)
    services.set_preference(world.pi.user, world.pi, Kind.APPLICATION_DECIDED, Delivery.DIGEST)
    services.set_preference(world.pi.user, world.pi, Kind.CALL_OPENED, Delivery.IMMEDIATE)
    services.collect(today=TODAY)
    got = {n.kind: (n.delivery, n.status) for n in Notification.objects.filter(recipient=world.pi)}
    assert got[Kind.BALANCE_WARNING][1] == Status.OFF
    assert got[Kind.APPLICATION_DECIDED] == (Delivery.DIGEST, Status.PENDING)
    assert got[Kind.CALL_OPENED] == (Delivery.IMMEDIATE, Status.PENDING)
    assert got[Kind.CALL_CLOSING] == (Delivery.DIGEST, Status.PENDING)  # the default
    assert got[Kind.BALANCE_BLOCK] == (Delivery.IMMEDIATE, Status.PENDING)  # the default


@pytest.mark.parametrize("kind", [Kind.BALANCE_BLOCK, Kind.INVOICE_ISSUED])
def test_blocks_and_invoices_cannot_be_turned_off(world, kind):
    with pytest.raises(ValidationError) as refused:
        services.set_preference(world.pi.user, world.pi, kind, Delivery.OFF)
    assert "kan ikke slås av" in str(refused.value.message_dict["delivery"])  # bokmål
    assert not NotificationPreference.objects.exists()
    services.set_preference(world.pi.user, world.pi, kind, Delivery.DIGEST)  # allowed
    assert NotificationPreference.objects.get().delivery == Delivery.DIGEST


def test_a_person_sets_their_own_and_operators_anyones(world):
    with pytest.raises(PermissionDenied):
        services.set_preference(world.other_pi.user, world.pi, Kind.CALL_OPENED, Delivery.OFF)
    services.set_preference(world.operator.user, world.pi, Kind.CALL_OPENED, Delivery.OFF)
    services.set_preference(SYSTEM, world.pi, Kind.CALL_CLOSING, Delivery.OFF)
    assert NotificationPreference.objects.filter(person=world.pi).count() == 2
    with pytest.raises(ValidationError) as bad:
        services.set_preference(world.pi.user, world.pi, "carrier_pigeon", Delivery.OFF)
    assert "carrier_pigeon" in str(bad.value)
    with pytest.raises(ValidationError):
        services.set_preference(world.pi.user, world.pi, Kind.CALL_OPENED, "hourly")


def test_preference_changes_are_audited(world):
    from regnekraft.audit.context import acting_as
    from regnekraft.audit.models import AuditEntry

    with acting_as(world.pi.user):
        services.set_preference(world.pi.user, world.pi, Kind.CALL_OPENED, Delivery.OFF)
    entry = AuditEntry.objects.get(object_type="notify.NotificationPreference")
    assert entry.actor == world.pi.user
    assert entry.after["delivery"] == Delivery.OFF


@pytest.mark.django_db
def test_collect_query_count_does_not_grow_with_the_events(django_assert_max_num_queries):
    w = build(2)
    with CaptureQueriesContext(connection) as small:
        small_result = services.collect(today=TODAY)
    Notification.objects.all().delete()
    add_projects(w, 6)  # four times as many projects and events (the same calls and orders)
    with django_assert_max_num_queries(len(small.captured_queries)):
        large_result = services.collect(today=TODAY)
    assert large_result["created"] > 2 * small_result["created"]


def test_only_recent_events_are_looked_at(world):
    import datetime as dt

    from django.utils import timezone

    from regnekraft.accounting.models import BalanceEvent, Invoice

    old = timezone.now() - dt.timedelta(days=10)
    BalanceEvent.objects.update(at=old)
    Invoice.objects.update(issued=old)
    services.collect(today=TODAY)
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert not kinds & {Kind.BALANCE_WARNING, Kind.BALANCE_BLOCK, Kind.INVOICE_ISSUED}
    assert Kind.APPLICATION_DECIDED in kinds


def test_a_call_or_expiry_outside_its_window_is_not_news(world):
    import datetime as dt

    services.collect(today=TODAY + dt.timedelta(days=60))  # the calls closed, the period over
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert not kinds & {Kind.CALL_OPENED, Kind.CALL_CLOSING, Kind.ALLOCATION_EXPIRING}


def test_thresholds_passed_together_are_told_once_at_the_highest(world):
    from decimal import Decimal

    from regnekraft.accounting.models import BalanceEvent

    allocation = world.allocations[0]
    BalanceEvent.objects.create(
        allocation=allocation,
        threshold=Decimal("0.5"),
        action=BalanceEvent.Action.WARN,
        used_share=Decimal("0.82"),
    )  # the import that passed 80 % passed 50 % too
    services.collect(today=TODAY)
    warnings = Notification.objects.filter(recipient=world.pi, kind=Kind.BALANCE_WARNING)
    assert [n.context["threshold"] for n in warnings] == [80]
    assert Notification.objects.filter(recipient=world.pi, kind=Kind.BALANCE_BLOCK).count() == 1
