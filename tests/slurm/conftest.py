"""One real Slurm cluster (MariaDB + munged + slurmdbd + slurmctld + slurmd) per test session.

Tests that need it are marked ``@pytest.mark.slurm`` and take the ``slurm_cluster`` fixture.
They skip, with the reason, only when the cluster cannot exist here: not root, or the
Debian packages are absent and cannot be installed (scripts/slurm/install.sh). A cluster
that should start but does not is an error, not a skip.

Set REGNEKRAFT_SLURM_NO_INSTALL=1 to forbid the fixture from running the install script;
REGNEKRAFT_SLURM_KEEP=1 keeps the cluster's folder (configs and logs) after the session.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from testing.slurm import ClusterUnavailable, TestCluster, ensure_installed


def pytest_configure(config) -> None:
    """An empty Slurm state folder unless one is given: migration ``slurm 0002`` imports the
    JSON files of the state folder when the test database is made, and the tests must not
    see (or depend on) an operator's real watermarks in ``~/.local/state``."""
    if not os.environ.get("REGNEKRAFT_SLURM_STATE_DIR"):
        os.environ["REGNEKRAFT_SLURM_STATE_DIR"] = tempfile.mkdtemp(prefix="rk-slurm-state-")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[TestCluster]:
    try:
        ensure_installed(allow_install=not os.environ.get("REGNEKRAFT_SLURM_NO_INSTALL"))
    except ClusterUnavailable as exc:
        pytest.skip(f"real Slurm cluster unavailable: {exc}")
    cluster = TestCluster.start(allow_install=False)
    try:
        yield cluster
    finally:
        cluster.stop()
