"""Policy simulator: replay workload traces through the national allocation policies.

Plain Python and NumPy, no Django. The public API::

    from regnekraft.simulation import (Platform, SystemSpec, GroupSpec, QOSSpec,
        PolicyConfig, PriorityWeights, Workload, simulate, open_trace)

    platform = Platform([SystemSpec("saga", nodes=32, cores_per_node=1)])
    result = simulate(open_trace("medium_late.json"), platform, PolicyConfig(policy="easy"))
    result.summary["mean_wait"]
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .engine import Simulator, leaf_shares
from .groups import UserMapper
from .metrics import TAU, RunResult
from .model import (
    ZONES,
    GroupSpec,
    Job,
    Platform,
    PolicyConfig,
    PriorityWeights,
    QOSSpec,
    SystemSpec,
)
from .readers import BatsimReader, CSVReader, SWFReader, TraceError, open_trace


@dataclass
class Workload:
    """Jobs to replay: a trace reader, a list, or anything iterable over :class:`Job` in
    submission order. ``map_users`` (with groups given to :func:`simulate`) places trace
    users in groups deterministically (see :mod:`.groups`)."""

    jobs: Iterable[Job]
    name: str = ""
    map_users: bool = False
    seed: int | str = 0
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_trace(cls, path, fmt=None, skip_malformed=False, **kw) -> "Workload":
        reader = open_trace(path, fmt, skip_malformed=skip_malformed)
        return cls(
            reader,
            name=getattr(reader, "name", str(path)),
            meta=dict(getattr(reader, "header", {})),
            **kw,
        )

    @classmethod
    def from_records(cls, records: Iterable[dict], **kw) -> "Workload":
        """Jobs from plain dicts with :class:`Job`'s keyword arguments (``id``,
        ``submit``, ``runtime``, ``walltime``, ``cores``, ``gpus``, ``nodes``, ``user``,
        ``group``, ``qos``, ``economic``, ``zone``, ``countries``, ``min_tier``)."""
        jobs = sorted((Job(**r) for r in records), key=lambda j: j.submit)
        return cls(jobs, **kw)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)


def simulate(
    jobs, platform, policy=None, groups=None, *, progress=None, record_reservations=False, name=""
) -> RunResult:
    """Run ``jobs`` (a :class:`Workload` or any iterable of :class:`Job`, e.g. a trace
    reader) on ``platform`` under ``policy`` (default: EASY, node-level) with the
    entitled ``groups``, and return the :class:`RunResult`."""
    if isinstance(jobs, Workload):
        name = name or jobs.name
        if jobs.map_users and groups:
            jobs = UserMapper(list(groups), jobs.seed)(jobs.jobs)
        else:
            jobs = jobs.jobs
    sim = Simulator(
        platform, policy, groups, progress=progress, record_reservations=record_reservations
    )
    res = sim.run(jobs)
    res.name = name
    return res


__all__ = [
    "ZONES",
    "TAU",
    "BatsimReader",
    "CSVReader",
    "GroupSpec",
    "Job",
    "Platform",
    "PolicyConfig",
    "PriorityWeights",
    "QOSSpec",
    "RunResult",
    "SWFReader",
    "Simulator",
    "SystemSpec",
    "TraceError",
    "UserMapper",
    "Workload",
    "leaf_shares",
    "open_trace",
    "simulate",
]
