"""The discrete-event core: systems, queues, policies and the event loop.

Events are kept in two heaps (job ends, and timers such as a preemption's grace time)
merged with the stream of submissions, which is read lazily from the trace. All events
at one instant are applied before the scheduler runs, as in Batsim. A scheduling pass is
*full* after anything that can free resources or change the order (an end, a
preemption, a priority recalculation) and *incremental* otherwise: then only the jobs
that just arrived are tried, which is exact for EASY because nothing else can have
become startable.

EASY backfilling with node-level allocation follows batsched's ``easy_bf``: the first
queued job gets a reservation on the lowest-numbered nodes that are free at the earliest
time it fits (its *shadow time*), and a later job may start now on the lowest-numbered
free nodes that stay free for its requested time, i.e. that avoid the reservation if it
would still run at the shadow time. In count-only mode the same rule is applied to the
number of free nodes (classic EASY: a job may start if it ends before the shadow time or
needs no more than the *extra* nodes).
"""

from __future__ import annotations

import gc
import heapq
import math
import time as _time
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

import numpy as np

from .fairshare import classic_factors, fair_tree_factors
from .metrics import RunResult
from .model import (
    GroupSpec,
    Job,
    JobState,
    Platform,
    PolicyConfig,
    QOSSpec,
    SystemSpec,
)
from .nodes import CountProfile, NodeProfile, lowest_bits
from .queues import FifoQueue, MultifactorQueue

INF = math.inf
# The event loop compares states millions of times, and on Python 3.11 a global is about
# ten times quicker to look up than a member on its Enum class (JobState.QUEUED).
QUEUED, RUNNING, DONE = JobState.QUEUED, JobState.RUNNING, JobState.DONE


class _Sys:
    """One system's state during a run: free nodes, running jobs, its queue, the EASY
    reservation of the last pass, and the use counted against quotas and the economic cap."""

    __slots__ = (
        "spec",
        "idx",
        "nodes",
        "cores_per_node",
        "gpus_per_node",
        "free_mask",
        "free_nodes",
        "running",
        "queue",
        "head",
        "shadow_time",
        "reserved_mask",
        "extra_nodes",
        "needs_full_pass",
        "arrivals",
        "profile",
        "reservations",
        "queued_work",
        "running_end_sum",
        "running_nodes",
        "economic_cores",
        "economic_gpus",
        "economic_cap_cores",
        "economic_cap_gpus",
        "preemptors",
        "quota_used_cores",
        "quota_used_gpus",
        "nominal_cores",
        "nominal_gpus",
        "borrowing_limit_cores",
        "borrowing_limit_gpus",
        "lending_limit_cores",
        "lending_limit_gpus",
        "quota_version",
        "cohort_cache",
    )

    queue: FifoQueue | MultifactorQueue

    def __init__(self, spec: SystemSpec, idx: int) -> None:
        self.spec = spec
        self.idx = idx
        self.nodes = spec.nodes
        self.cores_per_node = spec.cores_per_node
        self.gpus_per_node = spec.gpus_per_node
        self.free_mask = (1 << spec.nodes) - 1  # bit i set: node i is free
        self.free_nodes = spec.nodes
        self.running: list[tuple[float, int, Job]] = []  # (expected end, seq, job), sorted
        # the last EASY pass's blocked head job, its shadow time and reserved nodes (node
        # mode) or the nodes left over at the shadow time (count mode)
        self.head: Job | None = None
        self.shadow_time = INF
        self.reserved_mask = 0
        self.extra_nodes = 0
        self.needs_full_pass = True
        self.arrivals: list[Job] = []  # jobs queued since the last pass
        self.profile: NodeProfile | CountProfile | None = None  # conservative backfilling
        self.reservations: dict[int, tuple[float, float, int]] = {}  # job idx -> (t, w, nodes)
        # the backlog estimate for federation: queued node-seconds, and the sum of
        # nodes x expected end over the running jobs
        self.queued_work = 0.0
        self.running_end_sum = 0.0
        self.running_nodes = 0
        self.economic_cores = 0
        self.economic_gpus = 0
        self.economic_cap_cores = INF
        self.economic_cap_gpus = INF
        self.preemptors: list[Job] = []  # queued jobs whose QOS may preempt others
        # per group (index): use and quota limits, filled in by Simulator._setup_quotas
        self.quota_used_cores: list[int] = []
        self.quota_used_gpus: list[int] = []
        self.nominal_cores: list[float] = []
        self.nominal_gpus: list[float] = []
        self.borrowing_limit_cores: list[float] = []
        self.borrowing_limit_gpus: list[float] = []
        self.lending_limit_cores: list[float] = []
        self.lending_limit_gpus: list[float] = []
        self.quota_version = 0  # bumped by every change of use or quota: invalidates the cache
        self.cohort_cache: dict[bool, tuple] = {}  # gpu? -> (version key, cohort totals)


class _Group:
    """An entitled group during a run: its share, decayed usage and fair-share factor."""

    __slots__ = (
        "name",
        "spec",
        "share",
        "usage",
        "usage_since_recalc",
        "running_cores",
        "usage_counted_until",
        "fairshare_factor",
        "idx",
        "job_count",
        "economic",
    )

    def __init__(self, idx: int, name: str, spec: GroupSpec | None, share: float) -> None:
        self.idx = idx
        self.name = name
        self.spec = spec
        self.share = share
        self.usage = 0.0  # core-seconds, decayed at each recalculation
        self.usage_since_recalc = 0.0
        self.running_cores = 0
        self.usage_counted_until = 0.0  # when running_cores was last added to the usage
        self.fairshare_factor = 1.0
        self.job_count = 0
        self.economic = bool(spec.economic) if spec else False


class _Preemption:
    """A preempting job waiting for its victims: the nodes it will take (a mask in node
    mode, a count in count mode), those it already holds, and the victims still running."""

    __slots__ = ("preemptor", "system", "target_nodes", "held_nodes", "victims")

    def __init__(
        self, preemptor: Job, system: _Sys, target_nodes: int, held_nodes: int, victims: set[int]
    ) -> None:
        self.preemptor = preemptor
        self.system = system
        self.target_nodes = target_nodes
        self.held_nodes = held_nodes
        self.victims = victims


def leaf_shares(groups: list[GroupSpec]) -> dict[str, float]:
    """Each leaf group's share of the whole, multiplying normalised shares down the tree."""
    by_parent: dict[str | None, list[GroupSpec]] = {}
    names = {g.name for g in groups}
    for g in groups:
        p = g.parent if g.parent in names else None
        by_parent.setdefault(p, []).append(g)
    out: dict[str, float] = {}

    def walk(parent, frac):
        kids = by_parent.get(parent, [])
        tot = sum(max(k.share, 0.0) for k in kids)
        for k in kids:
            f = frac * (max(k.share, 0.0) / tot if tot > 0 else 0.0)
            if k.name in by_parent:
                walk(k.name, f)
            else:
                out[k.name] = f

    walk(None, 1.0)
    return out


class Simulator:
    """Replays a workload on a platform under a policy.

    ``groups`` are the entitled groups (fair-share, quotas, reporting); jobs whose group
    is not among them are put in a group of that name with no entitlement. With no
    groups at all every job's own group counts with share 1.
    """

    def __init__(
        self,
        platform: Platform,
        policy: PolicyConfig | None = None,
        groups: list[GroupSpec] | None = None,
        *,
        progress=None,
        record_reservations: bool = False,
    ):
        self.platform = platform
        self.policy = policy or PolicyConfig()
        self.group_specs = list(groups or [])
        self.progress = progress
        self.record = record_reservations
        p = self.policy
        self.node_mode = p.allocation == "nodes"
        self.multifactor = p.priority == "multifactor"
        self.systems = [_Sys(s, i) for i, s in enumerate(platform.systems)]
        self._setup_qos(p.qos)
        self._setup_groups()
        self.now = 0.0
        self.seq = 0
        # event heaps of (time, seq, job, the job's run_id when the event was made)
        self.ends: list[tuple[float, int, Job, int]] = []
        self.timers: list[tuple[float, int, Job, int]] = []  # preemption grace times
        self.jobs: list[Job] = []
        # (job idx, system, start, end, nodes, alloc) of preempted runs
        self.segments: list[tuple[int, int, float, float, int, int]] = []
        self.preemptions = 0
        self.rejected = 0
        self.passes = 0
        self.next_recalc = INF
        self.last_recalc = 0.0
        self.last_submit = -INF
        self.queued_total = 0
        self._setup_systems(p)
        self._setup_quotas()
        # what the policy needs done, so that the hot paths skip the rest
        self.fast_start = p.policy in ("fcfs", "easy")
        self.single = self.systems[0] if len(self.systems) == 1 else None
        self.limits = p.quotas or p.economic_cap is not None
        self.track_backlog = self.single is None
        self.fcfs_incremental = (
            p.policy == "fcfs" and not self.multifactor and not self.limits and not self.record
        )
        self.track_usage = self.multifactor or p.fairshare != "none"
        self.needs_recalc = self.track_usage  # priorities or fair-share factors to refresh
        self.track_quota = p.quotas
        # a plain function, not a bound method, so the simulator holds no reference cycle
        self._policy_pass = {
            "easy": Simulator._pass_easy,
            "fcfs": Simulator._pass_fcfs,
            "conservative": Simulator._pass_conservative,
        }[p.policy]

    def _setup_qos(self, tiers: list[QOSSpec]) -> None:
        self.qos = {q.name: q for q in tiers}
        if "normal" not in self.qos:
            self.qos["normal"] = QOSSpec("normal")
        maxq = max((q.priority for q in self.qos.values()), default=0)
        self.qos_factor = {n: (q.priority / maxq if maxq > 0 else 0.0) for n, q in self.qos.items()}
        self.preempting = {n for n, q in self.qos.items() if q.preempts}

    def _setup_groups(self) -> None:
        """The entitled groups (leaves of the share tree) and the users listed in them."""
        self.quota_lists_built = False
        self.groups: list[_Group] = []
        self.gindex: dict[str, int] = {}
        self.auto_groups = not self.group_specs
        shares = leaf_shares(self.group_specs) if self.group_specs else {}
        self.parents = {g.name: g.parent for g in self.group_specs}
        for gs in self.group_specs:
            if gs.name in shares:
                self._add_group(gs.name, gs, shares[gs.name])
        self.user_group: dict[str, str] = {}
        for gs in self.group_specs:
            for u in gs.users:
                self.user_group[u] = gs.name

    def _setup_systems(self, p: PolicyConfig) -> None:
        """Each system's queue and economic cap."""
        for S in self.systems:
            S.queue = (
                MultifactorQueue(S.idx, max(1, len(self.groups)), p.weights)
                if self.multifactor
                else FifoQueue(S.idx)
            )
            if p.economic_cap is not None:
                S.economic_cap_cores = p.economic_cap * S.spec.cores
                S.economic_cap_gpus = p.economic_cap * S.spec.gpus

    # ------------------------------------------------------------------ groups & quotas
    def _add_group(self, name, spec, share):
        g = _Group(len(self.groups), name, spec, share)
        self.groups.append(g)
        self.gindex[name] = g.idx
        if self.quota_lists_built:  # a group first seen during the run
            for S in self.systems:
                self._extend_quota(S, g)
        return g

    def _group_of(self, job: Job) -> int:
        return self._group_index(job.group or self.user_group.get(job.user) or "default")

    def group_indices(self, cols) -> np.ndarray:
        """Each job's group index, as :meth:`_submit` assigns them one by one (groups
        are created in order of first appearance)."""
        group = cols.group
        if group.dtype.kind in "iu":  # numbered groups (SWF): never empty
            uniq, first, inverse = np.unique(group, return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            codes = rank[inverse]
            names = [str(int(x)) for x in uniq[order]]
        else:
            ug = self.user_group
            per_job = (
                [g or ug.get(u) or "default" for g, u in zip(group, cols.user, strict=True)]
                if ug
                else [g or "default" for g in group]
            )
            lut: dict[str, int] = {}
            codes = np.fromiter(
                (lut.setdefault(x, len(lut)) for x in per_job), np.int64, len(per_job)
            )
            names = list(lut)
        index = np.array([self._group_index(name) for name in names], np.int32)
        return index[codes] if codes.size else np.zeros(0, np.int32)

    def _group_index(self, name):
        gi = self.gindex.get(name)
        if gi is None:
            share = 1.0 if self.auto_groups else 0.0
            spec = GroupSpec(name=name, share=share)
            g = self._add_group(name, spec, share)
            if self.auto_groups:
                n = len(self.groups)
                for gg in self.groups:
                    gg.share = 1.0 / n
            gi = g.idx
        return gi

    def _setup_quotas(self):
        for S in self.systems:
            S.quota_used_cores = [0] * len(self.groups)
            S.quota_used_gpus = [0] * len(self.groups)
            for g in self.groups:
                self._quota_lists(S, g)
        self.quota_lists_built = True

    def _quota_lists(self, S: _Sys, g: _Group) -> None:
        spec = g.spec
        frac = spec.nominal if (spec and spec.nominal is not None) else g.share
        C, G = S.spec.cores, S.spec.gpus
        S.nominal_cores.append(frac * C)
        S.nominal_gpus.append(frac * G)
        bl = spec.borrowing_limit if spec else None
        ll = spec.lending_limit if spec else None
        S.borrowing_limit_cores.append(INF if bl is None else bl * C)
        S.borrowing_limit_gpus.append(INF if bl is None else bl * G)
        S.lending_limit_cores.append(INF if ll is None else ll * C)
        S.lending_limit_gpus.append(INF if ll is None else ll * G)

    def _extend_quota(self, S: _Sys, g: _Group) -> None:
        S.quota_version += 1
        S.quota_used_cores.append(0)
        S.quota_used_gpus.append(0)
        self._quota_lists(S, g)
        if self.auto_groups:  # shares were renormalised: recompute nominal quotas
            for gg in self.groups:
                S.nominal_cores[gg.idx] = gg.share * S.spec.cores
                S.nominal_gpus[gg.idx] = gg.share * S.spec.gpus

    @staticmethod
    def _cohort_totals(used, nominal, llim):
        """Per group: what it lends (unused nominal, up to its lending limit) and what it
        borrows (use above nominal); and the cohort's totals of both."""
        lend = []
        borrow = []
        for h in range(len(used)):
            d = nominal[h] - used[h]
            if d > 0:
                lend.append(d if d < llim[h] else llim[h])
                borrow.append(0.0)
            else:
                lend.append(0.0)
                borrow.append(-d)
        return lend, borrow, sum(lend), sum(borrow)

    def _cohort_ok(self, S: _Sys, g: int, add: float, gpu: bool) -> bool:
        """Kueue-style admission: within the nominal quota always; beyond it only up to
        the borrowing limit and while the rest of the cohort lends enough."""
        if gpu:
            used, nominal, blim, llim = (
                S.quota_used_gpus,
                S.nominal_gpus,
                S.borrowing_limit_gpus,
                S.lending_limit_gpus,
            )
        else:
            used, nominal, blim, llim = (
                S.quota_used_cores,
                S.nominal_cores,
                S.borrowing_limit_cores,
                S.lending_limit_cores,
            )
        u = used[g] + add
        N = nominal[g]
        if u <= N:
            return True
        if u - N > blim[g]:
            return False
        key = (S.quota_version, gpu)
        cache = S.cohort_cache.get(gpu)
        if cache is None or cache[0] != key:
            cache = (key, self._cohort_totals(used, nominal, llim))
            S.cohort_cache[gpu] = cache
        lend, borrow, L, B = cache[1]
        return (B - borrow[g]) + (u - N) <= (L - lend[g]) + 1e-9

    def _admissible(self, S: _Sys, job: Job) -> bool:
        n = job.need
        if job.economic and S.economic_cap_cores != INF:
            if (
                S.economic_cores + n * S.cores_per_node > S.economic_cap_cores + 1e-9
                or S.economic_gpus + n * S.gpus_per_node > S.economic_cap_gpus + 1e-9
            ):
                return False
        if self.policy.quotas:
            g = job.gidx
            # within the nominal quota is the common case: no call needed
            c = n * S.cores_per_node
            if S.quota_used_cores[g] + c > S.nominal_cores[g] and not self._cohort_ok(
                S, g, c, False
            ):
                return False
            if S.gpus_per_node and not self._cohort_ok(S, g, n * S.gpus_per_node, True):
                return False
        return True

    def _never_admissible(self, S: _Sys, job: Job) -> bool:
        n = job.need
        if (
            job.economic
            and S.economic_cap_cores != INF
            and (
                n * S.cores_per_node > S.economic_cap_cores + 1e-9
                or n * S.gpus_per_node > S.economic_cap_gpus + 1e-9
            )
        ):
            return True
        if self.policy.quotas:
            g = job.gidx
            total = sum(S.nominal_cores) if S.nominal_cores else S.spec.cores
            limit = min(
                S.nominal_cores[g] + S.borrowing_limit_cores[g], max(total, S.nominal_cores[g])
            )
            if n * S.cores_per_node > limit + 1e-9:
                return True
        return False

    # ------------------------------------------------------------------ routing
    def _estimate(self, S: _Sys, n: int, now: float) -> float:
        if S.free_nodes >= n and len(S.queue) == 0:
            return now
        remaining = S.running_end_sum - now * S.running_nodes
        return now + (remaining + S.queued_work) / S.nodes

    def _route(self, job: Job) -> tuple[_Sys | None, int]:
        if self.single is not None:
            spec = self.single.spec
            n = spec.nodes_for(job)
            if n > 0 and spec.allows(job):
                return self.single, n
            return None, 0
        best = None
        best_t = INF
        for S in self.systems:
            spec = S.spec
            if not spec.allows(job):
                continue
            n = spec.nodes_for(job)
            if n <= 0:
                continue
            if self.policy.federation == "first":
                return S, n
            t = self._estimate(S, n, self.now)
            if t < best_t:
                best, best_t, best_n = S, t, n
        if best is None:
            return None, 0
        return best, best_n

    # ------------------------------------------------------------------ start / end
    def _start(self, S: _Sys, job: Job, alloc: int, n: int, now: float) -> None:
        job.state = RUNNING
        job.start = now
        job.system = S.idx
        job.alloc = alloc
        job.nalloc = n
        wt = job.walltime
        e = now + wt
        job.exp_end = e
        seq = self.seq = self.seq + 1
        rid = job.run_id = job.run_id + 1
        rt = job.runtime
        heapq.heappush(self.ends, (now + (rt if rt < wt else wt), seq, job, rid))
        ent = (e, seq, job)
        job.rentry = ent
        r = S.running
        if not r or r[-1] < ent:
            r.append(ent)
        else:
            insort(r, ent)
        if self.node_mode:
            S.free_mask ^= alloc
        S.free_nodes -= n
        # bookkeeping only what something reads: backlog (federation), usage (fair-share
        # recalculation), quota use (quotas) and economic use (economic cap)
        if self.track_backlog:
            S.running_end_sum += n * e
            S.running_nodes += n
        c = n * S.cores_per_node
        if self.track_usage:
            g = self.groups[job.gidx]
            g.usage_since_recalc += g.running_cores * (now - g.usage_counted_until)
            g.usage_counted_until = now
            g.running_cores += c
        if self.track_quota:
            S.quota_used_cores[job.gidx] += c
            S.quota_used_gpus[job.gidx] += n * S.gpus_per_node
            S.quota_version += 1
        if job.economic:
            S.economic_cores += c
            S.economic_gpus += n * S.gpus_per_node

    def _release(self, S: _Sys, job: Job, now: float) -> None:
        r = S.running
        assert job.rentry is not None  # set by _start
        del r[bisect_left(r, job.rentry)]
        n = job.nalloc
        if self.track_backlog:
            S.running_end_sum -= n * job.exp_end
            S.running_nodes -= n
        c = n * S.cores_per_node
        if self.track_usage:
            g = self.groups[job.gidx]
            g.usage_since_recalc += g.running_cores * (now - g.usage_counted_until)
            g.usage_counted_until = now
            g.running_cores -= c
        if self.track_quota:
            S.quota_used_cores[job.gidx] -= c
            S.quota_used_gpus[job.gidx] -= n * S.gpus_per_node
            S.quota_version += 1
        if job.economic:
            S.economic_cores -= c
            S.economic_gpus -= n * S.gpus_per_node
        rec = job.victim_of
        if rec is not None:
            job.victim_of = None
            rec.victims.discard(job.idx)
            if self.node_mode:
                give = job.alloc & rec.target_nodes & ~rec.held_nodes
                rec.held_nodes |= give
                S.free_mask |= job.alloc & ~give
                S.free_nodes += n - give.bit_count()
            else:
                give = min(n, rec.target_nodes - rec.held_nodes)
                rec.held_nodes += give
                S.free_nodes += n - give
            if not rec.victims:
                self._finish_preemption(rec, now)
        else:
            if self.node_mode:
                S.free_mask |= job.alloc
            S.free_nodes += n
        S.needs_full_pass = True

    # ------------------------------------------------------------------ preemption
    def _stop(self, job: Job, now: float) -> None:
        """Grace time over: the victim stops; requeued or cancelled per its preemptor."""
        S = self.systems[job.system]
        mode = job.victim_of.preemptor.qos if job.victim_of is not None else None
        qspec = self.qos.get(mode) if mode else None
        how = qspec.preempt_mode if qspec else "requeue"
        self.segments.append((job.idx, S.idx, job.start, now, job.nalloc, job.alloc))
        job.preempted += 1
        self.preemptions += 1
        self._release(S, job, now)
        if how == "cancel":
            job.state = JobState.CANCELLED
            job.end = now
        else:
            job.start = -1.0
            job.state = QUEUED
            self._enqueue(S, job, requeue=True)

    def _finish_preemption(self, rec: _Preemption, now: float) -> None:
        S = rec.system
        job = rec.preemptor
        S.quota_used_cores[job.gidx] -= job.need * S.cores_per_node
        S.quota_used_gpus[job.gidx] -= job.need * S.gpus_per_node
        S.quota_version += 1
        if self.node_mode:
            # take any still-missing target nodes that are free (victims ended early)
            miss = rec.target_nodes & ~rec.held_nodes
            if miss:
                got = miss & S.free_mask
                S.free_mask &= ~got
                S.free_nodes -= got.bit_count()
                rec.held_nodes |= got
            alloc = rec.held_nodes
            n = alloc.bit_count()
            S.free_nodes += n  # _start subtracts again
            S.free_mask |= alloc
        else:
            n = rec.held_nodes
            S.free_nodes += n
            alloc = 0
        self._start(S, job, alloc, n, now)
        S.needs_full_pass = True

    def _try_preempt(self, S: _Sys, job: Job, now: float, victims_ok, grace) -> bool:
        """Free ``job.need`` nodes by stopping running jobs that ``victims_ok`` accepts."""
        n = job.need
        free = S.free_mask if self.node_mode else S.free_nodes
        have = free.bit_count() if self.node_mode else free
        cands = [e[2] for e in S.running if e[2].victim_of is None and victims_ok(e[2])]
        if not cands:
            return False
        cands.sort(
            key=lambda j: (self.qos.get(j.qos, self.qos["normal"]).priority, -j.start, -j.idx)
        )
        chosen = []
        union = free if self.node_mode else 0
        for v in cands:
            if have >= n:
                break
            chosen.append(v)
            if self.node_mode:
                union |= v.alloc
                have = union.bit_count()
            else:
                have += v.nalloc
        if have < n:
            return False
        # shrink: drop victims that are not needed (largest first stays minimal enough)
        S.queue.discard(job)
        self.queued_total -= 1
        S.queued_work -= job.need * job.walltime
        job.state = JobState.WAITING
        if self.node_mode:
            target = lowest_bits(union, n)
            held = target & S.free_mask
            S.free_mask &= ~held
            S.free_nodes -= held.bit_count()
            chosen = [v for v in chosen if v.alloc & target]
        else:
            held = min(S.free_nodes, n)
            S.free_nodes -= held
            target = n
        rec = _Preemption(job, S, target, held, {v.idx for v in chosen})
        # the preemptor's quota is taken now, so that it is not reclaimed twice
        S.quota_used_cores[job.gidx] += n * S.cores_per_node
        S.quota_used_gpus[job.gidx] += n * S.gpus_per_node
        S.quota_version += 1
        if not chosen:
            self._finish_preemption(rec, now)
            return True
        for v in chosen:
            v.victim_of = rec
            t = now + grace
            self.seq += 1
            heapq.heappush(self.timers, (t, self.seq, v, v.run_id))
        return True

    def _victim_lower_tier(self, job: Job):
        allowed = set(self.qos[job.qos].preempts)
        return lambda v: v.qos in allowed

    def _reclaim_victims(self, S: _Sys, job: Job):
        used = S.quota_used_cores
        nominal = S.nominal_cores
        taken: dict[int, int] = {}

        def ok(v):
            h = v.gidx
            if h == job.gidx:
                return False
            u = used[h] - taken.get(h, 0)
            if u > nominal[h] + 1e-9:
                taken[h] = taken.get(h, 0) + v.nalloc * S.cores_per_node
                return True
            return False

        return ok

    # ------------------------------------------------------------------ queueing
    def _static(self, S: _Sys, job: Job) -> float:
        w = self.policy.weights
        qf = self.qos_factor.get(job.qos, 0.0)
        sf = job.need / S.nodes
        if w.favor_small:
            sf = 1.0 - sf
        return w.qos * qf + w.job_size * sf

    def _enqueue(self, S: _Sys, job: Job, requeue: bool = False) -> None:
        job.sysidx = S.idx
        job.state = QUEUED
        queue = S.queue
        if isinstance(queue, MultifactorQueue):  # the queue of a multifactor policy
            queue.push(job, self._static(S, job), self.now)
        else:
            queue.push(job)
        S.queued_work += job.need * job.walltime
        self.queued_total += 1
        if job.qos in self.preempting:
            S.preemptors.append(job)
        if requeue:
            S.needs_full_pass = True
        else:
            S.arrivals.append(job)

    def _submit(self, job: Job) -> None:
        if job.submit < self.last_submit:
            raise ValueError(f"trace not sorted by submission time at job {job.id!r}")
        self.last_submit = job.submit
        self.jobs.append(job)
        job.idx = len(self.jobs) - 1
        # _group_of without the group creation, for the common case of a known group
        name = job.group or self.user_group.get(job.user, "")
        if not name:
            name = self.user_group.get(job.user, "default")
        gi = self.gindex.get(name)
        if gi is None:
            gi = self._group_of(job)
        job.gidx = gi
        self.groups[gi].job_count += 1
        if job.qos not in self.qos:
            job.qos = "normal"
        S = self.single
        if S is not None:
            spec = S.spec
            n = spec.nodes_for(job)
            if n <= 0 or not spec.allows(job):
                S = None
        else:
            S, n = self._route(job)
        if S is None:
            job.state = JobState.REJECTED
            self.rejected += 1
            return
        job.need = n
        job.sysidx = S.idx
        if self.limits and self._never_admissible(S, job):
            job.state = JobState.REJECTED
            self.rejected += 1
            return
        if (
            self.fast_start
            and S.free_nodes >= n
            and not S.needs_full_pass
            and not S.arrivals
            and not S.preemptors
            and (self.queued_total == 0 or len(S.queue) == 0)
            and (not self.limits or self._admissible(S, job))
        ):
            # nothing waits and nothing changed at this instant: the job starts at once on
            # the lowest-numbered free nodes, exactly what a pass would do
            self._start(S, job, lowest_bits(S.free_mask, n) if self.node_mode else 0, n, self.now)
            return
        self._enqueue(S, job)

    def _dequeue(self, S: _Sys, job: Job) -> None:
        S.queue.discard(job)
        self.queued_total -= 1
        S.queued_work -= job.need * job.walltime

    # ------------------------------------------------------------------ fair-share
    def _recalc(self, T: float) -> None:
        p = self.policy
        dt = T - self.last_recalc
        decay = 0.5 ** (dt / p.half_life) if p.half_life > 0 else 1.0
        for g in self.groups:
            g.usage_since_recalc += g.running_cores * (T - g.usage_counted_until)
            g.usage_counted_until = T
            g.usage = g.usage * decay + g.usage_since_recalc
            g.usage_since_recalc = 0.0
        self.last_recalc = T
        factors = self.fairshare_factors()
        for g, f in zip(self.groups, factors, strict=False):
            g.fairshare_factor = f
        for S in self.systems:
            if isinstance(S.queue, MultifactorQueue):  # the queue of a multifactor policy
                S.queue.set_offsets(T, factors)
            S.needs_full_pass = True

    def fairshare_factors(self) -> list[float]:
        mode = self.policy.fairshare
        groups = self.groups
        if mode == "none":
            return [0.0] * len(groups)
        usage = [g.usage for g in groups]
        if mode == "classic":
            return classic_factors(usage, [g.share for g in groups])
        shares = {gs.name: max(gs.share, 0.0) for gs in self.group_specs}
        for g in groups:
            shares.setdefault(g.name, g.share)
        return fair_tree_factors([g.name for g in groups], usage, shares, self.parents)

    # ------------------------------------------------------------------ passes
    def _pass(self, S: _Sys, now: float) -> None:
        self.passes += 1
        # queued_total is the sum of the queues' lengths: 0 means every queue is empty
        if (
            self.fast_start
            and not S.arrivals
            and not S.preemptors
            and (self.queued_total == 0 or len(S.queue) == 0)
        ):
            # nothing waits: what an EASY or FCFS pass would leave behind
            S.head = None
            S.shadow_time = INF
            S.reserved_mask = 0
            S.extra_nodes = 0
            S.needs_full_pass = False
            return
        if S.preemptors:
            self._pass_preemptors(S, now)
        self._policy_pass(self, S, now)
        S.arrivals = []
        S.needs_full_pass = False

    def _pass_preemptors(self, S: _Sys, now: float) -> None:
        keep = []
        for job in sorted(S.preemptors, key=lambda j: (-self.qos[j.qos].priority, j.submit, j.idx)):
            if job.state != QUEUED or job.sysidx != S.idx:
                continue
            if S.free_nodes >= job.need and self._admissible(S, job):
                self._dequeue(S, job)
                alloc = lowest_bits(S.free_mask, job.need) if self.node_mode else 0
                self._start(S, job, alloc, job.need, now)
                S.needs_full_pass = True
                continue
            q = self.qos[job.qos]
            if self._try_preempt(S, job, now, self._victim_lower_tier(job), q.grace_time):
                S.needs_full_pass = True
                continue
            keep.append(job)
        S.preemptors = keep

    def _start_queued(self, S: _Sys, job: Job, alloc: int, now: float) -> None:
        self._dequeue(S, job)
        self._start(S, job, alloc, job.need, now)

    def _reserve_nodes(self, S: _Sys, n: int, now: float) -> tuple[float, int]:
        """Shadow time and node set for a job of ``n`` nodes (node mode)."""
        acc = S.free_nodes
        mask = S.free_mask
        r = S.running
        i = 0
        ln = len(r)
        while acc < n and i < ln:
            e, _, j = r[i]
            acc += j.nalloc
            mask |= j.alloc
            i += 1
            while i < ln and r[i][0] == e:
                acc += r[i][2].nalloc
                mask |= r[i][2].alloc
                i += 1
            if acc >= n:
                return e, lowest_bits(mask, n)
        return now, lowest_bits(mask, n)

    def _reserve_count(self, S: _Sys, n: int, now: float) -> tuple[float, int]:
        acc = S.free_nodes
        r = S.running
        i = 0
        ln = len(r)
        while acc < n and i < ln:
            e = r[i][0]
            acc += r[i][2].nalloc
            i += 1
            while i < ln and r[i][0] == e:
                acc += r[i][2].nalloc
                i += 1
            if acc >= n:
                return e, acc - n
        return now, acc - n

    def _pass_easy(self, S: _Sys, now: float) -> None:
        q = S.queue
        quotas = self.policy.quotas or S.economic_cap_cores != INF
        if not S.needs_full_pass and S.head is not None and S.head.state == QUEUED:
            # incremental: only the jobs that just arrived can have become startable
            # (in submission order they always do)
            last_head = S.head
            if not self.multifactor or all(
                q.order_value(j) > q.order_value(last_head) for j in S.arrivals
            ):
                self._backfill_new(S, now, quotas)
                return
        S.head = None
        reclaim = self.policy.quotas and self.policy.reclaim
        if S.free_nodes <= 0 and not reclaim:
            return
        blocked = [False] * len(self.groups) if quotas else None
        queued = q.iter(blocked)
        shadow, rmask, extra = INF, 0, 0
        head = self._easy_start_in_order(S, queued, now, blocked, reclaim)
        if head is not None:
            # the head's reservation: its shadow time, and the nodes reserved for it (node
            # mode) or the nodes left over at the shadow time (count mode)
            if self.node_mode:
                shadow, rmask = self._reserve_nodes(S, head.need, now)
            else:
                shadow, extra = self._reserve_count(S, head.need, now)
            if self.record and shadow < head.first_reservation:
                head.first_reservation = shadow
            extra = self._easy_backfill(S, queued, now, blocked, shadow, rmask, extra)
        S.head = head
        S.shadow_time = shadow
        S.reserved_mask = rmask
        S.extra_nodes = extra

    def _block_group(self, blocked: list[bool] | None, job: Job) -> None:
        """A job its quota refuses holds back its group's later jobs in this pass (Kueue's
        StrictFIFO), unless only the job itself is economic activity in a group that is
        not (then the economic cap refused it, not the group's quota)."""
        if blocked is not None and (not job.economic or self.groups[job.gidx].economic):
            blocked[job.gidx] = True

    def _easy_start_in_order(
        self, S: _Sys, queued: Iterator[Job], now: float, blocked: list[bool] | None, reclaim: bool
    ) -> Job | None:
        """Start queued jobs in order while they fit (or reclaim nodes for them); return
        the first that does not, which gets the reservation, or None."""
        quotas = blocked is not None
        for job in queued:
            if quotas and not self._admissible(S, job):
                self._block_group(blocked, job)
                continue
            n = job.need
            if n <= S.free_nodes:
                alloc = lowest_bits(S.free_mask, n) if self.node_mode else 0
                self._start_queued(S, job, alloc, now)
                if S.free_nodes <= 0 and not reclaim:
                    return None
                continue
            if (
                reclaim
                and self._within_nominal(S, job)
                and self._try_preempt(
                    S, job, now, self._reclaim_victims(S, job), self.policy.reclaim_grace
                )
            ):
                continue
            return job
        return None

    def _easy_backfill(
        self,
        S: _Sys,
        queued: Iterator[Job],
        now: float,
        blocked: list[bool] | None,
        shadow: float,
        rmask: int,
        extra: int,
    ) -> int:
        """Start the jobs behind the head (up to ``bf_max_job_test`` of them) that do not
        delay its reservation; returns the extra nodes left (count mode)."""
        quotas = blocked is not None
        node = self.node_mode
        avail_nr = (S.free_mask & ~rmask).bit_count() if node else 0
        depth = 0
        maxd = self.policy.bf_max_job_test
        for job in queued:
            n = job.need
            if quotas and not self._admissible(S, job):
                self._block_group(blocked, job)
                continue
            depth += 1
            if depth > maxd:
                break
            if n > S.free_nodes:
                continue
            w = now + job.walltime
            if node:
                if w <= shadow:
                    alloc = lowest_bits(S.free_mask, n)
                    self._start_queued(S, job, alloc, now)
                    avail_nr -= (alloc & ~rmask).bit_count()
                elif n <= avail_nr:
                    alloc = lowest_bits(S.free_mask & ~rmask, n)
                    self._start_queued(S, job, alloc, now)
                    avail_nr -= n
                else:
                    continue
            else:
                if w <= shadow:
                    self._start_queued(S, job, 0, now)
                    if extra > S.free_nodes:
                        extra = S.free_nodes
                elif n <= extra:
                    self._start_queued(S, job, 0, now)
                    extra -= n
                else:
                    continue
            if S.free_nodes <= 0:
                break
        return extra

    def _within_nominal(self, S: _Sys, job: Job) -> bool:
        g = job.gidx
        return S.quota_used_cores[g] + job.need * S.cores_per_node <= S.nominal_cores[g] + 1e-9

    def _backfill_new(self, S: _Sys, now: float, quotas: bool) -> None:
        shadow = S.shadow_time
        node = self.node_mode
        rmask = S.reserved_mask
        for job in S.arrivals:
            if job.state != QUEUED or job.sysidx != S.idx:
                continue
            n = job.need
            if n > S.free_nodes:
                continue
            if quotas and not self._admissible(S, job):
                continue
            w = now + job.walltime
            if node:
                if w <= shadow:
                    alloc = lowest_bits(S.free_mask, n)
                else:
                    av = S.free_mask & ~rmask
                    if av.bit_count() < n:
                        continue
                    alloc = lowest_bits(av, n)
                self._start_queued(S, job, alloc, now)
            else:
                if w <= shadow:
                    self._start_queued(S, job, 0, now)
                    if S.extra_nodes > S.free_nodes:
                        S.extra_nodes = S.free_nodes
                elif n <= S.extra_nodes:
                    self._start_queued(S, job, 0, now)
                    S.extra_nodes -= n

    def _pass_fcfs(self, S: _Sys, now: float) -> None:
        head = S.head
        if (
            self.fcfs_incremental
            and not S.needs_full_pass
            and head is not None
            and head.state == QUEUED
            and head.need > S.free_nodes
        ):
            # only arrivals since the last pass, which stopped at ``head``: in submission
            # order they queue behind it, and it still does not fit, so nothing starts
            return
        S.head = None
        quotas = self.policy.quotas or S.economic_cap_cores != INF
        node = self.node_mode
        for job in S.queue.iter():
            if quotas and not self._admissible(S, job):
                continue
            n = job.need
            if n > S.free_nodes:
                if self.policy.quotas and self.policy.reclaim and self._within_nominal(S, job):
                    if self._try_preempt(
                        S, job, now, self._reclaim_victims(S, job), self.policy.reclaim_grace
                    ):
                        continue
                if self.record:
                    t, _ = (
                        self._reserve_nodes(S, n, now) if node else self._reserve_count(S, n, now)
                    )
                    if t < job.first_reservation:
                        job.first_reservation = t
                S.head = job
                break
            self._start_queued(S, job, lowest_bits(S.free_mask, n) if node else 0, now)

    def _pass_conservative(self, S: _Sys, now: float) -> None:
        """Every queued job holds a reservation. After an end (or anything else that
        frees resources) the schedule is compressed: each job in priority order is taken
        out and put back at its earliest fit, which is never later than its old
        reservation, because that slot is still free when the job is taken out."""
        node = self.node_mode
        quotas = self.policy.quotas or S.economic_cap_cores != INF
        resv = S.reservations
        if S.profile is None or S.needs_full_pass:
            running = [(e, j.alloc if node else j.nalloc) for e, _, j in S.running]
            prof = (
                NodeProfile(now, S.free_mask, running)
                if node
                else CountProfile(now, S.free_nodes, running)
            )
            for t, w, nodes in resv.values():
                prof.reserve(t if t > now else now, w, nodes)
            todo = S.queue.iter()
        else:
            prof = S.profile
            prof.advance(now)
            todo = S.arrivals
        S.profile = prof
        started = []
        for job in todo:
            if job.state != QUEUED or job.sysidx != S.idx:
                continue
            old = resv.get(job.idx)
            if quotas and not self._admissible(S, job):
                if old is not None:
                    prof.release(*old)
                    del resv[job.idx]
                continue
            w = job.walltime
            if old is not None:
                prof.release(*old)
            t, nodes = prof.first_fit(job.need, w)
            if old is not None and t > old[0]:
                t, _, nodes = old
            prof.reserve(t, w, nodes)
            resv[job.idx] = (t, w, nodes)
            if self.record and t < job.first_reservation:
                job.first_reservation = t
            if t <= now:
                started.append(job)
        for job in started:
            _, _, nodes = resv.pop(job.idx)
            self._start_queued(S, job, nodes if node else 0, now)

    # ------------------------------------------------------------------ main loop
    def kernel_applies(self) -> bool:
        """Whether the compiled kernel can replay this configuration (see
        ``PolicyConfig.engine``)."""
        p = self.policy
        return (
            self.single is not None
            and p.policy in ("fcfs", "easy")
            and not self.multifactor
            and p.fairshare == "none"
            and not p.quotas
            and p.economic_cap is None
            and not self.preempting
            and not self.record
        )

    def run(self, jobs: Iterable[Job]) -> RunResult:
        engine = self.policy.engine
        if engine == "kernel" and not self.kernel_applies():
            raise ValueError(
                "engine 'kernel' replays one system with FCFS or EASY in "
                "submission order only (no fair-share, quotas, economic cap, "
                "preempting QOS or reservation recording)"
            )
        if engine != "python" and self.kernel_applies():
            from .kernel import run_columns

            return run_columns(self, jobs)
        t0 = _time.perf_counter()
        # the run allocates millions of long-lived objects and no cycles: the cyclic
        # collector would rescan them all again and again
        gc_was = gc.isenabled()
        gc.disable()
        try:
            return self._run(jobs, t0)
        finally:
            if gc_was:
                gc.enable()

    def _run(self, jobs: Iterable[Job], t0: float) -> RunResult:
        it = iter(jobs)
        nxt = next(it, None)
        self._start_clocks(nxt)
        progress = self.progress
        count = 0
        # locals: this loop runs once per event instant
        ends = self.ends
        timers = self.timers
        systems = self.systems
        needs_recalc = self.needs_recalc
        heappop = heapq.heappop
        release = self._release
        submit = self._submit
        run_pass = self._pass
        while True:
            t = nxt.submit if nxt is not None else INF
            if ends and ends[0][0] < t:
                t = ends[0][0]
            if timers and timers[0][0] < t:
                t = timers[0][0]
            if needs_recalc and self.next_recalc <= t and self.queued_total > 0:
                t = self.next_recalc
            if t == INF:
                break
            self.now = t
            if needs_recalc and self.next_recalc <= t:
                self._recalc_due(t)
            while ends and ends[0][0] <= t:
                _, _, job, rid = heappop(ends)
                if job.run_id == rid and job.state == RUNNING:  # not a stale event
                    job.state = DONE
                    job.end = t
                    release(systems[job.system], job, t)
            if timers and timers[0][0] <= t:
                self._stop_due(t)
            while nxt is not None and nxt.submit <= t:
                submit(nxt)
                count += 1
                nxt = next(it, None)
                if progress is not None and count % 4096 == 0:
                    progress.update(4096)
            for S in systems:
                if S.needs_full_pass or S.arrivals:
                    run_pass(S, t)
        if progress is not None:
            progress.update(count % 4096)
        wall = _time.perf_counter() - t0
        return RunResult.from_simulator(self, wall)

    def _start_clocks(self, first: Job | None) -> None:
        """Usage and priority recalculations count from the first submission."""
        if first is not None:
            self.last_recalc = first.submit
            if self.needs_recalc:
                self.next_recalc = first.submit + self.policy.calc_period
        for g in self.groups:
            g.usage_counted_until = first.submit if first is not None else 0.0

    def _recalc_due(self, t: float) -> None:
        """Recalculate priorities if a recalculation falls due at ``t``, and schedule the
        next one on the ``calc_period`` grid."""
        period = self.policy.calc_period
        if self.queued_total > 0 or self.next_recalc == t:
            self._recalc(t)
        k = math.floor((t - self.next_recalc) / period) + 1
        self.next_recalc += k * period

    def _stop_due(self, t: float) -> None:
        """Stop the preemption victims whose grace time ends at ``t``."""
        timers = self.timers
        while timers and timers[0][0] <= t:
            _, _, job, rid = heapq.heappop(timers)
            if job.run_id == rid and job.state == RUNNING:
                self._stop(job, t)
