"""The day sums (UsageDay) every page reads: kept by the importer in the import's transaction,
split by billing, and rebuildable from the records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regnekraft.accounting import aggregates
from regnekraft.accounting.importer import import_records
from regnekraft.accounting.invoicing import issue_invoices
from regnekraft.accounting.models import UsageDay, UsageRecord
from regnekraft.parties.models import Project
from tests import factories as f

from .conftest import World

pytestmark = pytest.mark.django_db

Q1 = (dt.date(2027, 1, 1), dt.date(2027, 4, 1))


def record(account: str, job: str, quantity: str, day: str = "2027-02-01", **extra) -> dict:
    return {
        "cluster": "betzy",
        "job_id": job,
        "account": account,
        "kind": "gpu",
        "gpu_type": "A100",
        "quantity": quantity,
        "start": f"{day}T08:00:00",
        "end": f"{day}T10:00:00",
        **extra,
    }


def per_key(model) -> dict[tuple, tuple]:
    """key -> (records, quantity, charge), summed over rows (billed and open alike)."""
    count = Count("id") if model is UsageRecord else Sum("records")
    rows = model.objects.values_list(*aggregates.KEY).annotate(
        n=count, q=Sum("quantity"), c=Sum("charge_nok")
    )
    return {tuple(r[:-3]): (r[-3], r[-2], r[-1]) for r in rows.order_by()}


def assert_days_match_records() -> None:
    assert per_key(UsageDay) == per_key(UsageRecord)


def test_an_import_adds_its_records_to_the_day_rows(world: World):
    alloc = f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records([record("nn1000k", "1", "10"), record("nn1000k", "2", "5")], source="t")
    import_records(
        [record("nn1000k", "3", "1"), record("nn1000k", "4", "2", day="2027-02-02")], source="t"
    )
    rows = sorted(UsageDay.objects.values_list("usage_date", "records", "quantity", "charge_nok"))
    assert [(str(d), n, q, c) for d, n, q, c in rows] == [
        ("2027-02-01", 3, Decimal("16.0000"), Decimal("115.2000")),
        ("2027-02-02", 1, Decimal("2.0000"), Decimal("14.4000")),
    ]
    assert UsageDay.objects.filter(allocation=alloc).count() == 2
    assert_days_match_records()


def test_duplicates_add_nothing(world: World):
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records([record("nn1000k", "1", "10")], source="t")
    import_records([record("nn1000k", "1", "10"), record("nn1000k", "2", "1")], source="t")
    assert UsageDay.objects.get().records == 2
    assert_days_match_records()


def test_a_refused_import_leaves_the_day_rows_as_they_were(world: World):
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records([record("nn1000k", "1", "10")], source="t")
    with pytest.raises(ValidationError):
        import_records([record("nn1000k", "2", "5"), record("nn1000k", "3", "-1")], source="t")
    assert UsageDay.objects.get().quantity == Decimal(10)
    assert_days_match_records()


def test_unallocated_use_has_day_rows_of_its_own(world: World):
    f.project(code="nn1001k")  # no allocation
    import_records([record("nn1001k", "1", "3"), record("nn1001k", "2", "4")], source="t")
    row = UsageDay.objects.get()
    assert (row.allocation_id, row.records, row.quantity) == (None, 2, Decimal(7))


def test_use_imported_after_its_day_was_billed_opens_a_new_row(world: World):
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records([record("nn1000k", "1", "10")], source="t")
    [q1] = issue_invoices(*Q1)
    import_records([record("nn1000k", "late", "3")], source="t")
    rows = sorted(UsageDay.objects.values_list("invoice", "quantity"), key=str)
    assert rows == [(q1.pk, Decimal(10)), (None, Decimal(3))]
    assert_days_match_records()


def test_rebuild_restores_lost_open_rows_and_keeps_billed_ones(world: World):
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records([record("nn1000k", "1", "10")], source="t")
    [q1] = issue_invoices(*Q1)
    import_records(
        [record("nn1000k", "2", "3"), record("nn1000k", "3", "1", day="2027-03-01")], source="t"
    )
    expected = sorted(UsageDay.objects.values_list("invoice", "usage_date", "quantity"), key=str)
    UsageDay.objects.filter(invoice__isnull=True).update(quantity=Decimal(999))  # drift
    UsageDay.objects.filter(usage_date="2027-03-01").delete()  # loss
    aggregates.rebuild()
    assert sorted(UsageDay.objects.values_list("invoice", "usage_date", "quantity"), key=str) == (
        expected
    )
    assert UsageDay.objects.filter(invoice=q1).get().quantity == Decimal(10)
    assert aggregates.rebuild() == {"open_rows_before": 2, "open_rows_after": 2}
    assert_days_match_records()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.lists(
                st.tuples(
                    st.sampled_from(["nn1000k", "nn1001k"]),
                    st.integers(0, 30),  # job id: repeats are duplicates (same quantity)
                    st.sampled_from(["2027-01-15", "2027-02-01", "2027-04-02"]),
                ),
                min_size=1,
                max_size=8,
            ),
            st.booleans(),  # invoice Q1 after this import
        ),
        min_size=1,
        max_size=5,
    )
)
def test_day_sums_equal_record_sums_whatever_happens(world: World, steps):
    """Whatever the imports (duplicates, days, unallocated use) and invoices between them, the
    day rows sum to exactly what the records hold. The database is shared by the examples:
    the invariant holds for all of it."""
    if not Project.objects.filter(code="nn1000k").exists():
        f.granted(f.project(code="nn1000k"), world.gpu, 400_000)
        f.project(code="nn1001k")
    for records, invoice in steps:
        batch = [record(a, f"{a}-{j}-{d}", f"{j * 1.2345:.4f}", day=d) for a, j, d in records]
        import_records(batch, source="t")
        if invoice:
            issue_invoices(*Q1)
        assert_days_match_records()


def test_the_rebuild_command_is_for_operators(world: World, capsys):
    import json

    from regnekraft.cli import main
    from regnekraft.parties.models import RoleKind

    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records([record("nn1000k", "1", "10")], source="t")
    UsageDay.objects.all().delete()
    f.person(None, RoleKind.PI, username="pi-only")
    assert main(["rebuild-usage-days", "--as", "pi-only", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "forbidden"
    assert not UsageDay.objects.exists()
    f.person(None, RoleKind.OPERATOR, username="op")
    assert main(["rebuild-usage-days", "--as", "op", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"open_rows_before": 0, "open_rows_after": 1}
    assert_days_match_records()


def test_an_import_inserts_its_threshold_events_at_once(world: World):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from regnekraft.accounting.models import BalanceEvent

    for i in range(3):
        f.granted(f.project(code=f"nn100{i}k"), world.gpu, 10)
    with CaptureQueriesContext(connection) as queries:
        import_records([record(f"nn100{i}k", str(i), "9") for i in range(3)], source="t")
    # 9 of 10 units: the 50 % and 80 % thresholds of three allocations, in one INSERT
    assert BalanceEvent.objects.count() == 6
    table = BalanceEvent._meta.db_table
    inserts = [q for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"')]
    assert len(inserts) == 1
