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
