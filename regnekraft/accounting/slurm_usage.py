"""Usage from Slurm into the platform: read sacct through the bridge
(:mod:`regnekraft.slurm.service`), then import the finished jobs' usage (idempotent, rated,
balances updated). Data flows slurm -> accounting, so the whole ingest run lives here, and
so does the worker's :func:`scheduled_ingest`.

The watermark moves in the transaction that stores the usage: a crash (or a refusal) while
storing leaves both as they were, and the next run reads the same window again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regnekraft.slurm.ingest import IngestResult
from regnekraft.slurm.service import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    RunFailed,
    SlurmAccess,
    UsageRead,
    UsageRequest,
    account_map,
    catalogue_systems,
    read_usage,
    record_run,
    require_operator,
)

logger = logging.getLogger(__name__)


@dataclass
class IngestOutcome:
    result: IngestResult
    stored: dict[str, Any] | None = None  # what the import did, when the usage was stored
    status: int = EXIT_OK


def store_records(cluster: str | None, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Import the finished jobs' usage into the platform (idempotent, rated, balances updated)."""
    # imported here: reading usage into a file works without Django set up
    from regnekraft.slurm.adapter import usage_records

    from .importer import import_records

    system = catalogue_systems(cluster)[0]
    result = import_records(
        usage_records(system, records), source="slurm", filename=f"sacct {system.slug}"
    )
    return {
        "new": result.new,
        "duplicate": result.duplicate,
        "unallocated": result.unallocated,
        "balance_events": result.balance_events,
    }


def store_and_advance(cluster: str, read: UsageRead) -> dict[str, Any]:
    """Store the usage read and move the watermark (if the read came from it) to the end of
    its window, in one transaction: either both happen or neither."""
    from django.db import transaction

    result = read.result
    with transaction.atomic():
        stored = store_records(cluster, result.records)
        if read.state is not None:
            read.state.advance(
                cluster,
                result.window_end,
                at=result.window_end,
                records=len(result.records),
                unknown_accounts=result.unknown_accounts,
            )
    return stored


def _store(request: UsageRequest, read: UsageRead) -> dict[str, Any]:
    from django.core.exceptions import ValidationError
    from django.db import DatabaseError

    try:
        stored = store_and_advance(request.cluster, read)
    except (ValidationError, DatabaseError) as exc:
        messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        try:
            if read.state is not None:  # not stored, so the next run reads this window again
                read.state.failed(
                    request.cluster, f"not stored: {'; '.join(messages)}", at=read.result.window_end
                )
            record_run(request.cluster, "ingest", ok=False, error="; ".join(messages))
        except DatabaseError as lost:  # the database itself failed: the refusal still counts
            logger.error(
                "ingest on %s: the failure could not be recorded: %s", request.cluster, lost
            )
        raise RunFailed(f"usage not stored: {'; '.join(messages)}", EXIT_ERROR) from exc
    record_run(
        request.cluster,
        "ingest",
        ok=True,
        changes=len(read.result.records),
        applied=stored["new"],
        details={"unknown_accounts": read.result.unknown_accounts},
    )
    return stored


def run_ingest(
    request: UsageRequest,
    *,
    access: SlurmAccess,
    state_dir: str | Path,
    actor: Any = None,
) -> IngestOutcome:
    """Read usage from sacct since the last run (or in the request's window) and, when the
    request stores, import it. Raises :class:`~regnekraft.slurm.service.RunFailed` with the
    bridge's status when Slurm cannot be read or the usage cannot be stored; status 3 (with
    ``strict``) when accounts map to no project."""
    require_operator(actor, "ingest usage from Slurm")
    read = read_usage(access, state_dir, request, account_map(request))
    outcome = IngestOutcome(read.result)
    if request.stores():
        outcome.stored = _store(request, read)
    if read.result.unknown_accounts and request.strict:
        outcome.status = EXIT_DRIFT
    return outcome


def scheduled_ingest(cluster: str) -> dict[str, Any]:
    """The worker's ingest of one cluster: read sacct since the watermark through the
    connection in the connections file (as :data:`~regnekraft.parties.actors.SYSTEM`) and
    store the usage. ``{"skipped": ...}`` without a connection; raises
    :class:`~regnekraft.slurm.service.RunFailed` naming the cluster when the run fails."""
    from regnekraft.parties.actors import SYSTEM
    from regnekraft.slurm.scheduled import connection_for
    from regnekraft.slurm.state import default_state_dir

    try:
        access, skipped = connection_for(cluster)
    except RunFailed as exc:
        raise RunFailed(f"Slurm ingest on {cluster} failed: {exc}", EXIT_USAGE) from exc
    if access is None:
        return skipped
    try:
        outcome = run_ingest(
            UsageRequest(cluster=cluster),
            access=access,
            state_dir=default_state_dir(),
            actor=SYSTEM,
        )
    except RunFailed as exc:
        raise RunFailed(f"Slurm ingest on {cluster} failed: {exc}", exc.status) from exc
    result, stored = outcome.result, outcome.stored or {}
    return {
        "cluster": cluster,
        "window": [result.window_start, result.window_end],
        "records_read": len(result.records),
        "stored_new": stored.get("new", 0),
        "duplicate": stored.get("duplicate", 0),
        "unallocated": stored.get("unallocated", 0),
        "balance_events": len(stored.get("balance_events") or []),
        "errors": [
            f"Slurm account {name!r}: {n} job(s) map to no project"
            for name, n in sorted(result.unknown_accounts.items())
        ],
    }
