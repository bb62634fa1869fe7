"""Balances per allocation, and the actions at the warning thresholds.

Used = the sum of the quantities of the usage records attached to the allocation, in the
class's unit (read from the maintained day sums, :mod:`.aggregates`). At every threshold of
``PolicySettings.warning_thresholds`` (default 0.5, 0.8, 1.0) that the used share reaches,
one :class:`BalanceEvent` is recorded, once. A threshold of 1.0 or more records the action
"block" and sets the allocation's status to blocked with a reason; the Slurm bridge enforces
blocked allocations on the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import transaction

from regnekraft.allocation.models import Allocation, AllocationStatus, PolicySettings

from .aggregates import use_and_charges
from .models import BalanceEvent

BLOCK_AT = Decimal(1)
SHARE_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True)
class Balance:
    allocation_id: int
    project: str
    resource_class: str
    unit: str
    allocated: Decimal
    used: Decimal
    status: str

    @property
    def remaining(self) -> Decimal:
        return self.allocated - self.used

    @property
    def used_share(self) -> Decimal:
        if self.allocated <= 0:
            return Decimal(0)
        # Rounded down, so a share shown as 100 % has really reached it.
        return (self.used / self.allocated).quantize(SHARE_QUANTUM, rounding=ROUND_DOWN)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allocation": self.allocation_id,
            "project": self.project,
            "resource_class": self.resource_class,
            "unit": self.unit,
            "allocated": self.allocated,
            "used": self.used,
            "remaining": self.remaining,
            "used_share": self.used_share,
            "status": self.status,
        }


def used_by_allocation(allocation_ids: Iterable[int] | None = None) -> dict[int, Decimal]:
    return {a: used for a, (used, _) in use_and_charges(allocation_ids).items()}


def balances(allocations: Iterable[Allocation] | None = None) -> list[Balance]:
    """The balance of each allocation (all of them by default)."""
    allocs = (
        list(allocations)
        if allocations is not None
        else list(Allocation.objects.select_related("project", "resource_class__system"))
    )
    used = used_by_allocation(a.pk for a in allocs)
    return [
        Balance(
            a.pk,
            a.project.code,
            str(a.resource_class),
            a.resource_class.unit,
            a.amount,
            used.get(a.pk, Decimal(0)),
            a.status,
        )
        for a in allocs
    ]


def balance(allocation: Allocation) -> Balance:
    return balances([allocation])[0]


def thresholds() -> list[Decimal]:
    return sorted(Decimal(str(t)) for t in PolicySettings.current().warning_thresholds)


@transaction.atomic
def update_balances(allocation_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Record the threshold events the allocations' use has reached; block at 100 %.

    Idempotent: a threshold already recorded for an allocation is never recorded again, and a
    blocked allocation stays blocked. Returns the events recorded now.
    """
    ids = None if allocation_ids is None else list(allocation_ids)
    qs = Allocation.objects.select_related("project", "resource_class__system")
    allocs = list(qs.filter(pk__in=ids) if ids is not None else qs)
    levels = thresholds()
    done: dict[int, set[Decimal]] = {}
    for a_id, t in (
        BalanceEvent.objects.all()
        if ids is None
        else BalanceEvent.objects.filter(allocation_id__in=ids)
    ).values_list("allocation_id", "threshold"):
        done.setdefault(a_id, set()).add(Decimal(t))
    recorded: list[dict[str, Any]] = []
    events: list[BalanceEvent] = []  # inserted at once: an import can cross hundreds
    for b, alloc in zip(balances(allocs), allocs, strict=True):
        share = b.used_share
        for level in levels:
            if (
                b.allocated <= 0
                or b.used < level * b.allocated
                or level in done.get(b.allocation_id, set())
            ):
                continue
            action = BalanceEvent.Action.BLOCK if level >= BLOCK_AT else BalanceEvent.Action.WARN
            events.append(
                BalanceEvent(allocation=alloc, threshold=level, action=action, used_share=share)
            )
            recorded.append(
                {
                    "allocation": b.allocation_id,
                    "project": b.project,
                    "resource_class": b.resource_class,
                    "threshold": level,
                    "action": action,
                    "used_share": share,
                }
            )
            if action == BalanceEvent.Action.BLOCK and alloc.status == AllocationStatus.ACTIVE:
                alloc.status = AllocationStatus.BLOCKED
                alloc.status_reason = (
                    f"used {b.used:.2f} of {b.allocated:.2f} {b.unit} "
                    f"({share:.0%}), threshold {level:.0%}"
                )[:200]
                alloc.save(update_fields=["status", "status_reason"])
    BalanceEvent.objects.bulk_create(events)
    return recorded


def reopen_resized(sender: Any, allocation: Allocation, **_: Any) -> None:
    """Receiver of ``allocation.signals.allocation_resized``."""
    reopen(allocation)


def reopen(allocation: Allocation) -> list[dict[str, Any]]:
    """After an allocation grew or got longer: forget the thresholds its use no longer reaches,
    lift a block the use no longer justifies, and record what it still reaches."""
    b = balance(allocation)
    for event in BalanceEvent.objects.filter(allocation=allocation):
        if b.allocated > 0 and b.used < Decimal(event.threshold) * b.allocated:
            event.delete()
    if (
        allocation.status == AllocationStatus.BLOCKED
        and not BalanceEvent.objects.filter(
            allocation=allocation, action=BalanceEvent.Action.BLOCK
        ).exists()
    ):
        allocation.status = AllocationStatus.ACTIVE
        allocation.status_reason = "block lifted: the allocation was increased or extended"
        allocation.save(update_fields=["status", "status_reason"])
    return update_balances([allocation.pk])
