from decimal import Decimal

import pytest

from regnekraft.accounting.balances import balance, update_balances
from regnekraft.accounting.importer import import_records
from regnekraft.accounting.models import BalanceEvent
from regnekraft.allocation.models import AllocationStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


def use(job: int, quantity: str) -> None:
    import_records(
        [
            {
                "cluster": "betzy",
                "job_id": str(job),
                "account": "nn1000k",
                "kind": "gpu",
                "gpu_type": "A100",
                "quantity": quantity,
                "start": "2027-02-01T08:00:00",
                "end": "2027-02-01T10:00:00",
            }
        ],
        source="test",
    )


@pytest.fixture
def alloc(world):
    return f.granted(f.project(code="nn1000k"), world.gpu, 1000)


def events(alloc):
    return sorted((e.threshold, e.action) for e in BalanceEvent.objects.filter(allocation=alloc))


def test_balance_figures(alloc):
    use(1, "250.5")
    b = balance(alloc)
    assert (b.allocated, b.used, b.remaining, b.used_share) == (
        Decimal(1000),
        Decimal("250.5"),
        Decimal("749.5"),
        Decimal("0.2505"),
    )


def test_warnings_once_each_then_block_at_full_use(alloc):
    use(1, "499.9999")
    assert events(alloc) == []
    use(2, "0.0001")
    assert events(alloc) == [(Decimal("0.5"), "warn")]
    use(3, "350")
    assert events(alloc) == [(Decimal("0.5"), "warn"), (Decimal("0.8"), "warn")]
    alloc.refresh_from_db()
    assert alloc.status == AllocationStatus.ACTIVE
    use(4, "150")
    assert events(alloc) == [
        (Decimal("0.5"), "warn"),
        (Decimal("0.8"), "warn"),
        (Decimal("1"), "block"),
    ]
    alloc.refresh_from_db()
    assert alloc.status == AllocationStatus.BLOCKED
    assert "used 1000.00 of 1000.00 GPU-hours" in alloc.status_reason
    assert update_balances() == []
    use(5, "10")
    assert len(events(alloc)) == 3


def test_a_jump_past_several_thresholds_records_each(alloc):
    result = import_records(
        [
            {
                "cluster": "betzy",
                "job_id": "1",
                "account": "nn1000k",
                "kind": "gpu",
                "gpu_type": "A100",
                "quantity": "1200",
                "start": "2027-02-01T08:00:00",
                "end": "2027-02-01T10:00:00",
            }
        ],
        source="test",
    )
    assert [(e["threshold"], e["action"]) for e in result.balance_events] == [
        (Decimal("0.5"), "warn"),
        (Decimal("0.8"), "warn"),
        (Decimal("1"), "block"),
    ]


def test_thresholds_come_from_policy_settings(alloc):
    f.policy(warning_thresholds=[0.9])
    use(1, "950")
    assert events(alloc) == [(Decimal("0.9"), "warn")]
    alloc.refresh_from_db()
    assert alloc.status == AllocationStatus.ACTIVE
