"""What the worker's schedule calls for the Slurm bridge, one cluster at a time, with nothing
but the cluster's name: how to reach it comes from the connections file (docs/slurm.md), and
the run acts as the platform (:data:`regnekraft.parties.actors.SYSTEM`).

- A cluster with no connection is skipped: ``{"skipped": "no connection for <cluster> in
  <path>"}`` (no file at all counts as no connection).
- A cluster whose run fails raises :class:`~regnekraft.slurm.service.RunFailed` naming the
  cluster and the cause; the worker records it and tries again later. Both runs are
  idempotent, so a retry (or a run again after a worker died in it) does the work once.
- Otherwise a small JSON-able summary of what changed is returned.

The ingest counterpart, which stores usage and so belongs to the accounting layer, is
:func:`regnekraft.accounting.slurm_usage.scheduled_ingest`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .service import (
    CONNECTIONS_FILE,
    RunFailed,
    SlurmAccess,
    load_connections,
    run_sync,
)
from .state import default_state_dir

CONNECTIONS_ENV = "REGNEKRAFT_SLURM_CONNECTIONS"


def connections_path() -> Path:
    """``$REGNEKRAFT_SLURM_CONNECTIONS``, else ``<default state dir>/connections.json``."""
    if os.environ.get(CONNECTIONS_ENV):
        return Path(os.environ[CONNECTIONS_ENV])
    return default_state_dir() / CONNECTIONS_FILE


def connection_for(cluster: str) -> tuple[SlurmAccess | None, dict[str, Any]]:
    """How to reach ``cluster`` from the connections file, or (None, the skip summary).
    Raises :class:`RunFailed` (status 2) when the file exists but cannot be read."""
    path = connections_path()
    if not path.exists():
        return None, {"skipped": f"no connection for {cluster} in {path}"}
    connections = load_connections(path, SlurmAccess())
    if cluster not in connections:
        return None, {"skipped": f"no connection for {cluster} in {path}"}
    return connections[cluster], {}


def scheduled_apply(cluster: str) -> dict[str, Any]:
    """Make ``cluster``'s Slurm match the platform (``regnekraft slurm apply --cluster``)."""
    from regnekraft.parties.actors import SYSTEM

    try:
        access, skipped = connection_for(cluster)
        if access is None:
            return skipped
        outcome = run_sync(
            "apply", access=access, state_dir=default_state_dir(), cluster=cluster, actor=SYSTEM
        )
    except RunFailed as exc:
        raise RunFailed(f"Slurm apply on {cluster} failed: {exc}", exc.status) from exc
    if outcome.errors:
        message = "; ".join(outcome.errors.values())
        raise RunFailed(f"Slurm apply on {cluster} failed: {message}", outcome.status)
    result = outcome.results[0]
    return {
        "cluster": cluster,
        "operations": len(result.operations),
        "applied": len(result.applied),
        "changes": [op.summary() for op in result.applied][:50],
        "unmanaged_accounts": len(result.unmanaged),
        "errors": [],
    }
