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
