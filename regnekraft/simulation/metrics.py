"""Results of a run: per job and per run, as NumPy arrays, dicts and CSV files."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from .model import STATE_NAMES, JobState, PolicyConfig
from .nodes import mask_to_ranges

_A_SUBMIT = attrgetter("submit")
_A_START = attrgetter("start")
_A_END = attrgetter("end")
_A_STATE = attrgetter("state")
_A_SYSTEM = attrgetter("system")
_A_NALLOC = attrgetter("nalloc")
_A_NEED = attrgetter("need")
_A_GIDX = attrgetter("gidx")
_A_ECON = attrgetter("economic")
_A_PREEMPTED = attrgetter("preempted")
_A_ID = attrgetter("id")
_A_RESV = attrgetter("first_reservation")
_A_ALLOC = attrgetter("alloc")


def _names(table, idx):
    """Object array of ``table[i]`` for each index (index -1 = the table's last entry)."""
    arr = np.empty(len(table), dtype=object)
    arr[:] = table
    return arr[idx]


#: Bounded slowdown threshold (seconds): max(1, (wait + run) / max(run, TAU)).
TAU = 10.0


def step_integral(starts, ends, weights, edges):
    """Integral of sum_j weights[j] * 1[starts[j] <= t < ends[j]] over each bin of ``edges``."""
    starts = np.asarray(starts, dtype=float)
    ends = np.asarray(ends, dtype=float)
    weights = np.asarray(weights, dtype=float)
    edges = np.asarray(edges, dtype=float)
    if starts.size == 0:
        return np.zeros(len(edges) - 1)

    # F(x) = sum_j w_j * clip(x - s_j, 0, e_j - s_j): evaluate at each edge via sorting
    def cum(x):
        # sum over j with s_j < x of w_j * (min(x, e_j) - s_j)
        order_s = np.argsort(starts)
        s_sorted = starts[order_s]
        ws = weights[order_s]
        cs_w = np.concatenate([[0.0], np.cumsum(ws)])
        cs_ws = np.concatenate([[0.0], np.cumsum(ws * s_sorted)])
        order_e = np.argsort(ends)
        e_sorted = ends[order_e]
        we = weights[order_e]
        ce_w = np.concatenate([[0.0], np.cumsum(we)])
        ce_we = np.concatenate([[0.0], np.cumsum(we * e_sorted)])
        ks = np.searchsorted(s_sorted, x, side="right")
        ke = np.searchsorted(e_sorted, x, side="right")
        # started: w*(x - s); ended: subtract w*(x - e)
        return (cs_w[ks] * x - cs_ws[ks]) - (ce_w[ke] * x - ce_we[ke])

    F = cum(edges)
    return np.diff(F)


@dataclass
class Segments:
    """Runs cut short by preemption: job index, system, start, end and node count."""

    job: np.ndarray
    system: np.ndarray
    start: np.ndarray
    end: np.ndarray
    nodes: np.ndarray

    @classmethod
    def empty(cls) -> Segments:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, np.int64),
        )


@dataclass
class RunResult:
    """What one simulation produced. ``jobs`` holds one NumPy array per column."""

    summary: dict
    jobs: dict
    groups: list
    series: dict
    name: str = ""
    policy: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_simulator(cls, sim, wall_seconds, bins=200):
        """The result of the Python event loop, read off its :class:`Job` objects."""
        jobs = sim.jobs
        n = len(jobs)
        start = np.fromiter(map(_A_START, jobs), float, n)
        # one attrgetter per column: no Python-level loop body per job
        nodes = np.where(
            start >= 0,
            np.fromiter(map(_A_NALLOC, jobs), np.int64, n),
            np.fromiter(map(_A_NEED, jobs), np.int64, n),
        )
        seg = sim.segments
        return cls.from_columns(
            ids=list(map(_A_ID, jobs)),
            submit=np.fromiter(map(_A_SUBMIT, jobs), float, n),
            start=start,
            end=np.fromiter(map(_A_END, jobs), float, n),
            state=np.fromiter(map(_A_STATE, jobs), np.int8, n),
            system=np.fromiter(map(_A_SYSTEM, jobs), np.int32, n),
            nodes=nodes,
            gidx=np.fromiter(map(_A_GIDX, jobs), np.int32, n),
            economic=np.fromiter(map(_A_ECON, jobs), bool, n),
            preempted=np.fromiter(map(_A_PREEMPTED, jobs), np.int32, n),
            reservation=np.fromiter(map(_A_RESV, jobs), float, n),
            alloc=list(map(_A_ALLOC, jobs)) if sim.node_mode else None,
            segments=Segments(
                job=np.array([x[0] for x in seg], np.int64),
                system=np.array([x[1] for x in seg], np.int32),
                start=np.array([x[2] for x in seg], float),
                end=np.array([x[3] for x in seg], float),
                nodes=np.array([x[4] for x in seg], np.int64),
            ),
            sim=sim,
            wall_seconds=wall_seconds,
            bins=bins,
        )

    @classmethod
    def from_columns(
        cls,
        *,
        ids,
        submit,
        start,
        end,
        state,
        system,
        nodes,
        gidx,
        economic,
        preempted,
        reservation,
        alloc,
        segments,
        sim,
        wall_seconds,
        bins=200,
    ):
        """The result from one array per job column (whichever engine filled them);
        ``sim`` gives the systems, groups, policy and counters."""
        cpn = np.array([S.cores_per_node for S in sim.systems] + [0])
        gpn = np.array([S.gpus_per_node for S in sim.systems] + [0])
        ran = (state == JobState.DONE) | ((state == JobState.CANCELLED) & (start >= 0))
        wait = np.where(start >= 0, start - submit, np.nan)
        run = np.where(ran, end - start, np.nan)
        bsld = np.where(ran, np.maximum(1.0, (wait + run) / np.maximum(run, TAU)), np.nan)
        cores = nodes * cpn[system]
        gpus = nodes * gpn[system]
        seg_cores = segments.nodes * cpn[segments.system]
        held = _Held.of(start, end, cores, economic, ran, segments, seg_cores)
        total_cores = sum(S.spec.cores for S in sim.systems)
        t0 = float(submit.min()) if len(submit) else 0.0
        t1 = float(np.nanmax(end)) if ran.any() else t0
        summary = _summary(state, wait[ran], bsld[ran], held, total_cores, t0, t1)
        summary["preemptions"] = int(sim.preemptions)
        summary["wall_seconds"] = wall_seconds
        summary["jobs_per_second"] = len(submit) / wall_seconds if wall_seconds > 0 else math.inf
        summary["passes"] = sim.passes
        series = _series(held, total_cores, t0, t1, bins)
        eco = np.asarray(series["economic_share"])
        summary["economic_share_max"] = float(eco.max()) if eco.size else 0.0
        summary["economic_share_mean"] = held.economic_share()
        # capacity delivered to each group, preempted runs included
        delivered_c = np.bincount(gidx[ran], (run * cores)[ran], len(sim.groups))
        delivered_g = np.bincount(gidx[ran], (run * gpus)[ran], len(sim.groups))
        delivered_c = delivered_c[: len(sim.groups)].astype(float)
        delivered_g = delivered_g[: len(sim.groups)].astype(float)
        if segments.job.size:
            seg_seconds = segments.end - segments.start
            seg_gidx = gidx[segments.job]
            np.add.at(delivered_c, seg_gidx, seg_seconds * seg_cores)
            np.add.at(delivered_g, seg_gidx, seg_seconds * segments.nodes * gpn[segments.system])
        groups = _group_rows(sim.groups, gidx, ran, wait, delivered_c, delivered_g)
        job_cols = {
            "job_id": ids,
            "submit_time": submit,
            "start_time": start,
            "end_time": end,
            "wait_time": wait,
            "run_time": run,
            "bounded_slowdown": bsld,
            "nodes": nodes,
            "cores": cores,
            "gpus": gpus,
            "system": _names([S.spec.name for S in sim.systems] + [""], system),
            "group": _names([g.name for g in sim.groups], gidx),
            "economic": economic,
            "preempted": preempted,
            "state": _names(list(STATE_NAMES), state),
            "reservation": reservation,
            "_alloc": alloc,
        }
        return cls(
            summary=summary,
            jobs=job_cols,
            groups=groups,
            series=series,
            policy=_policy_row(sim.policy),
        )

    def delivered_shares(self, t0: float, t1: float) -> dict:
        """Each group's share of the core-seconds held within ``[t0, t1)`` (e.g. only
        while the system is saturated; over a whole run that drains its queue, every
        group gets exactly what it asked for, whatever the policy). Runs cut short by
        preemption are not included."""
        j = self.jobs
        ok = np.isfinite(j["run_time"])
        held = {}
        for g in dict.fromkeys(j["group"].tolist()):
            m = ok & (j["group"] == g)
            held[g] = float(
                step_integral(j["start_time"][m], j["end_time"][m], j["cores"][m], [t0, t1])[0]
            )
        tot = sum(held.values())
        return {g: (v / tot if tot > 0 else 0.0) for g, v in held.items()}

    # ------------------------------------------------------------------ output
    def figures(self) -> dict:
        """The run's figures as a JSON-ready dict (what ``--json`` prints)."""
        out = dict(self.summary)
        out["name"] = self.name
        out["policy"] = self.policy
        out["groups"] = self.groups
        return out

    def to_json(self, **kw) -> str:
        return json.dumps(self.figures(), default=_jsonable, **kw)

    def write_jobs_csv(self, path, nodes=True):
        j = self.jobs
        cols = [
            "job_id",
            "submit_time",
            "start_time",
            "end_time",
            "wait_time",
            "run_time",
            "bounded_slowdown",
            "system",
            "group",
            "nodes",
            "cores",
            "gpus",
            "economic",
            "preempted",
            "state",
        ]
        alloc = j.get("_alloc") if nodes else None
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols + (["allocated_nodes"] if alloc is not None else []))
            arrays = [j[c] for c in cols]
            fmt = [_fmt_col(c, a) for c, a in zip(cols, arrays, strict=False)]
            n = len(j["job_id"])
            for i in range(n):
                row = [f(i) for f in fmt]
                if alloc is not None:
                    row.append(mask_to_ranges(alloc[i]) if alloc[i] else "")
                w.writerow(row)

    def write_groups_csv(self, path):
        cols = [
            "group",
            "jobs",
            "entitlement",
            "delivered_share",
            "delivered_core_hours",
            "delivered_gpu_hours",
            "mean_wait",
            "fairshare_factor",
        ]
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for g in self.groups:
                w.writerow([_num(g[c]) for c in cols])

    def write_series_csv(self, path):
        s = self.series
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["time", "utilisation", "economic_share"])
            for row in zip(s["t"], s["utilisation"], s["economic_share"], strict=False):
                w.writerow([_num(x) for x in row])


def _num(x):
    if isinstance(x, float):
        if math.isnan(x):
            return ""
        return f"{x:.6f}"
    return x


def _fmt_col(name, arr):
    if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
        lst = arr.tolist()
        return lambda i: (
            ""
            if lst[i] != lst[i] or lst[i] < 0 and name in ("start_time", "end_time")
            else f"{lst[i]:.6f}"
        )
    if isinstance(arr, np.ndarray) and arr.dtype.kind == "b":
        lst = arr.tolist()
        return lambda i: int(lst[i])
    lst = arr.tolist() if isinstance(arr, np.ndarray) else arr
    return lambda i: lst[i]


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


@dataclass
class _Held:
    """Every stretch of held capacity: the runs that ended (or were cancelled after they
    started) and the runs cut short by preemption."""

    start: np.ndarray
    end: np.ndarray
    cores: np.ndarray
    economic: np.ndarray

    @classmethod
    def of(cls, start, end, cores, economic, ran, segments: Segments, seg_cores) -> _Held:
        return cls(
            start=np.concatenate([start[ran], segments.start]),
            end=np.concatenate([end[ran], segments.end]),
            cores=np.concatenate([cores[ran], seg_cores]),
            economic=np.concatenate([economic[ran], economic[segments.job]]),
        )

    def core_seconds(self) -> float:
        return float(np.sum((self.end - self.start) * self.cores))

    def economic_share(self) -> float:
        """Economic activity's share of all the core-seconds held."""
        held = self.core_seconds()
        e = self.economic
        if held <= 0:
            return 0.0
        return float(np.sum((self.end[e] - self.start[e]) * self.cores[e]) / held)


def _summary(state, wait, bsld, held: _Held, total_cores, t0: float, t1: float) -> dict:
    """The run's figures from the states, the waits and bounded slowdowns of the jobs
    that ran, and the capacity held between the first submission ``t0`` and last end ``t1``."""
    span = t1 - t0
    core_seconds = held.core_seconds()
    util = core_seconds / (total_cores * span) if span > 0 and total_cores > 0 else 0.0
    w, b = wait, bsld
    return {
        "jobs": len(state),
        "completed": int((state == JobState.DONE).sum()),
        "cancelled": int((state == JobState.CANCELLED).sum()),
        "rejected": int((state == JobState.REJECTED).sum()),
        "utilisation": util,
        "makespan": span,
        "mean_wait": float(w.mean()) if w.size else 0.0,
        "median_wait": float(np.median(w)) if w.size else 0.0,
        "p95_wait": float(np.percentile(w, 95)) if w.size else 0.0,
        "max_wait": float(w.max()) if w.size else 0.0,
        "mean_bounded_slowdown": float(b.mean()) if b.size else 0.0,
    }


def _series(held: _Held, total_cores, t0: float, t1: float, bins: int) -> dict:
    """Utilisation and economic share over time, in ``bins`` bins from ``t0`` to ``t1``."""
    span = t1 - t0
    edges = np.linspace(t0, t1, bins + 1) if span > 0 else np.array([t0, t0 + 1.0])
    width = np.diff(edges)
    e = held.economic
    occ = step_integral(held.start, held.end, held.cores, edges) / (width * max(total_cores, 1))
    eco = step_integral(held.start[e], held.end[e], held.cores[e], edges) / (
        width * max(total_cores, 1)
    )
    return {
        "t": edges[:-1].tolist(),
        "utilisation": occ.tolist(),
        "economic_share": eco.tolist(),
    }


def _group_rows(groups, gidx, ran, wait, delivered_c, delivered_g) -> list[dict]:
    """One row per group: entitlement against delivered core and GPU seconds, waits."""
    ng = len(groups)
    tot_c = delivered_c.sum()
    n_jobs = np.bincount(gidx, minlength=ng)
    n_ran = np.bincount(gidx[ran], minlength=ng)
    wait_sum = np.bincount(gidx[ran], wait[ran], ng)
    rows = []
    for g in groups:
        k = g.idx
        rows.append(
            {
                "group": g.name,
                "jobs": int(n_jobs[k]),
                "entitlement": g.share,
                "delivered_core_hours": delivered_c[k] / 3600.0,
                "delivered_gpu_hours": delivered_g[k] / 3600.0,
                "delivered_share": delivered_c[k] / tot_c if tot_c > 0 else 0.0,
                "mean_wait": float(wait_sum[k] / n_ran[k]) if n_ran[k] else 0.0,
                "fairshare_factor": g.fairshare_factor,
            }
        )
    return rows


def _policy_row(pol: PolicyConfig) -> dict:
    return {
        "policy": pol.policy,
        "allocation": pol.allocation,
        "priority": pol.priority,
        "fairshare": pol.fairshare,
        "quotas": pol.quotas,
        "economic_cap": pol.economic_cap,
        "bf_max_job_test": pol.bf_max_job_test,
        "engine": "python",
    }
