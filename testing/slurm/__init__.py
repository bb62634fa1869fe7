"""A real single-node Slurm cluster with accounting, for tests and for trying the bridge.

Everything runs as root without systemd, on 127.0.0.1, with all state (configuration,
MariaDB data, sockets, spool, logs) in one temporary folder. Every daemon runs in the
foreground (``-D``/``-F``) as our child, so stopping is a signal to a PID we own and no
zombie is left behind when PID 1 does not reap.

    from testing.slurm import TestCluster

    with TestCluster.start() as cluster:
        cluster.run(["sinfo"])

or, to keep one up for a shell session (from the repository root)::

    python -m testing.slurm      # prints the SLURM_CONF to export

Modules: ``install`` finds the programs (and installs the Debian packages),
``config`` writes slurm.conf, slurmdbd.conf, gres.conf and the keys, ``daemons`` starts
and watches one process, ``cluster`` brings them up in order and runs Slurm's clients.

Facts this relies on (Debian 12, Slurm 22.05.8, MariaDB 10.11, munge 0.5.15):

- munged refuses to start unless its socket folder is mode 0755;
- ``sacctmgr`` and slurmctld reach slurmdbd through the munge socket named by
  ``AccountingStoragePass`` in slurm.conf, not the one in ``AuthInfo``;
- without ``DefMemPerCPU`` a job without ``--mem`` takes all of the node's memory;
- slurmdbd reads ``slurmdbd.conf`` from the folder of ``$SLURM_CONF`` and wants it 0600.
"""

from .cluster import TestCluster
from .config import ClusterConfig
from .daemons import ClusterStartError, Daemon
from .install import INSTALL_SCRIPT, ClusterUnavailable, ensure_installed, missing_programs

__all__ = [
    "INSTALL_SCRIPT",
    "ClusterConfig",
    "ClusterStartError",
    "ClusterUnavailable",
    "Daemon",
    "TestCluster",
    "ensure_installed",
    "missing_programs",
]
