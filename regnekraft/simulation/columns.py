"""A workload as one NumPy array per field, for the compiled kernel.

:class:`TraceColumns` holds what :class:`~.model.Job` holds, column by column. The SWF
reader fills it straight from the file (``SWFReader.columns``); every other source goes
through :func:`columns_from_jobs`, which reads the jobs' attributes. The arrays follow
:class:`Job`'s own rules (a missing time limit is the run time), so that the kernel and
the Python event loop see the same workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from .model import ZONE_LEVEL, SystemSpec


@dataclass
class TraceColumns:
    """One entry per job, in submission order. ``user`` and ``group`` are object arrays
    of text, or integer arrays where the format numbers them (SWF); ``countries`` is
    ``None`` when no job restricts its countries."""

    ids: list
    submit: np.ndarray
    runtime: np.ndarray
    walltime: np.ndarray
    cores: np.ndarray
    gpus: np.ndarray
    mem: np.ndarray
    nodes: np.ndarray
    user: np.ndarray
    group: np.ndarray
    economic: np.ndarray
    zone: np.ndarray  # ZONE_LEVEL of the job's zone
    min_tier: np.ndarray
    countries: list | None = None

    def __len__(self) -> int:
        return len(self.submit)

    def check_sorted(self) -> None:
        """Submission order is what every engine needs; name the first job out of it."""
        bad = np.flatnonzero(np.diff(self.submit) < 0)
        if bad.size:
            raise ValueError(f"trace not sorted by submission time at job {self.ids[bad[0] + 1]!r}")

    def nodes_on(self, spec: SystemSpec) -> np.ndarray:
        """:meth:`SystemSpec.nodes_for` and :meth:`SystemSpec.allows` for every job at
        once: whole nodes needed on ``spec``, 0 where the job cannot run there."""
        explicit = self.nodes > 0
        n = -(-np.maximum(self.cores, 1) // spec.cores_per_node)
        has_gpu = self.gpus > 0
        if spec.gpus_per_node > 0:
            n = np.where(has_gpu, np.maximum(n, -(-self.gpus // spec.gpus_per_node)), n)
        if spec.mem_per_node > 0:
            by_mem = np.ceil(self.mem / spec.mem_per_node).astype(np.int64)
            n = np.where(self.mem > 0, np.maximum(n, by_mem), n)
        n = np.where(explicit, self.nodes, n)
        ok = (n <= spec.nodes) & (self.zone <= ZONE_LEVEL[spec.zone]) & (self.min_tier <= spec.tier)
        if spec.gpus_per_node <= 0:
            ok &= ~has_gpu
        if self.countries is not None:
            ok &= np.array([c is None or spec.country in c for c in self.countries], bool)
        return np.where(ok, n, 0).astype(np.int64)


_FIELDS = attrgetter(
    "submit", "runtime", "walltime", "cores", "gpus", "mem", "nodes", "economic", "min_tier"
)


def columns_from_jobs(jobs) -> TraceColumns:
    """Columns read off :class:`Job` objects (any iterable, consumed once)."""
    jobs = list(jobs)
    rows = np.array([_FIELDS(j) for j in jobs], dtype=float).reshape(len(jobs), 9)
    restrict = [j.countries for j in jobs]
    return TraceColumns(
        ids=[j.id for j in jobs],
        submit=rows[:, 0].copy(),
        runtime=rows[:, 1].copy(),
        walltime=rows[:, 2].copy(),
        cores=rows[:, 3].astype(np.int64),
        gpus=rows[:, 4].astype(np.int64),
        mem=rows[:, 5].copy(),
        nodes=rows[:, 6].astype(np.int64),
        user=np.array([j.user for j in jobs], dtype=object),
        group=np.array([j.group for j in jobs], dtype=object),
        economic=rows[:, 7].astype(bool),
        zone=np.array([ZONE_LEVEL.get(j.zone, 0) for j in jobs], np.int8),
        min_tier=rows[:, 8].astype(np.int64),
        countries=restrict if any(c is not None for c in restrict) else None,
    )
