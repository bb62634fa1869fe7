"""Pull direction on a real cluster: usage records from sacct, idempotent, robust to outages."""

from __future__ import annotations

import time

import pytest

from regnekraft.slurm.ingest import ingest, ingest_window
from regnekraft.slurm.runner import CommandRunner, SlurmdbdUnavailable
from regnekraft.slurm.spec import ClusterSpec
from regnekraft.slurm.state import WatermarkFile
from regnekraft.slurm.sync import SacctmgrBackend, apply

from .desired import description

pytestmark = pytest.mark.slurm

CPU_HOUR_NOK = 0.04  # Sigma2 category A, from 1 Oct 2025
GPU_HOUR_NOK = 5.6


@pytest.fixture(scope="module")
def runner(slurm_cluster) -> CommandRunner:
    return CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf))


@pytest.fixture(scope="module")
def desired(slurm_cluster, runner) -> ClusterSpec:
    spec = ClusterSpec.from_description(description(slurm_cluster.config.cluster_name))
    apply(spec, SacctmgrBackend(runner))
    return spec


@pytest.fixture(scope="module")
def account_map(desired) -> dict[str, str]:
    """Slurm account -> platform project (here the project is named like its account)."""
    return {
        name: f"project:{name}" for name, acc in desired.accounts.items() if acc.level == "project"
    }


def settled(cluster, runner, job_ids, since):
    """Wait until slurmdbd holds the finished, complete record of every job."""

    def check():
        now = int(time.time())
        result = ingest_window(runner, cluster.config.cluster_name, since, now + 1)
        jobs = {r["job_id"]: r for r in result.records if r["step"] == ""}
        done = all(
            j in jobs and jobs[j]["final"] and jobs[j]["qos"] != "Unknown" and jobs[j]["account"]
            for j in job_ids
        )
        return result if done else None

    return cluster.wait_for(check, timeout=90, what=f"final accounting records of {job_ids}")


def test_usage_records_carry_account_project_tres_and_charge(
    slurm_cluster, runner, desired, account_map
):
    since = int(time.time()) - 5
    cpu_job = slurm_cluster.sbatch(
        "--account=nn1001k", "--ntasks=2", "--time=2", user="nobody", wrap="sleep 2"
    )
    gpu_job = slurm_cluster.sbatch(
        "--account=nn1001k", "--ntasks=1", "--gres=gpu:1", "--time=2", wrap="sleep 2"
    )
    site_job = slurm_cluster.sbatch("--account=root", "--time=2", wrap="true")
    settled(slurm_cluster, runner, [cpu_job, gpu_job, site_job], since)
    result = ingest_window(runner, desired.cluster, since, int(time.time()) + 1, account_map)
    jobs = {r["job_id"]: r for r in result.records if r["step"] == ""}

    cpu = jobs[cpu_job]
    assert (cpu["account"], cpu["project"], cpu["user"]) == ("nn1001k", "project:nn1001k", "nobody")
    assert cpu["key"] == f"slurm:{desired.cluster}:{cpu_job}::{cpu['attempt']}"
    assert cpu["alloc_tres"]["cpu"] == 2 and cpu["chargeable"] and cpu["elapsed_s"] >= 1
    assert cpu["tres_seconds"]["cpu"] == 2 * cpu["elapsed_s"]
    # TRESBillingWeights are in CPU-hour prices, so billing * CPU price is the charge
    gpu = jobs[gpu_job]
    assert gpu["alloc_tres"]["gres/gpu"] == 1 and gpu["alloc_tres"]["billing"] == 141
    charge_by_class = gpu["cpu_hours"] * CPU_HOUR_NOK + gpu["gpu_hours"] * GPU_HOUR_NOK
    assert gpu["billing_hours"] * CPU_HOUR_NOK == pytest.approx(charge_by_class)
    # steps are kept but never charged; the site's own account is reported, not dropped
    steps = [r for r in result.records if r["job_id"] == cpu_job and r["step"]]
    assert "batch" in {r["step"] for r in steps} and not any(r["chargeable"] for r in steps)
    assert result.unknown_accounts.get("root", 0) >= 1
    assert jobs[site_job]["project"] is None


def test_json_and_parsable_give_the_same_records(slurm_cluster, runner, desired, account_map):
    since = int(time.time()) - 5
    job = slurm_cluster.sbatch("--account=met001", "--time=1", "--qos=tier_extreme", wrap="true")
    settled(slurm_cluster, runner, [job], since)
    end = int(time.time()) + 1
    parsable = ingest_window(runner, desired.cluster, since, end, account_map)
    as_json = ingest_window(runner, desired.cluster, since, end, account_map, use_json=True)
    fields = (
        "key",
        "account",
        "project",
        "user",
        "qos",
        "state",
        "start",
        "end",
        "elapsed_s",
        "alloc_tres",
        "chargeable",
    )
    assert [{f: r[f] for f in fields} for r in parsable.records] == [
        {f: r[f] for f in fields} for r in as_json.records
    ]


def test_requeued_and_cancelled_jobs(slurm_cluster, runner, desired, account_map):
    since = int(time.time()) - 5
    job = slurm_cluster.sbatch("--account=nn1001k", "--time=5", "--requeue", wrap="sleep 60")
    slurm_cluster.wait_for(lambda: slurm_cluster.job_state(job)[0] == "RUNNING", what="start")
    time.sleep(1.5)  # let it use some CPU time before the requeue
    slurm_cluster.run(["scontrol", "requeue", job])
    # The requeued attempt is cancelled while it waits: waiting for it to start again hung
    # on a loaded CI machine (its begin time kept moving).
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(job)[0] == "PENDING", what="the requeued job to be pending"
    )
    # eligible but waiting for CPUs (one is held by the blocker), then cancelled:
    # listed, never charged
    blocker = slurm_cluster.sbatch("--account=nn1001k", "--time=5", wrap="sleep 60")
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(blocker)[0] == "RUNNING", what="the blocker to start"
    )
    never_ran = slurm_cluster.sbatch(
        "--account=nn1001k", "--time=5", f"--ntasks={slurm_cluster.config.cpus}", wrap="true"
    )
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(never_ran)[1] == "Resources",
        what="the big job to wait for resources",
    )
    slurm_cluster.run(["scancel", never_ran])
    slurm_cluster.run(["scancel", job, blocker])
    settled(slurm_cluster, runner, [job, never_ran, blocker], since)
    result = ingest_window(runner, desired.cluster, since, int(time.time()) + 1, account_map)
    runs = sorted(
        (r for r in result.records if r["job_id"] == job and r["step"] == ""),
        key=lambda r: r["attempt"],
    )
    # The first attempt ran and is charged. The second was cancelled before it became
    # eligible; sacct's time window leaves out such never-eligible records (Slurm 22.05),
    # which is harmless because they carry no usage.
    assert runs[0]["state"] == "REQUEUED"
    assert runs[0]["chargeable"] and runs[0]["elapsed_s"] >= 1
    assert not any(r["chargeable"] for r in runs[1:])
    assert len({r["key"] for r in runs}) == len(runs)  # each attempt on its own key
    cancelled = [r for r in result.records if r["job_id"] == never_ran and r["step"] == ""]
    assert [r["state"] for r in cancelled] == ["CANCELLED"]
    assert not cancelled[0]["chargeable"]


def test_ingest_twice_and_through_a_slurmdbd_outage(
    slurm_cluster, runner, desired, account_map, tmp_path
):
    state = WatermarkFile(tmp_path / "ingest-state.json")
    ledger: dict[str, dict] = {}  # the platform's usage table, keyed by idempotency key

    def run_ingest() -> None:
        for record in ingest(
            runner,
            desired.cluster,
            state,
            account_map=account_map,
            first_lookback_s=600,
            overlap_s=600,
        ).records:
            ledger[record["key"]] = record

    before = slurm_cluster.sbatch("--account=nn1001k", "--time=1", wrap="sleep 1")
    settled(slurm_cluster, runner, [before], int(time.time()) - 60)
    run_ingest()
    first = {k: v for k, v in ledger.items() if v["final"]}
    mark = state.watermark(desired.cluster)
    run_ingest()
    assert {k: v for k, v in ledger.items() if v["final"]} == first
    assert sum(r["chargeable"] for r in ledger.values() if r["job_id"] == before) == 1

    slurm_cluster.stop_slurmdbd()
    try:
        during = slurm_cluster.sbatch("--account=nn1001k", "--time=1", wrap="sleep 1")
        with pytest.raises(SlurmdbdUnavailable, match="slurmdbd"):
            run_ingest()
        assert state.watermark(desired.cluster) >= mark  # not moved by the failed run
        assert "slurmdbd" in state.status(desired.cluster)["last_error"]
        slurm_cluster.wait_for(
            lambda: slurm_cluster.job_state(during)[0] in ("", "COMPLETED"),
            what="the job run during the outage to end",
        )
    finally:
        slurm_cluster.start_slurmdbd()
    settled(slurm_cluster, runner, [during], int(time.time()) - 120)
    run_ingest()
    assert state.status(desired.cluster)["last_error"] is None
    charged = [r for r in ledger.values() if r["chargeable"]]
    assert {r["job_id"] for r in charged} >= {before, during}
    assert len(charged) == len({(r["job_id"], r["attempt"]) for r in charged})
