"""The worker's Slurm runs on the real cluster: ``scheduled_apply`` and ``scheduled_ingest``
with nothing but the cluster's name, reaching Slurm through the connections file, keeping
their state (usage periods, watermark) and runs in the database."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from regnekraft.accounting import slurm_usage
from regnekraft.accounting.models import UsageRecord
from regnekraft.slurm import scheduled
from regnekraft.slurm.ingest import DEFAULT_OVERLAP_S, ingest_window
from regnekraft.slurm.models import SyncRun
from regnekraft.slurm.runner import CommandRunner
from regnekraft.slurm.spec import ClusterSpec
from regnekraft.slurm.state import STATE_DIR_ENV
from regnekraft.slurm.stores import DatabaseUsagePeriods, DatabaseWatermarks
from regnekraft.slurm.sync import SacctmgrBackend, apply
from tests import factories as f

from .desired import description

pytestmark = [pytest.mark.slurm, pytest.mark.django_db]

APART = "rksched"  # a cluster of its own in Slurm accounting: the platform's tree for apply


def _system(slug: str, code: str, today: dt.date):
    system = f.system(f"System {slug}", tier=1)
    system.slug = slug
    system.save()
    cpu = f.resource_class(system, units=4)
    pi = f.person(f.organisation(name=f"Uni {slug}"), "pi", username=f"pi{slug}")
    project = f.project(pi.organisation, pi=pi, code=code)
    f.granted(
        project, cpu, 10_000, period=(today - dt.timedelta(days=10), today + dt.timedelta(days=170))
    )
    return system


@pytest.fixture
def connections(slurm_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(scheduled.CONNECTIONS_ENV, raising=False)
    conf = {"slurm_conf": str(slurm_cluster.slurm_conf)}
    name = slurm_cluster.config.cluster_name
    (tmp_path / "connections.json").write_text(json.dumps({APART: conf, name: conf}))
    today = dt.date.today()
    for category in ("A", "0"):
        f.price_list(category, valid_from=today - dt.timedelta(days=400))
    return today


def test_scheduled_apply_syncs_the_platform_once(slurm_cluster, connections):
    slurm_cluster.run(["sacctmgr", "-i", "add", "cluster", APART], check=False)
    _system(APART, "rks1000k", connections)
    first = scheduled.scheduled_apply(APART)
    assert first["cluster"] == APART and first["errors"] == []
    assert first["applied"] == first["operations"] > 0
    assert any("rks1000k" in change for change in first["changes"])
    again = scheduled.scheduled_apply(APART)
    assert (again["operations"], again["applied"]) == (0, 0)
    runs = SyncRun.objects.filter(cluster=APART, mode="apply")
    assert runs.count() == 2 and all(run.ok for run in runs)
    first_day = (connections - dt.timedelta(days=10)).isoformat()
    assert DatabaseUsagePeriods().known(APART) == {"rks1000k": first_day}


def test_scheduled_ingest_stores_once_and_moves_the_watermark_with_the_usage(
    slurm_cluster, connections, monkeypatch
):
    name = slurm_cluster.config.cluster_name
    runner = CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf))
    apply(ClusterSpec.from_description(description(name)), SacctmgrBackend(runner))
    _system(name, "nn1001k", connections)
    since = int(time.time()) - 5
    job = slurm_cluster.sbatch("--account=nn1001k", "--time=1", wrap="sleep 1")

    def finished():
        records = ingest_window(runner, name, since, int(time.time()) + 1).records
        mine = [r for r in records if r["job_id"] == job and r["step"] == "" and r["final"]]
        return mine if mine and mine[0]["end"] else None

    slurm_cluster.wait_for(finished, timeout=90, what=f"the accounting record of job {job}")

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died while storing")

    with monkeypatch.context() as patch:
        patch.setattr(slurm_usage, "store_records", crash)
        with pytest.raises(RuntimeError, match="died"):
            slurm_usage.scheduled_ingest(name)
    assert DatabaseWatermarks().watermark(name) is None  # not moved without the usage
    assert not UsageRecord.objects.filter(job_id=job).exists()

    first = slurm_usage.scheduled_ingest(name)
    assert first["cluster"] == name and first["records_read"] >= 1 and first["stored_new"] >= 1
    assert UsageRecord.objects.filter(job_id=job).count() == 1
    assert DatabaseWatermarks().watermark(name) == first["window"][1]
    again = slurm_usage.scheduled_ingest(name)
    assert again["window"][0] == first["window"][1] - DEFAULT_OVERLAP_S
    assert UsageRecord.objects.filter(job_id=job).count() == 1  # read again, stored once
    runs = SyncRun.objects.filter(cluster=name, mode="ingest")
    assert runs.count() == 2 and all(run.ok for run in runs)


def test_ingest_state_takes_an_old_watermark_file_over(
    slurm_cluster, connections, tmp_path, capsys
):
    from regnekraft.cli.slurm import EXIT_OK, main

    name = slurm_cluster.config.cluster_name
    _system(name, "nn1001k", connections)
    old = tmp_path / "old-ingest.json"
    mark = int(time.time()) - 3600
    old.write_text(json.dumps({name: {"ingested_up_to": mark, "last_error": None}}))
    common = ["--cluster", name, "--slurm-conf", str(slurm_cluster.slurm_conf), "--json"]
    assert main(["ingest", *common, "--state", str(old), "--state-dir", str(tmp_path)]) == EXIT_OK
    first = json.loads(capsys.readouterr().out)
    assert first["window_start"] == mark - DEFAULT_OVERLAP_S  # from the file's watermark
    assert DatabaseWatermarks().watermark(name) == first["window_end"]
    # the database's watermark is kept from now on; the file is not written
    old.write_text(json.dumps({name: {"ingested_up_to": 1000}}))
    assert main(["ingest", *common, "--state", str(old), "--state-dir", str(tmp_path)]) == EXIT_OK
    again = json.loads(capsys.readouterr().out)
    assert again["window_start"] == first["window_end"] - DEFAULT_OVERLAP_S
    assert json.loads(old.read_text()) == {name: {"ingested_up_to": 1000}}
    assert not (tmp_path / "ingest.json").exists()
