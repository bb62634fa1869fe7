"""Plain data types of the simulator: jobs, systems, groups, QOS tiers, policy settings.

Everything here is a plain Python object so that another module (the Django apps, a
notebook, a test) can build a simulation without touching a trace file or a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

#: Security zones in increasing order of protection. A system approved for a level
#: may also run work of every lower level (a graded system may run open work).
ZONES = ("open", "shielded", "graded")
ZONE_LEVEL = {name: i for i, name in enumerate(ZONES)}


class JobState(IntEnum):
    """A job's state. Integer codes, because the compiled kernel and the result columns
    store states in ``int8`` arrays."""

    PENDING = 0
    QUEUED = 1
    RUNNING = 2
    DONE = 3
    CANCELLED = 4
    REJECTED = 5
    WAITING = 6  # a preempting job waiting for its victims' grace time


#: Each state's name in the results, indexed by its code.
STATE_NAMES = tuple(state.name.lower() for state in JobState)
# a global is quicker to look up than a member on its Enum class, and every Job starts so
_PENDING = JobState.PENDING


class Job:
    """One job of a workload, with the simulation's results filled in as it runs.

    ``cores``/``gpus``/``mem`` are what the job asks for in total; ``nodes`` (when given,
    as in Batsim workloads) is an explicit node count that wins over the conversion.
    ``walltime`` is the requested time limit; a job that would run longer is killed at
    its limit, as Slurm and Batsim do.
    """

    __slots__ = (
        "idx",
        "id",
        "submit",
        "runtime",
        "walltime",
        "cores",
        "gpus",
        "mem",
        "nodes",
        "user",
        "group",
        "qos",
        "economic",
        "zone",
        "countries",
        "min_tier",
        # results and engine bookkeeping
        "state",
        "start",
        "end",
        "system",
        "alloc",
        "nalloc",
        "run_id",
        "exp_end",
        "preempted",
        "first_reservation",
        "gidx",
        "qidx",
        "key",
        "sysidx",
        "line",
        "qkey",
        "victim_of",
        "rentry",
        "need",
    )

    def __init__(
        self,
        id,
        submit,
        runtime,
        walltime=None,
        cores=1,
        gpus=0,
        mem=0.0,
        nodes=0,
        user="",
        group="",
        qos="normal",
        economic=False,
        zone="open",
        countries=None,
        min_tier=1,
        line=0,
    ):
        self.id = id
        self.submit = float(submit)
        self.runtime = float(runtime)
        self.walltime = float(walltime) if walltime is not None and walltime > 0 else float(runtime)
        self.cores = int(cores)
        self.gpus = int(gpus)
        self.mem = float(mem)
        self.nodes = int(nodes)
        self.user = user
        self.group = group
        self.qos = qos
        self.economic = bool(economic)
        self.zone = zone
        self.countries = countries
        self.min_tier = int(min_tier)
        self.line = line
        self.idx = -1
        self.state = _PENDING
        self.start = -1.0
        self.end = -1.0
        self.system = -1
        self.alloc = 0
        self.nalloc = 0
        self.run_id = 0
        self.exp_end = 0.0
        self.preempted = 0
        self.first_reservation = math.inf
        self.gidx = 0
        self.qidx = 0
        self.key = 0.0
        self.sysidx = -1
        self.qkey = 0.0
        self.victim_of = None
        self.rentry: tuple[float, int, Job] | None = None  # its entry in the running list
        self.need = 0

    def __repr__(self):
        return (
            f"Job({self.id!r}, submit={self.submit}, runtime={self.runtime}, "
            f"walltime={self.walltime}, cores={self.cores}, nodes={self.nodes}, "
            f"state={STATE_NAMES[self.state]})"
        )


@dataclass
class SystemSpec:
    """A homogeneous system (or partition): ``nodes`` identical nodes.

    ``zone`` is the highest security level the system is approved for, ``country`` an
    ISO code, ``tier`` the availability tier 1 (moderate) .. 3 (extremely high).
    """

    name: str
    nodes: int
    cores_per_node: int = 1
    gpus_per_node: int = 0
    mem_per_node: float = 0.0  # MB; 0 means memory is not modelled
    country: str = "NO"
    zone: str = "open"
    tier: int = 1

    def __post_init__(self):
        if self.nodes < 1:
            raise ValueError(f"system {self.name!r}: nodes must be >= 1")
        if self.cores_per_node < 1:
            raise ValueError(f"system {self.name!r}: cores_per_node must be >= 1")
        if self.zone not in ZONE_LEVEL:
            raise ValueError(f"system {self.name!r}: zone must be one of {ZONES}")
        if not 1 <= int(self.tier) <= 3:
            raise ValueError(f"system {self.name!r}: tier must be 1, 2 or 3")

    @property
    def cores(self) -> int:
        return self.nodes * self.cores_per_node

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    def nodes_for(self, job: Job) -> int:
        """Whole nodes the job needs here (0 if it cannot run here at all)."""
        if job.nodes > 0:
            n = job.nodes
        else:
            n = -(-max(job.cores, 1) // self.cores_per_node)
            if job.gpus > 0:
                if self.gpus_per_node <= 0:
                    return 0
                n = max(n, -(-job.gpus // self.gpus_per_node))
            if job.mem > 0 and self.mem_per_node > 0:
                n = max(n, math.ceil(job.mem / self.mem_per_node))
        if job.gpus > 0 and self.gpus_per_node <= 0:
            return 0
        return n if n <= self.nodes else 0

    def allows(self, job: Job) -> bool:
        """Zone, country and tier rules: may the job run here at all?"""
        if ZONE_LEVEL.get(job.zone, 0) > ZONE_LEVEL[self.zone]:
            return False
        if job.countries is not None and self.country not in job.countries:
            return False
        if job.min_tier > self.tier:
            return False
        return True


@dataclass
class Platform:
    """One or more systems; jobs go to one of them (federation)."""

    systems: list[SystemSpec]

    def __post_init__(self):
        if not self.systems:
            raise ValueError("a platform needs at least one system")
        names = [s.name for s in self.systems]
        if len(set(names)) != len(names):
            raise ValueError("system names must be unique")

    @classmethod
    def single(cls, nodes: int, cores_per_node: int = 1, name: str = "cluster", **kw) -> Platform:
        return cls([SystemSpec(name=name, nodes=nodes, cores_per_node=cores_per_node, **kw)])

    @property
    def cores(self) -> int:
        return sum(s.cores for s in self.systems)

    @property
    def gpus(self) -> int:
        return sum(s.gpus for s in self.systems)


@dataclass
class GroupSpec:
    """A group (project, sector, account): the unit of fair-share, quota and reporting.

    ``share`` is the entitlement (any positive number; shares are normalised among
    siblings). ``parent`` names a parent group for Fair Tree hierarchies. The quota
    fields follow Kueue's cohort: the nominal quota is ``share`` of each system's
    capacity (or ``nominal`` as a fraction when given); ``borrowing_limit`` caps what the
    group may use beyond its nominal quota (``None`` = no cap, 0 = no borrowing) and
    ``lending_limit`` caps how much of its unused nominal quota others may borrow
    (``None`` = all of it). All limits are fractions of a system's capacity.
    """

    name: str
    share: float = 1.0
    parent: str | None = None
    economic: bool = False
    nominal: float | None = None
    borrowing_limit: float | None = None
    lending_limit: float | None = None
    users: list[str] = field(default_factory=list)


@dataclass
class QOSSpec:
    """A QOS tier. ``priority`` feeds the multifactor QOS factor; ``preempts`` lists the
    tiers this one may preempt; ``preempt_mode`` is what happens to a victim
    (``requeue`` or ``cancel``) and ``grace_time`` the seconds a victim keeps running
    after it is told to stop."""

    name: str
    priority: int = 0
    preempts: list[str] = field(default_factory=list)
    preempt_mode: str = "requeue"
    grace_time: float = 0.0

    def __post_init__(self):
        if self.preempt_mode not in ("requeue", "cancel"):
            raise ValueError(f"QOS {self.name!r}: preempt_mode must be requeue or cancel")


@dataclass
class PriorityWeights:
    """Slurm's multifactor priority weights (PriorityWeight*)."""

    age: float = 1000.0
    fairshare: float = 10000.0
    job_size: float = 0.0
    qos: float = 100000.0
    max_age: float = 7 * 86400.0  # PriorityMaxAge
    favor_small: bool = False  # PriorityFavorSmall


@dataclass
class PolicyConfig:
    """How the simulated scheduler behaves.

    ``policy``: ``fcfs``, ``easy`` or ``conservative``. ``allocation``: ``nodes`` (each
    job gets the lowest-numbered free nodes that stay free for its requested time) or
    ``count`` (only the number of free nodes is tracked). ``priority``: ``fifo`` (by
    submission time) or ``multifactor``. ``fairshare``: ``none``, ``classic`` (Slurm's
    2^(-U/S) with half-life decay) or ``fairtree``. ``quotas`` turns on Kueue-style group
    quotas with borrowing and lending; ``reclaim`` lets a group within its nominal quota
    preempt borrowers. ``economic_cap`` is the largest share (0..1) of each system's
    capacity that economic-activity jobs may hold at once (``None``: no cap).
    ``engine``: ``auto`` replays with the compiled kernel (:mod:`.kernel`) where it
    applies (one system, FCFS or EASY in submission order, no fair-share, quotas,
    economic cap, preempting QOS or reservation recording) and with the Python event
    loop otherwise; ``python`` always uses the event loop; ``kernel`` insists on the
    kernel and is an error where it does not apply. Both give the same schedules.
    """

    policy: str = "easy"
    allocation: str = "nodes"
    priority: str = "fifo"
    fairshare: str = "none"
    weights: PriorityWeights = field(default_factory=PriorityWeights)
    half_life: float = 7 * 86400.0  # PriorityDecayHalfLife
    calc_period: float = 300.0  # PriorityCalcPeriod
    bf_max_job_test: int = 100  # Slurm's bf_max_job_test: queued jobs looked at per pass
    quotas: bool = False
    reclaim: bool = True
    reclaim_grace: float = 0.0
    economic_cap: float | None = None
    qos: list[QOSSpec] = field(default_factory=lambda: [QOSSpec("normal")])
    federation: str = "earliest"  # earliest | first (first eligible system)
    engine: str = "auto"  # auto | python | kernel

    def __post_init__(self):
        if self.policy not in ("fcfs", "easy", "conservative"):
            raise ValueError("policy must be fcfs, easy or conservative")
        if self.allocation not in ("nodes", "count"):
            raise ValueError("allocation must be nodes or count")
        if self.priority not in ("fifo", "multifactor"):
            raise ValueError("priority must be fifo or multifactor")
        if self.fairshare not in ("none", "classic", "fairtree"):
            raise ValueError("fairshare must be none, classic or fairtree")
        if self.economic_cap is not None and not 0.0 <= self.economic_cap <= 1.0:
            raise ValueError("economic_cap must be a fraction between 0 and 1")
        if self.bf_max_job_test < 1:
            raise ValueError("bf_max_job_test must be >= 1")
        if self.federation not in ("earliest", "first"):
            raise ValueError("federation must be earliest or first")
        if self.engine not in ("auto", "python", "kernel"):
            raise ValueError("engine must be auto, python or kernel")
