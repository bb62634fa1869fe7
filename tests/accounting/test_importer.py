import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from regnekraft.accounting.balances import balance
from regnekraft.accounting.importer import ImportRefused, SwfOptions, import_records, import_usage
from regnekraft.accounting.invoicing import preview_invoice
from regnekraft.accounting.models import BalanceEvent, ImportBatch, UsageRecord
from tests import factories as f

from .conftest import usage_row, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def granted_gpu(world):
    proj = f.project(code="nn1000k")
    return f.granted(proj, world.gpu, 1000)


def test_csv_import_attaches_and_rates(tmp_path, world, granted_gpu):
    path = write_csv(
        tmp_path / "u.csv", [usage_row("nn1000k", 1, "10"), usage_row("nn1000k", 2, "2.5")]
    )
    result = import_usage(path)
    assert (result.read, result.new, result.duplicate, result.unallocated) == (2, 2, 0, 0)
    rec = UsageRecord.objects.get(job_id="1")
    assert rec.allocation == granted_gpu
    assert rec.unit_price_nok == Decimal("7.2")
    assert rec.charge_nok == Decimal("72")
    assert rec.usage_date == dt.date(2027, 2, 1)
    assert balance(granted_gpu).used == Decimal("12.5")


def test_importing_the_same_file_three_times_equals_importing_it_once(tmp_path, world, granted_gpu):
    rows = [usage_row("nn1000k", n, "100") for n in range(6)]  # 600 of 1000: crosses 50 %
    path = write_csv(tmp_path / "u.csv", rows)
    org = granted_gpu.project.organisation
    period = (dt.date(2027, 1, 1), dt.date(2027, 7, 1))
    first = import_usage(path)
    after_one = (balance(granted_gpu), preview_invoice(org, *period), BalanceEvent.objects.count())
    again = [import_usage(path) for _ in range(2)]
    assert first.new == 6
    assert [(r.new, r.duplicate) for r in again] == [(0, 6), (0, 6)]
    assert UsageRecord.objects.count() == 6
    assert (
        balance(granted_gpu),
        preview_invoice(org, *period),
        BalanceEvent.objects.count(),
    ) == after_one
    assert after_one[1]["total_nok"] == Decimal("4320.00")


def test_a_file_with_one_bad_line_is_refused_whole(tmp_path, world, granted_gpu):
    rows = [usage_row("nn1000k", n, "1") for n in range(30_000)]  # more than one write batch
    rows[25_000][7] = "lots"
    path = write_csv(tmp_path / "u.csv", rows)
    with pytest.raises(ImportRefused) as exc:
        import_usage(path)
    assert "line 25002: quantity 'lots' is not a number" in str(exc.value)
    assert [e.line for e in exc.value.line_errors] == [25002]
    assert UsageRecord.objects.count() == 0
    assert ImportBatch.objects.count() == 0


def test_refusal_names_every_bad_line(tmp_path, world, granted_gpu):
    rows = [
        usage_row("nn1000k", 1, "1"),
        usage_row("nobody", 2, "1"),
        usage_row("nn1000k", 3, "1"),
        usage_row("nn1000k", 4, "1", kind="tpu"),
        usage_row("nn1000k", 5, "-1"),
    ]
    rows[2][9] = "2027-01-01T00:00:00"  # end before start
    with pytest.raises(ImportRefused) as exc:
        import_usage(write_csv(tmp_path / "u.csv", rows))
    messages = {e.line: e.message for e in exc.value.line_errors}
    assert set(messages) == {3, 4, 5, 6}
    assert "unknown account (project code) 'nobody'" in messages[3]
    assert "is before start" in messages[4]
    assert "no resource class tpu A100 on system 'betzy'" in messages[5]
    assert "must be a number from 0" in messages[6]
    assert UsageRecord.objects.count() == 0


def test_a_bad_header_is_refused(tmp_path, world):
    path = write_csv(tmp_path / "u.csv", [["betzy", "1"]], header=["cluster", "jobid"])
    with pytest.raises(ImportRefused, match="line 1: unknown column"):
        import_usage(path)


def test_usage_without_allocation_is_kept_unallocated_and_reported(tmp_path, world, granted_gpu):
    f.project(code="nn2000k")
    rows = [usage_row("nn2000k", 1, "5"), usage_row("nn1000k", 2, "5", day=dt.date(2027, 8, 1))]
    result = import_usage(write_csv(tmp_path / "u.csv", rows))
    assert result.unallocated == 2
    assert {e["account"] for e in result.unallocated_examples} == {"nn1000k", "nn2000k"}
    assert UsageRecord.objects.filter(allocation__isnull=True, charge_nok=0).count() == 2


def test_price_list_switch_applies_by_usage_date(tmp_path, world, granted_gpu):
    f.price_list("A", valid_from=dt.date(2027, 3, 1), prices={"gpu": "6"})
    rows = [
        usage_row("nn1000k", 1, "10", day=dt.date(2027, 2, 28)),
        usage_row("nn1000k", 2, "10", day=dt.date(2027, 3, 1)),
    ]
    import_usage(write_csv(tmp_path / "u.csv", rows))
    assert dict(UsageRecord.objects.values_list("job_id", "charge_nok")) == {
        "1": Decimal("72"),
        "2": Decimal("60"),
    }


def test_json_and_jsonl_formats(tmp_path, world, granted_gpu):
    record = {
        "source": "slurm",
        "cluster": "betzy",
        "job_id": "7",
        "step": "batch",
        "account": "nn1000k",
        "kind": "gpu",
        "gpu_type": "A100",
        "quantity": 3,
        "start": "2027-02-01T08:00:00+01:00",
        "end": "2027-02-01T09:00:00Z",
        "user": "bob",
    }
    (tmp_path / "u.json").write_text(json.dumps({"records": [record]}))
    assert import_usage(tmp_path / "u.json").new == 1
    lines = [
        json.dumps(record | {"job_id": "8"}),
        "",
        json.dumps(record | {"job_id": "9", "quantity": "x"}),
    ]
    (tmp_path / "u.jsonl").write_text("\n".join(lines))
    with pytest.raises(ImportRefused, match="line 3: quantity 'x'"):
        import_usage(tmp_path / "u.jsonl")
    assert UsageRecord.objects.count() == 1


def test_import_records_for_the_slurm_bridge_reports_progress(world, granted_gpu):
    calls = []
    record = {
        "cluster": "betzy",
        "job_id": "1",
        "account": "nn1000k",
        "kind": "gpu",
        "gpu_type": "A100",
        "quantity": "1",
        "start": "2027-02-01T08:00:00",
        "end": "2027-02-01T09:00:00",
    }
    result = import_records(
        [record, record | {"job_id": "2"}],
        source="sacct",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.new == 2 and calls[-1] == (2, 2)
    assert set(UsageRecord.objects.values_list("source", flat=True)) == {"sacct"}


def test_same_job_from_two_sources_is_two_records_but_same_key_is_one(world, granted_gpu):
    record = {
        "cluster": "betzy",
        "job_id": "1",
        "account": "nn1000k",
        "kind": "gpu",
        "gpu_type": "A100",
        "quantity": "1",
        "start": "2027-02-01T08:00:00",
        "end": "2027-02-01T09:00:00",
    }
    import_records([record, record], source="a")
    import_records([record], source="b")
    assert UsageRecord.objects.count() == 2


def test_swf_trace_becomes_core_hours(traces, world):
    proj = f.project(code="nn3000k")
    alloc = f.granted(proj, world.cpu, 3_000_000, period=(dt.date(2027, 1, 1), dt.date(2028, 1, 1)))
    options = SwfOptions(
        system="betzy",
        kind="cpu",
        default_project="nn3000k",
        start=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    result = import_usage(traces / "hpc2n-first3171.swf", swf=options)
    assert result.read + result.skipped == 3170  # 3,170 job lines and one blank line
    assert result.read > 3000
    first = UsageRecord.objects.get(job_id="1")
    assert first.quantity == (Decimal(30 * 31405) / Decimal(3600)).quantize(
        Decimal("0.0001")
    )  # 30 procs x 31,405 s
    assert first.source == "swf:hpc2n-first3171"
    assert first.allocation == alloc
    assert import_usage(traces / "hpc2n-first3171.swf", swf=options).new == 0


def test_swf_unmapped_user_is_refused(tmp_path, world):
    f.project(code="nn3000k")
    trace = "; UnixStartTime: 1800000000\n1 0 10 3600 4 -1 -1 4 -1 -1 1 5 2 -1 -1 1 -1 -1\n"
    (tmp_path / "t.swf").write_text(trace)
    with pytest.raises(ImportRefused, match="line 2: SWF user 5 / group 2 is not mapped"):
        import_usage(tmp_path / "t.swf", swf=SwfOptions(system="betzy", users={"6": "nn3000k"}))
    result = import_usage(
        tmp_path / "t.swf", swf=SwfOptions(system="betzy", groups={"2": "nn3000k"})
    )
    assert result.new == 1
    assert UsageRecord.objects.get().quantity == Decimal("4")


def test_gzipped_swf_trace(traces, world):
    f.project(code="nn4000k")
    options = SwfOptions(
        system="betzy", default_project="nn4000k", start=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    )
    result = import_usage(traces / "NASA-iPSC-1993-3.1-cln.swf.gz", swf=options)
    assert result.source == "swf:NASA-iPSC-1993-3.1-cln"
    assert result.read + result.skipped == 18_239
    assert result.unallocated == result.read  # no allocation: stored, reported, not charged


def test_out_of_range_times_and_charges_are_refused(tmp_path, world, granted_gpu):
    rows = [usage_row("nn1000k", 1, "1"), usage_row("nn1000k", 2, "999999999999")]
    rows[0][8] = "0001-01-01T00:00:00"
    with pytest.raises(ImportRefused) as exc:
        import_usage(write_csv(tmp_path / "u.csv", rows))
    messages = {e.line: e.message for e in exc.value.line_errors}
    assert "outside 1970-2200" in messages[2]
    assert "larger than a record can hold" in messages[3]


def test_swf_mapping_file_and_cluster_override(tmp_path, world):
    f.project(code="nn3000k")
    (tmp_path / "t.swf").write_text(
        "; UnixStartTime: 1800000000\n1 0 10 3600 4 -1 -1 4 -1 -1 1 5 2 -1 -1 1 -1 -1\n"
    )
    (tmp_path / "map.json").write_text(
        json.dumps({"users": {"5": "nn3000k"}, "start": "2027-01-01T00:00:00"})
    )
    with pytest.raises(ValidationError, match="needs a mapping"):
        import_usage(tmp_path / "t.swf", cluster="betzy")
    result = import_usage(tmp_path / "t.swf", swf_mapping=tmp_path / "map.json", cluster="betzy")
    assert result.new == 1
    assert UsageRecord.objects.get().usage_date == dt.date(2027, 1, 1)


@pytest.fixture
def forked(monkeypatch):
    """Use the two-process path (validation in a forked child) even for small files."""
    from regnekraft.accounting import importer

    monkeypatch.setattr(importer, "PARALLEL_MIN_LINES", 1)


def test_parallel_path_imports_the_same_and_stays_idempotent(tmp_path, world, granted_gpu, forked):
    f.project(code="nn2000k")
    rows = [usage_row("nn1000k", n, "10") for n in range(45_000)] + [usage_row("nn2000k", "x", "1")]
    path = write_csv(tmp_path / "u.csv", rows)
    first = import_usage(path)
    assert (first.read, first.new, first.unallocated) == (45_001, 45_001, 1)
    assert first.unallocated_examples[0]["account"] == "nn2000k"
    assert [e["threshold"] for e in first.balance_events] == [
        Decimal("0.5"),
        Decimal("0.8"),
        Decimal("1"),
    ]
    assert balance(granted_gpu).used == Decimal(450_000)
    assert import_usage(path).new == 0
    assert UsageRecord.objects.count() == 45_001


def test_parallel_path_refuses_a_bad_line_and_writes_nothing(tmp_path, world, granted_gpu, forked):
    rows = [usage_row("nn1000k", n, "1") for n in range(45_000)]
    rows[44_000][4] = "nobody"
    with pytest.raises(ImportRefused, match="line 44002: unknown account"):
        import_usage(write_csv(tmp_path / "u.csv", rows))
    assert UsageRecord.objects.count() == 0
