"""Policy simulator: replay workload traces through the national allocation policies.

Plain Python and NumPy, no Django. The public API::

    from regnekraft.simulation import (Platform, SystemSpec, GroupSpec, QOSSpec,
        PolicyConfig, PriorityWeights, Workload, simulate, open_trace)

    platform = Platform([SystemSpec("saga", nodes=32, cores_per_node=1)])
    result = simulate(open_trace("medium_late.json"), platform, PolicyConfig(policy="easy"))
    result.summary["mean_wait"]
"""

from .engine import Simulator, leaf_shares
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


def simulate(jobs, platform, policy=None, groups=None, *, progress=None,
             record_reservations=False, name="") -> RunResult:
    """Run ``jobs`` (any iterable of :class:`Job`, e.g. a trace reader) and return the
    :class:`RunResult`."""
    sim = Simulator(platform, policy, groups, progress=progress,
                    record_reservations=record_reservations)
    res = sim.run(jobs)
    res.name = name
    return res


__all__ = [
    "ZONES", "TAU", "BatsimReader", "CSVReader", "GroupSpec", "Job", "Platform", "PolicyConfig",
    "PriorityWeights", "QOSSpec", "RunResult", "SWFReader", "Simulator", "SystemSpec",
    "TraceError", "leaf_shares", "open_trace", "simulate",
]
