"""The bridge's state in the database: the stores, the migration that takes the old JSON files
over, the watermark moving in the usage's transaction, and the worker's scheduled runs."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.db import connection

from regnekraft.accounting import slurm_usage
from regnekraft.accounting.models import ImportBatch, UsageRecord
from regnekraft.slurm import scheduled
from regnekraft.slurm.ingest import IngestResult, parse_parsable
from regnekraft.slurm.models import IngestWatermark, SyncRun, UsagePeriod
from regnekraft.slurm.service import RunFailed, UsageRead, UsageRequest
from regnekraft.slurm.state import (
    STATE_DIR_ENV,
    UsagePeriodsFile,
    WatermarkFile,
    usage_period_store,
    watermark_store,
)
from regnekraft.slurm.stores import DatabaseUsagePeriods, DatabaseWatermarks
from tests import factories as f

from .test_core import SACCT

migration = importlib.import_module("regnekraft.slurm.migrations.0002_state_in_database")


@pytest.fixture(params=["file", "database"])
def watermarks(request, tmp_path):
    if request.param == "file":
        return WatermarkFile(tmp_path / "ingest.json")
    request.getfixturevalue("db")
    return DatabaseWatermarks()


@pytest.fixture(params=["file", "database"])
def periods(request, tmp_path):
    if request.param == "file":
        return UsagePeriodsFile(tmp_path / "usage-periods.json")
    request.getfixturevalue("db")
    return DatabaseUsagePeriods()


def test_both_watermark_stores_keep_the_same_rules(watermarks):
    assert watermarks.watermark("c1") is None and watermarks.status("c1") == {}
    watermarks.failed("c1", "slurmdbd down", at=900)
    assert watermarks.watermark("c1") is None
    assert watermarks.status("c1")["last_error"] == "slurmdbd down"
    watermarks.advance("c1", 1000, at=1000, records=4, unknown_accounts={"ghost": 1})
    status = watermarks.status("c1")
    assert watermarks.watermark("c1") == 1000 and status["last_error"] is None
    assert status["last_records"] == 4 and status["last_unknown_accounts"] == {"ghost": 1}
    watermarks.failed("c1", "sacct: error", at=2000)
    assert watermarks.watermark("c1") == 1000 and watermarks.status("c1")["last_run"] == 2000
    watermarks.advance("c1", 500, at=2100)  # never backwards
    assert watermarks.watermark("c1") == 1000
    assert watermarks.watermark("c2") is None


def test_both_usage_period_stores_keep_the_same_rules(periods):
    assert periods.known("c1") == {}
    periods.record("c1", {"nn1001k": "2026-04-01", "met001": "2026-04-01"})
    periods.record("c1", {"nn1001k": "2026-10-01"})
    assert periods.known("c1") == {"nn1001k": "2026-10-01", "met001": "2026-04-01"}
    assert periods.known("c2") == {}


@pytest.mark.django_db
def test_with_django_set_up_the_state_is_in_the_database(tmp_path):
    assert isinstance(watermark_store(tmp_path), DatabaseWatermarks)
    assert isinstance(watermark_store(tmp_path, tmp_path / "old.json"), DatabaseWatermarks)
    assert isinstance(usage_period_store(tmp_path), DatabaseUsagePeriods)
    usage_period_store(tmp_path).record("c1", {"nn1001k": "2026-04-01"})
    assert UsagePeriod.objects.get().period == dt.date(2026, 4, 1)
    assert not list(tmp_path.iterdir())  # no file written


# --- the migration ------------------------------------------------------------------------


def _old_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ingest.json").write_text(
        json.dumps(
            {
                "betzy": {
                    "ingested_up_to": 1_795_000_000,
                    "last_run": 1_795_000_000,
                    "last_error": None,
                    "last_records": 12,
                    "last_unknown_accounts": {"ghost": 2},
                },
                "saga": {"last_run": 1_794_000_000, "last_error": "slurmdbd down"},
                "broken": {"ingested_up_to": "yesterday"},
            }
        )
    )
    (folder / "usage-periods.json").write_text(
        json.dumps(
            {
                "betzy": {"usage_periods": {"nn1001k": "2026-04-01", "bad01": "1 April"}},
                "saga": {"usage_periods": {"nn2002k": "2025-10-01"}},
            }
        )
    )


@pytest.mark.django_db
def test_the_migration_imports_the_old_state_files(tmp_path, caplog):
    _old_files(tmp_path)
    IngestWatermark.objects.create(cluster="fram", ingested_up_to=None, last_error="kept")
    migration.import_state_files(django_apps, None, folder=tmp_path)
    betzy = DatabaseWatermarks().status("betzy")
    assert betzy == {
        "ingested_up_to": 1_795_000_000,
        "last_run": 1_795_000_000,
        "last_error": None,
        "last_records": 12,
        "last_unknown_accounts": {"ghost": 2},
    }
    assert DatabaseWatermarks().watermark("saga") is None
    assert DatabaseWatermarks().status("saga")["last_error"] == "slurmdbd down"
    assert not IngestWatermark.objects.filter(cluster="broken").exists()
    assert "watermark of broken not imported" in caplog.text
    assert DatabaseUsagePeriods().known("betzy") == {"nn1001k": "2026-04-01"}
    assert "bad01 not imported" in caplog.text
    assert DatabaseUsagePeriods().known("saga") == {"nn2002k": "2025-10-01"}
    # a second run (or rows already there) changes nothing
    DatabaseWatermarks().advance("betzy", 1_796_000_000, at=1_796_000_000)
    migration.import_state_files(django_apps, None, folder=tmp_path)
    assert DatabaseWatermarks().watermark("betzy") == 1_796_000_000
    assert IngestWatermark.objects.count() == 3 and UsagePeriod.objects.count() == 2


@pytest.mark.django_db
def test_the_migration_does_nothing_without_files(tmp_path):
    migration.import_state_files(django_apps, None, folder=tmp_path / "nothing-here")
    (tmp_path / "ingest.json").write_text("{not json")
    migration.import_state_files(django_apps, None, folder=tmp_path)
    assert not IngestWatermark.objects.exists() and not UsagePeriod.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_reads_the_state_folder_and_reverses(tmp_path, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    folder = tmp_path / "state"
    _old_files(folder)
    monkeypatch.setenv(STATE_DIR_ENV, str(folder))
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("slurm")
    try:
        executor.migrate([("slurm", "0001_initial")])
        assert "slurm_ingestwatermark" not in connection.introspection.table_names()
        executor = MigrationExecutor(connection)
        executor.migrate([("slurm", "0002_state_in_database")])
        assert DatabaseWatermarks().watermark("betzy") == 1_795_000_000
        assert DatabaseUsagePeriods().known("saga") == {"nn2002k": "2025-10-01"}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)


# --- the watermark moves with the usage ---------------------------------------------------


@pytest.fixture
def platform(db):
    """A catalogue system ``c1`` whose project ``nn1001k`` has a grant over the sample jobs."""
    system = f.system("C1")
    assert system.slug == "c1"
    cpu = f.resource_class(system, units=1000)
    for category in ("A", "0"):  # a grant this small is a category-0 project
        f.price_list(category, valid_from=dt.date(2020, 1, 1))
    pi = f.person(f.organisation(), "pi")
    project = f.project(pi.organisation, pi=pi, code="nn1001k")
    f.granted(project, cpu, 1000, period=(dt.date(2026, 10, 1), dt.date(2027, 4, 1)))
    return system


def _read(store) -> UsageRead:
    records = parse_parsable(SACCT, {"nn1001k": "nn1001k"})
    assert any(r["chargeable"] and r["final"] and r["project"] for r in records)
    result = IngestResult("c1", 1_795_400_000, 1_795_500_000, records)
    return UsageRead(result, store, store.watermark("c1"))


def test_usage_and_watermark_are_stored_together(platform):
    store = DatabaseWatermarks()
    store.advance("c1", 1_795_400_000, at=1_795_400_000)
    stored = slurm_usage.store_and_advance("c1", _read(store))
    assert stored["new"] >= 1 and UsageRecord.objects.filter(job_id="7").exists()
    assert store.watermark("c1") == 1_795_500_000


def test_a_failure_moving_the_watermark_stores_no_usage(platform, monkeypatch):
    store = DatabaseWatermarks()
    store.advance("c1", 1_795_400_000, at=1_795_400_000)
    read = _read(store)

    def crash(*args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(DatabaseWatermarks, "advance", crash)
    with pytest.raises(RuntimeError, match="died"):
        slurm_usage.store_and_advance("c1", read)
    assert not UsageRecord.objects.exists() and not ImportBatch.objects.exists()
    assert store.watermark("c1") == 1_795_400_000


def test_a_failure_mid_store_leaves_the_watermark_where_it_was(platform, monkeypatch):
    from regnekraft.accounting import importer

    store = DatabaseWatermarks()
    store.advance("c1", 1_795_400_000, at=1_795_400_000)

    def crash(*args, **kwargs):
        assert UsageRecord.objects.exists()  # the usage rows are written by now
        raise RuntimeError("the process died while updating balances")

    monkeypatch.setattr(importer.balances, "update_balances", crash)
    with pytest.raises(RuntimeError, match="died"):
        slurm_usage.store_and_advance("c1", _read(store))
    assert not UsageRecord.objects.exists()
    assert store.watermark("c1") == 1_795_400_000


def test_a_refused_store_keeps_the_watermark_and_says_why(platform, monkeypatch):
    from django.core.exceptions import ValidationError

    store = DatabaseWatermarks()
    store.advance("c1", 1_795_400_000, at=1_795_400_000)

    def refuse(*args, **kwargs):
        raise ValidationError({"records": "line 1: no such project"})

    monkeypatch.setattr(slurm_usage, "store_records", refuse)
    with pytest.raises(RunFailed, match="usage not stored: line 1: no such project"):
        slurm_usage._store(UsageRequest(cluster="c1"), _read(store))
    assert store.watermark("c1") == 1_795_400_000
    assert "not stored: line 1" in store.status("c1")["last_error"]
    run = SyncRun.objects.get()
    assert (run.mode, run.ok) == ("ingest", False)


@pytest.mark.django_db
def test_an_old_watermark_file_is_taken_over_once(tmp_path):
    from regnekraft.slurm.stores import import_watermark_file

    _old_files(tmp_path)
    with pytest.raises(ValueError, match="broken: ingested_up_to is not epoch seconds"):
        import_watermark_file(tmp_path / "ingest.json")
    (tmp_path / "ingest.json").write_text(json.dumps({"betzy": {"ingested_up_to": 1000}}))
    assert import_watermark_file(tmp_path / "ingest.json") == ["betzy"]
    assert DatabaseWatermarks().watermark("betzy") == 1000
    (tmp_path / "ingest.json").write_text(json.dumps({"betzy": {"ingested_up_to": 5}}))
    assert import_watermark_file(tmp_path / "ingest.json") == []  # the database's is kept
    assert DatabaseWatermarks().watermark("betzy") == 1000


# --- the worker's runs --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("run", ["apply", "ingest"])
def test_a_cluster_without_a_connection_is_skipped(run, tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(scheduled.CONNECTIONS_ENV, raising=False)
    call = scheduled.scheduled_apply if run == "apply" else slurm_usage.scheduled_ingest
    path = tmp_path / "connections.json"
    assert call("betzy") == {"skipped": f"no connection for betzy in {path}"}
    path.write_text(json.dumps({"saga": {"ssh": "admin@saga"}}))
    assert call("betzy") == {"skipped": f"no connection for betzy in {path}"}
    path.write_text(json.dumps({"betzy": {"sshh": "typo"}}))
    with pytest.raises(RunFailed, match=f"Slurm {run} on betzy failed: .*unknown key.*sshh"):
        call("betzy")
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_a_failing_cluster_raises_naming_it(tmp_path, monkeypatch):
    f.resource_class(f.system("Betzy"), units=10)
    (tmp_path / "connections.json").write_text(
        json.dumps({"betzy": {"slurm_conf": str(tmp_path / "missing-slurm.conf"), "timeout": 5}})
    )
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "missing-slurm.conf"))
    with pytest.raises(RunFailed, match="Slurm apply on betzy failed: "):
        scheduled.scheduled_apply("betzy")
    with pytest.raises(RunFailed, match="Slurm ingest on betzy failed: "):
        slurm_usage.scheduled_ingest("betzy")
    assert set(SyncRun.objects.values_list("mode", "ok")) == {("apply", False), ("ingest", False)}
    assert DatabaseWatermarks().watermark("betzy") is None
    assert DatabaseWatermarks().status("betzy")["last_error"]


@pytest.mark.django_db
def test_operators_see_the_state_read_only_in_the_admin(client):
    operator = f.person(f.organisation(), "operator")
    operator.user.is_staff = operator.user.is_superuser = True
    operator.user.save()
    client.force_login(operator.user)
    DatabaseWatermarks().advance("betzy", 1_795_000_000, at=1_795_000_000)
    DatabaseUsagePeriods().record("betzy", {"nn1001k": "2026-04-01"})
    for model, shown in (("ingestwatermark", "betzy"), ("usageperiod", "nn1001k")):
        page = client.get(f"/admin/slurm/{model}/")
        assert page.status_code == 200 and shown in page.content.decode()
        assert client.get(f"/admin/slurm/{model}/add/").status_code == 403
