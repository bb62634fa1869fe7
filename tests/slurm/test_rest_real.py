"""slurmrestd (API v0.0.38) behind the same interfaces: same state, same usage records."""

from __future__ import annotations

import time

import pytest

from regnekraft.slurm.ingest import ingest_window
from regnekraft.slurm.rest import RestBackend, RestClient, RestWriteUnsupported, rest_ingest_window
from regnekraft.slurm.runner import CommandRunner
from regnekraft.slurm.spec import ClusterSpec
from regnekraft.slurm.sync import SacctmgrBackend, apply, plan
from testing.slurm import ClusterUnavailable

from .desired import description

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def rest(slurm_cluster) -> RestClient:
    try:
        url = slurm_cluster.start_slurmrestd()
    except ClusterUnavailable as exc:
        pytest.skip(f"slurmrestd unavailable: {exc}")
    return RestClient(url, user="root", token=slurm_cluster.token())


@pytest.fixture(scope="module")
def sacctmgr(slurm_cluster) -> SacctmgrBackend:
    return SacctmgrBackend(CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf)))


@pytest.fixture(scope="module")
def desired(slurm_cluster, sacctmgr) -> ClusterSpec:
    spec = ClusterSpec.from_description(description(slurm_cluster.config.cluster_name))
    apply(spec, sacctmgr)
    return spec


def test_rest_reads_the_same_state_as_sacctmgr(rest, sacctmgr, desired):
    limited = desired.with_account("met001", grp_submit_jobs=0, grp_jobs=0, grp_tres={"cpu": 3})
    apply(limited, sacctmgr)
    try:
        over_rest = RestBackend(rest).read(desired.cluster)
        over_cli = sacctmgr.read(desired.cluster)
        assert over_rest.to_description() == over_cli.to_description()
        assert over_rest.qos == over_cli.qos
        assert over_rest.accounts["met001"].blocked
        assert over_rest.accounts["met001"].grp_tres == {"cpu": 3}
        assert plan(limited, RestBackend(rest)).in_sync
        assert not plan(desired, RestBackend(rest)).in_sync
    finally:
        apply(desired, sacctmgr)


def test_rest_writes_go_to_the_writer_or_are_refused(rest, sacctmgr, desired):
    changed = desired.with_account("nn1001k", fairshare=123)
    with pytest.raises(RestWriteUnsupported, match="sacctmgr"):
        apply(changed, RestBackend(rest))
    try:
        apply(changed, RestBackend(rest, writer=sacctmgr))
        assert plan(changed, RestBackend(rest)).in_sync
    finally:
        apply(desired, sacctmgr)


def test_rest_ingest_gives_the_same_records_as_sacct(slurm_cluster, rest):
    runner = CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf))
    since = int(time.time()) - 2
    job = slurm_cluster.sbatch("--account=root", "--time=1", wrap="true")

    def settled():
        result = ingest_window(
            runner, slurm_cluster.config.cluster_name, since, int(time.time()) + 1
        )
        jobs = [r for r in result.records if r["job_id"] == job and r["step"] == ""]
        return jobs and jobs[0]["final"] and jobs[0]["qos"] != "Unknown"

    slurm_cluster.wait_for(settled, what="the job's final record")
    end = int(time.time()) + 1
    cli = ingest_window(runner, slurm_cluster.config.cluster_name, since, end)
    over_rest = rest_ingest_window(rest, slurm_cluster.config.cluster_name, since, end)
    fields = ("key", "account", "user", "qos", "state", "elapsed_s", "alloc_tres", "chargeable")
    assert [{f: r[f] for f in fields} for r in over_rest.records] == [
        {f: r[f] for f in fields} for r in cli.records
    ]
    assert any(r["job_id"] == job for r in over_rest.records)
