"""The harness itself: a cluster with accounting answers and runs a job."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slurm


def test_cluster_registered_in_accounting(slurm_cluster):
    out = slurm_cluster.run(["sacctmgr", "-P", "-n", "show", "cluster", "format=Cluster"]).stdout
    assert slurm_cluster.config.cluster_name in out.split()


def test_node_has_configured_cpus_and_gpus(slurm_cluster):
    out = slurm_cluster.run(["sinfo", "-h", "-N", "-o", "%c|%G"]).stdout.strip()
    cpus, gres = out.split("|")
    assert int(cpus) == slurm_cluster.config.cpus
    assert f"gpu:{slurm_cluster.config.gpus}" in gres


def test_install_script_is_idempotent_when_everything_is_present(slurm_cluster):
    import subprocess

    from testing.slurm import INSTALL_SCRIPT

    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "all packages present" in result.stderr


def test_every_daemon_is_our_child(slurm_cluster):
    import os

    for name, daemon in slurm_cluster.daemons.items():
        assert daemon.alive(), name
        with open(f"/proc/{daemon.process.pid}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        assert parent == os.getpid(), name


def test_stop_kills_only_job_leftovers_not_the_callers_processes(slurm_cluster):
    import os
    import subprocess

    from testing.slurm.cluster import _proc_stat, step_leftovers

    # a process of the caller's with the cluster's SLURM_CONF, as a shell that exported it
    bystander = subprocess.Popen(["sleep", "120"], env=slurm_cluster.env)
    try:
        job = slurm_cluster.sbatch("--time=2", wrap="sleep 60")
        slurm_cluster.wait_for(
            lambda: slurm_cluster.job_state(job)[0] == "RUNNING", what=f"job {job} to run"
        )

        def steps() -> list[int]:
            found = step_leftovers(slurm_cluster.slurm_conf)
            return found if any((_proc_stat(p) or ("",))[0] == "slurmstepd" for p in found) else []

        leftovers = slurm_cluster.wait_for(steps, what="the job's slurmstepd")
        assert bystander.pid not in leftovers
        assert os.getpid() not in leftovers
        assert all(slurm_cluster.daemons[n].process.pid not in leftovers for n in ("slurmd",))
    finally:
        bystander.kill()
        bystander.wait()
        slurm_cluster.cancel_all()
