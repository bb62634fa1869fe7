"""What the bridge remembers between runs, per cluster: the ingest watermark (how far sacct has
been read) and the allocation period each project's Slurm usage was last reset for.

Two small interfaces, one class per store and backend:

- :class:`WatermarkStore` and :class:`UsagePeriodStore` say what the bridge needs;
- the database backends (``regnekraft.slurm.stores``: tables ``IngestWatermark`` and
  ``UsagePeriod``) are the default whenever Django is set up (the CLI on the platform's
  database, the worker, the tests);
- the file backends here (:class:`WatermarkFile`, :class:`UsagePeriodsFile`: JSON files in
  the state folder, ``--state-dir``) serve runs where no database exists: a plan or apply from
  a JSON description, or an ingest into a file, without Django set up.

Files are replaced atomically, so a crash never leaves half a file. Losing the state is safe:
ingest then looks back ``--first-lookback`` again (usage records are idempotent), and usage
periods are adopted again without a reset.

Django is imported only to ask whether it is set up (and then the database backends).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STATE_DIR_ENV = "REGNEKRAFT_SLURM_STATE_DIR"
WATERMARK_FILE = "ingest.json"
USAGE_PERIODS_FILE = "usage-periods.json"


def default_state_dir() -> Path:
    """``$REGNEKRAFT_SLURM_STATE_DIR``, else ``$XDG_STATE_HOME/regnekraft/slurm``, else
    ``~/.local/state/regnekraft/slurm``: where the connections file (and, without a database,
    the state files) live."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "regnekraft" / "slurm"


# --- the interfaces -----------------------------------------------------------------------


class WatermarkStore(ABC):
    """Per cluster: the time (epoch seconds) up to which sacct has been read, and what the
    last run saw (its time, error, record count and accounts that map to no project)."""

    @abstractmethod
    def watermark(self, cluster: str) -> int | None:
        """The time up to which usage was read (and, where it is stored, stored); None before
        the first successful run."""

    @abstractmethod
    def advance(
        self,
        cluster: str,
        up_to: int,
        *,
        at: int,
        records: int = 0,
        unknown_accounts: Mapping[str, int] | None = None,
    ) -> None:
        """A run read (and stored) everything up to ``up_to``: move the watermark there (never
        backwards) and clear the last error."""

    @abstractmethod
    def failed(self, cluster: str, error: str, *, at: int) -> None:
        """A run failed: keep the error and the time; the watermark stays."""

    @abstractmethod
    def status(self, cluster: str) -> dict[str, Any]:
        """What the store keeps for ``cluster``: ``ingested_up_to``, ``last_run``,
        ``last_error``, ``last_records``, ``last_unknown_accounts`` ({} if nothing)."""


class UsagePeriodStore(ABC):
    """Per cluster: account -> the allocation period (ISO date) its usage was reset for."""

    @abstractmethod
    def known(self, cluster: str) -> dict[str, str]: ...

    @abstractmethod
    def record(self, cluster: str, periods: Mapping[str, str]) -> None:
        """Keep ``periods`` for the cluster (accounts not named keep theirs)."""


# --- JSON files ---------------------------------------------------------------------------


@dataclass
class StateFile:
    """One JSON object per file: cluster -> what is kept for it."""

    path: Path

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def save(self, cluster: str, **values: Any) -> None:
        data = self.load()
        data.setdefault(cluster, {}).update(values)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}-")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
        logger.debug("%s: saved %s for %s", self.path, ", ".join(sorted(values)), cluster)


class WatermarkFile(StateFile, WatermarkStore):
    """The watermark in ``<state dir>/ingest.json`` (runs without a database)."""

    def watermark(self, cluster: str) -> int | None:
        value = self.load().get(cluster, {}).get("ingested_up_to")
        return int(value) if value is not None else None

    def advance(
        self,
        cluster: str,
        up_to: int,
        *,
        at: int,
        records: int = 0,
        unknown_accounts: Mapping[str, int] | None = None,
    ) -> None:
        before = self.watermark(cluster)
        self.save(
            cluster,
            ingested_up_to=max(int(up_to), before) if before is not None else int(up_to),
            last_run=int(at),
            last_error=None,
            last_records=int(records),
            last_unknown_accounts=dict(unknown_accounts or {}),
        )

    def failed(self, cluster: str, error: str, *, at: int) -> None:
        self.save(cluster, last_run=int(at), last_error=error)

    def status(self, cluster: str) -> dict[str, Any]:
        return dict(self.load().get(cluster, {}))


class UsagePeriodsFile(StateFile, UsagePeriodStore):
    """The usage periods in ``<state dir>/usage-periods.json`` (runs without a database)."""

    def known(self, cluster: str) -> dict[str, str]:
        return dict(self.load().get(cluster, {}).get("usage_periods", {}))

    def record(self, cluster: str, periods: Mapping[str, str]) -> None:
        merged = {**self.known(cluster), **periods}
        self.save(cluster, usage_periods=dict(sorted(merged.items())))


def django_ready() -> bool:
    """Whether Django is set up (then the database backends are used)."""
    try:
        from django.apps import apps
    except ImportError:  # pragma: no cover - Django is a dependency
        return False
    return bool(apps.ready)


def watermark_store(state_dir: str | Path, state_file: str | Path | None = None) -> WatermarkStore:
    """The database's watermarks when Django is set up, else ``state_file`` (default
    ``<state dir>/ingest.json``)."""
    if django_ready():
        from .stores import DatabaseWatermarks

        return DatabaseWatermarks()
    return WatermarkFile(Path(state_file) if state_file else Path(state_dir) / WATERMARK_FILE)


def usage_period_store(state_dir: str | Path) -> UsagePeriodStore:
    """The database's usage periods when Django is set up, else
    ``<state dir>/usage-periods.json``."""
    if django_ready():
        from .stores import DatabaseUsagePeriods

        return DatabaseUsagePeriods()
    return UsagePeriodsFile(Path(state_dir) / USAGE_PERIODS_FILE)
