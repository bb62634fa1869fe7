"""The bridge's state in the platform's database: the default backends of the interfaces in
:mod:`regnekraft.slurm.state` (tables :class:`~regnekraft.slurm.models.IngestWatermark` and
:class:`~regnekraft.slurm.models.UsagePeriod`).

Each write is its own transaction unless the caller holds one: ingest moves the watermark
inside the transaction that stores the usage (``regnekraft.accounting.slurm_usage``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.db import transaction

from .models import IngestWatermark, UsagePeriod
from .state import UsagePeriodStore, WatermarkStore

logger = logging.getLogger(__name__)


def _time(epoch: int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)


def _epoch(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


class DatabaseWatermarks(WatermarkStore):
    """The watermark per cluster in ``IngestWatermark``."""

    def watermark(self, cluster: str) -> int | None:
        row = IngestWatermark.objects.filter(cluster=cluster).first()
        return _epoch(row.ingested_up_to) if row else None

    @transaction.atomic
    def advance(
        self,
        cluster: str,
        up_to: int,
        *,
        at: int,
        records: int = 0,
        unknown_accounts: Mapping[str, int] | None = None,
    ) -> None:
        row, _ = IngestWatermark.objects.select_for_update().get_or_create(cluster=cluster)
        new = _time(up_to)
        if row.ingested_up_to is not None and row.ingested_up_to > new:
            logger.warning(
                "ingest on %s: watermark %s kept (this run read up to %s only)",
                cluster,
                row.ingested_up_to.isoformat(),
                new.isoformat(),
            )
            new = row.ingested_up_to
        row.ingested_up_to = new
        row.last_run = _time(at)
        row.last_error = ""
        row.last_records = int(records)
        row.last_unknown_accounts = dict(unknown_accounts or {})
        row.full_clean()
        row.save()

    @transaction.atomic
    def failed(self, cluster: str, error: str, *, at: int) -> None:
        row, _ = IngestWatermark.objects.select_for_update().get_or_create(cluster=cluster)
        row.last_run = _time(at)
        row.last_error = error or "failed"
        row.save(update_fields=["last_run", "last_error", "updated"])

    def status(self, cluster: str) -> dict[str, Any]:
        row = IngestWatermark.objects.filter(cluster=cluster).first()
        if row is None:
            return {}
        return {
            "ingested_up_to": _epoch(row.ingested_up_to),
            "last_run": _epoch(row.last_run),
            "last_error": row.last_error or None,
            "last_records": row.last_records,
            "last_unknown_accounts": dict(row.last_unknown_accounts),
        }


class DatabaseUsagePeriods(UsagePeriodStore):
    """The usage periods per cluster and account in ``UsagePeriod``."""

    def known(self, cluster: str) -> dict[str, str]:
        return {
            account: period.isoformat()
            for account, period in UsagePeriod.objects.filter(cluster=cluster).values_list(
                "account", "period"
            )
        }

    @transaction.atomic
    def record(self, cluster: str, periods: Mapping[str, str]) -> None:
        have = {
            row.account: row
            for row in UsagePeriod.objects.select_for_update().filter(cluster=cluster)
        }
        for account, text in sorted(periods.items()):
            period = dt.date.fromisoformat(str(text))
            row = have.get(account)
            if row is None:
                UsagePeriod.objects.create(cluster=cluster, account=account, period=period)
            elif row.period != period:
                row.period = period
                row.save(update_fields=["period", "updated"])


# --- files of an older installation -------------------------------------------------------


def import_watermark_file(path: str | Path) -> list[str]:
    """Take the watermarks of an ``ingest.json`` into the database for the clusters that have
    none there yet (``slurm ingest --state FILE``); returns those clusters. Raises ValueError
    naming the file when it cannot be read."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("expected one object: cluster -> watermark")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the watermark file: {exc}") from exc
    taken = []
    with transaction.atomic():
        for cluster, entry in sorted(data.items()):
            if not isinstance(entry, dict) or entry.get("ingested_up_to") is None:
                continue
            if IngestWatermark.objects.filter(cluster=cluster).exists():
                continue
            try:
                up_to = int(entry["ingested_up_to"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: {cluster}: ingested_up_to is not epoch seconds") from exc
            IngestWatermark.objects.create(
                cluster=str(cluster)[:50],
                ingested_up_to=_time(up_to),
                last_run=_time(entry["last_run"]) if entry.get("last_run") else None,
                last_error=str(entry.get("last_error") or ""),
                last_records=int(entry.get("last_records") or 0),
                last_unknown_accounts=dict(entry.get("last_unknown_accounts") or {}),
            )
            taken.append(str(cluster))
    return taken
