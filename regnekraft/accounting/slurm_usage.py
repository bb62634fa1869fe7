"""Usage from Slurm into the platform: read sacct through the bridge
(:mod:`regnekraft.slurm.service`), then import the finished jobs' usage (idempotent, rated,
balances updated). Data flows slurm -> accounting, so the whole ingest run lives here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regnekraft.slurm.ingest import IngestResult
from regnekraft.slurm.service import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
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


def _store(request: UsageRequest, read: UsageRead) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    try:
        stored = store_records(request.cluster, read.result.records)
    except ValidationError as exc:
        if read.state is not None:  # not stored, so the next run must read this window again
            read.state.save(
                request.cluster,
                ingested_up_to=read.previous,
                last_error=f"not stored: {exc.messages}",
            )
        record_run(
            request.cluster, "ingest", in_database=True, ok=False, error="; ".join(exc.messages)
        )
        raise RunFailed(f"usage not stored: {'; '.join(exc.messages)}", EXIT_ERROR) from exc
    record_run(
        request.cluster,
        "ingest",
        in_database=True,
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
