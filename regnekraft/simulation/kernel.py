"""The compiled replay kernel: FCFS and EASY on one system, node-level or count-only.

Most policy questions need the full event loop of :mod:`.engine` (fair-share, quotas,
preemption, federation). The plain case, one system with FCFS or EASY in submission
order, is also the one that is replayed most often (benchmarks, fidelity checks, what-if
runs of a single trace), and there the interpreter's cost per job dominates. This module
runs exactly the same algorithm, step for step, compiled by Numba: the same event order,
the same incremental and full passes, the same reservations and node choices, so that
both give identical schedules (``tests/simulation/test_kernel.py`` checks this on the
shipped traces and on random workloads).

Node sets are byte arrays (1 = free) rather than the engine's integers: a start scans
the system's nodes once, which is cheap compiled code for the sizes of real systems.
The running jobs are kept sorted by (expected end, start order) in arrays, and the
queue is an array in submission order with lazy deletion.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from .model import JobState

INF = np.inf


@njit(cache=True)
def _heap_push(keys, vals, n, key, val):
    i = n
    keys[i] = key
    vals[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= key:
            break
        keys[i] = keys[p]
        vals[i] = vals[p]
        i = p
    keys[i] = key
    vals[i] = val
    return n + 1


@njit(cache=True)
def _heap_pop(keys, vals, n):
    """Remove the smallest; returns the new size (the popped value is vals[0] before)."""
    n -= 1
    key = keys[n]
    val = vals[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and keys[c + 1] < keys[c]:
            c += 1
        if keys[c] >= key:
            break
        keys[i] = keys[c]
        vals[i] = vals[c]
        i = c
    keys[i] = key
    vals[i] = val
    return n


@njit(cache=True)
def _take_lowest(free, skip, n, out, o):
    """Write the ``n`` lowest-numbered nodes with ``free`` set (and ``skip`` unset, when
    ``skip`` is not empty) to ``out[o:o+n]`` and mark them taken."""
    k = 0
    use_skip = skip.size > 0
    for node in range(free.size):
        if free[node] and not (use_skip and skip[node]):
            out[o + k] = node
            free[node] = 0
            k += 1
            if k == n:
                break


# One function on purpose: the loop's scalar state (free nodes, heap and list sizes, head,
# shadow time) stays in registers; a Numba helper can only share it by taking and returning
# every value, as _start does, so splitting the passes out would thread a dozen arguments.
@njit(cache=True)
def replay(submit, runtime, walltime, need, nodes, easy, node_mode, max_job_test):  # noqa: C901
    """Replay the jobs (sorted by submission; ``need[j] == 0`` = rejected) on ``nodes``
    nodes. Returns start, end, state, node offsets, node lists and the pass count."""
    J = submit.size
    start = np.full(J, -1.0)
    end = np.full(J, -1.0)
    state = np.zeros(J, np.int8)
    off = np.zeros(J + 1, np.int64)
    for j in range(J):
        off[j + 1] = off[j] + (need[j] if node_mode else 0)
    alloc = np.zeros(off[J], np.int32)
    exp_end = np.zeros(J)
    jseq = np.zeros(J, np.int64)
    free_nodes = np.ones(nodes if node_mode else 0, np.uint8)
    rmask = np.zeros(nodes if node_mode else 0, np.uint8)
    tmp = np.zeros(nodes if node_mode else 0, np.uint8)
    no_skip = np.zeros(0, np.uint8)
    free = nodes
    # job ends: a heap on end time
    hkeys = np.zeros(J + 1)
    hvals = np.zeros(J + 1, np.int64)
    hn = 0
    # running jobs sorted by (expected end, start order)
    run_e = np.zeros(nodes + 1)
    run_s = np.zeros(nodes + 1, np.int64)
    run_j = np.zeros(nodes + 1, np.int64)
    rn = 0
    # the queue in submission order (lazy deletion), and this instant's arrivals
    qbuf = np.zeros(J, np.int64)
    qhead = 0
    qlen = 0
    nqueued = 0
    newbuf = np.zeros(J, np.int64)
    nnew = 0
    dirty = True
    head = -1
    shadow = INF
    extra = 0
    seq = 0
    passes = 0
    i = 0
    while True:
        t = submit[i] if i < J else INF
        if hn > 0 and hkeys[0] < t:
            t = hkeys[0]
        if t == INF:
            break
        now = t
        # ends at this instant
        while hn > 0 and hkeys[0] <= t:
            j = hvals[0]
            hn = _heap_pop(hkeys, hvals, hn)
            state[j] = JobState.DONE
            end[j] = t
            # release: out of the running list, nodes back
            lo, hi = 0, rn
            e, s = exp_end[j], jseq[j]
            while lo < hi:
                mid = (lo + hi) >> 1
                if run_e[mid] < e or (run_e[mid] == e and run_s[mid] < s):
                    lo = mid + 1
                else:
                    hi = mid
            for k in range(lo, rn - 1):
                run_e[k] = run_e[k + 1]
                run_s[k] = run_s[k + 1]
                run_j[k] = run_j[k + 1]
            rn -= 1
            n = need[j]
            if node_mode:
                for k in range(off[j], off[j] + n):
                    free_nodes[alloc[k]] = 1
            free += n
            dirty = True
        # submissions at this instant
        while i < J and submit[i] <= t:
            j = i
            i += 1
            n = need[j]
            if n == 0:
                state[j] = JobState.REJECTED
                continue
            if free >= n and not dirty and nnew == 0 and nqueued == 0:
                # nothing waits and nothing changed: the job starts at once
                start_now = True
            else:
                start_now = False
                state[j] = JobState.QUEUED
                qbuf[qlen] = j
                qlen += 1
                nqueued += 1
                newbuf[nnew] = j
                nnew += 1
            if start_now:
                if node_mode:
                    _take_lowest(free_nodes, no_skip, n, alloc, off[j])
                seq += 1
                free, rn, hn = _start(
                    j,
                    now,
                    seq,
                    free,
                    n,
                    walltime,
                    runtime,
                    state,
                    start,
                    exp_end,
                    jseq,
                    run_e,
                    run_s,
                    run_j,
                    rn,
                    hkeys,
                    hvals,
                    hn,
                )
        if not (dirty or nnew > 0):
            continue
        # a scheduling pass
        passes += 1
        if nnew == 0 and nqueued == 0:
            head = -1
            shadow = INF
            extra = 0
            dirty = False
            continue
        while qhead < qlen and state[qbuf[qhead]] != JobState.QUEUED:
            qhead += 1
        if easy and not dirty and head >= 0 and state[head] == JobState.QUEUED:
            # incremental: only the arrivals can have become startable
            for a in range(nnew):
                j = newbuf[a]
                if state[j] != JobState.QUEUED:
                    continue
                n = need[j]
                if n > free:
                    continue
                w = now + walltime[j]
                if node_mode:
                    if w <= shadow:
                        _take_lowest(free_nodes, no_skip, n, alloc, off[j])
                    else:
                        av = 0
                        for node in range(nodes):
                            if free_nodes[node] and not rmask[node]:
                                av += 1
                        if av < n:
                            continue
                        _take_lowest(free_nodes, rmask, n, alloc, off[j])
                else:
                    ok, extra = _count_backfill(w, shadow, n, extra)
                    if not ok:
                        continue
                seq += 1
                nqueued -= 1
                free, rn, hn = _start(
                    j,
                    now,
                    seq,
                    free,
                    n,
                    walltime,
                    runtime,
                    state,
                    start,
                    exp_end,
                    jseq,
                    run_e,
                    run_s,
                    run_j,
                    rn,
                    hkeys,
                    hvals,
                    hn,
                )
                if not node_mode and w <= shadow and extra > free:
                    extra = free
        elif (
            not easy
            and not dirty
            and head >= 0
            and state[head] == JobState.QUEUED
            and need[head] > free
        ):
            pass  # FCFS: the arrivals queue behind a head that still does not fit
        elif not easy:
            head = -1
            for k in range(qhead, qlen):
                j = qbuf[k]
                if state[j] != JobState.QUEUED:
                    continue
                n = need[j]
                if n > free:
                    head = j
                    break
                if node_mode:
                    _take_lowest(free_nodes, no_skip, n, alloc, off[j])
                seq += 1
                nqueued -= 1
                free, rn, hn = _start(
                    j,
                    now,
                    seq,
                    free,
                    n,
                    walltime,
                    runtime,
                    state,
                    start,
                    exp_end,
                    jseq,
                    run_e,
                    run_s,
                    run_j,
                    rn,
                    hkeys,
                    hvals,
                    hn,
                )
        else:
            head = -1
            if free > 0:
                shadow = INF
                extra = 0
                avail_nr = 0
                depth = 0
                for k in range(qhead, qlen):
                    j = qbuf[k]
                    if state[j] != JobState.QUEUED:
                        continue
                    n = need[j]
                    if head < 0:
                        if n <= free:
                            if node_mode:
                                _take_lowest(free_nodes, no_skip, n, alloc, off[j])
                            seq += 1
                            nqueued -= 1
                            free, rn, hn = _start(
                                j,
                                now,
                                seq,
                                free,
                                n,
                                walltime,
                                runtime,
                                state,
                                start,
                                exp_end,
                                jseq,
                                run_e,
                                run_s,
                                run_j,
                                rn,
                                hkeys,
                                hvals,
                                hn,
                            )
                            if free <= 0:
                                break
                            continue
                        head = j
                        # the head's reservation: the earliest expected end at which
                        # enough nodes are free, and the lowest-numbered of them
                        acc = free
                        if node_mode:
                            tmp[:] = free_nodes
                        r = 0
                        shadow = now
                        while acc < n and r < rn:
                            e = run_e[r]
                            while r < rn and run_e[r] == e:
                                q = run_j[r]
                                acc += need[q]
                                if node_mode:
                                    for x in range(off[q], off[q] + need[q]):
                                        tmp[alloc[x]] = 1
                                r += 1
                            if acc >= n:
                                shadow = e
                        if node_mode:
                            rmask[:] = 0
                            c = 0
                            for node in range(nodes):
                                if tmp[node]:
                                    rmask[node] = 1
                                    c += 1
                                    if c == n:
                                        break
                            avail_nr = 0
                            for node in range(nodes):
                                if free_nodes[node] and not rmask[node]:
                                    avail_nr += 1
                        else:
                            extra = acc - n
                        continue
                    depth += 1
                    if depth > max_job_test:
                        break
                    if n > free:
                        continue
                    w = now + walltime[j]
                    if node_mode:
                        if w <= shadow:
                            o = off[j]
                            _take_lowest(free_nodes, no_skip, n, alloc, o)
                            for x in range(o, o + n):
                                if not rmask[alloc[x]]:
                                    avail_nr -= 1
                        elif n <= avail_nr:
                            _take_lowest(free_nodes, rmask, n, alloc, off[j])
                            avail_nr -= n
                        else:
                            continue
                    else:
                        ok, extra = _count_backfill(w, shadow, n, extra)
                        if not ok:
                            continue
                    seq += 1
                    nqueued -= 1
                    free, rn, hn = _start(
                        j,
                        now,
                        seq,
                        free,
                        n,
                        walltime,
                        runtime,
                        state,
                        start,
                        exp_end,
                        jseq,
                        run_e,
                        run_s,
                        run_j,
                        rn,
                        hkeys,
                        hvals,
                        hn,
                    )
                    if not node_mode and w <= shadow and extra > free:
                        extra = free
                    if free <= 0:
                        break
        nnew = 0
        dirty = False
        # compact the queue once most of its entries have started
        if qlen - qhead > 64 and nqueued * 2 < qlen - qhead:
            w2 = 0
            for k in range(qhead, qlen):
                if state[qbuf[k]] == JobState.QUEUED:
                    qbuf[w2] = qbuf[k]
                    w2 += 1
            qhead = 0
            qlen = w2
    return start, end, state, off, alloc, passes


@njit(cache=True)
def _count_backfill(w, shadow, n, extra):
    """Count-only EASY: may a job of ``n`` nodes that would end at ``w`` start now? It may
    if it ends by the shadow time, or fits in the nodes the reservation leaves over.
    Returns the answer and the extra nodes left after it."""
    if w <= shadow:
        return True, extra
    if n <= extra:
        return True, extra - n
    return False, extra


@njit(cache=True)
def _start(
    j,
    now,
    seq,
    free,
    n,
    walltime,
    runtime,
    state,
    start,
    exp_end,
    jseq,
    run_e,
    run_s,
    run_j,
    rn,
    hkeys,
    hvals,
    hn,
):
    """Start job ``j`` now (its nodes already taken): end event, running list, counts."""
    state[j] = JobState.RUNNING
    start[j] = now
    wt = walltime[j]
    rt = runtime[j]
    e = now + wt
    exp_end[j] = e
    jseq[j] = seq
    hn = _heap_push(hkeys, hvals, hn, now + (rt if rt < wt else wt), j)
    # insert (e, seq) into the sorted running list; seq grows, so ties go last
    k = rn
    while k > 0 and run_e[k - 1] > e:
        run_e[k] = run_e[k - 1]
        run_s[k] = run_s[k - 1]
        run_j[k] = run_j[k - 1]
        k -= 1
    run_e[k] = e
    run_s[k] = seq
    run_j[k] = j
    return free - n, rn + 1, hn


def run_columns(sim, jobs):
    """Replay ``jobs`` (a reader, :class:`~.columns.TraceColumns` or Jobs) with the
    kernel for the configuration held by ``sim`` (a :class:`~.engine.Simulator` for
    which ``kernel_applies()``), and build its :class:`~.metrics.RunResult`."""
    from .columns import TraceColumns, columns_from_jobs
    from .metrics import RunResult, Segments
    from .nodes import NodeLists
    from .readers import BatsimReader, CSVReader, SWFReader

    ensure_loaded()  # outside the run's clock, like an import
    t0 = time.perf_counter()
    # Jobs the caller made get their results filled in, as the event loop does; a reader's
    # own Jobs (made only for this run) are not worth the time
    held = not isinstance(jobs, SWFReader | BatsimReader | CSVReader | TraceColumns)
    if isinstance(jobs, TraceColumns):
        cols = jobs
    elif hasattr(jobs, "columns"):
        cols = jobs.columns()
    else:
        jobs = list(jobs)
        cols = columns_from_jobs(jobs)
    cols.check_sorted()
    S = sim.single
    need = cols.nodes_on(S.spec)
    gidx = sim.group_indices(cols)
    p = sim.policy
    start, end, state, off, alloc, passes = replay(
        cols.submit,
        cols.runtime,
        cols.walltime,
        need,
        S.nodes,
        p.policy == "easy",
        sim.node_mode,
        p.bf_max_job_test,
    )
    sim.passes = int(passes)
    n = len(cols)
    sim.rejected = int(n - np.count_nonzero(need))
    if sim.progress is not None:
        sim.progress.update(n)
    system = np.where(need > 0, 0, -1).astype(np.int32)
    alloc_sets = NodeLists(off, alloc) if sim.node_mode else None
    if held:
        _fill_in(jobs, start, end, state, system, need, gidx, alloc_sets)
        sim.jobs = jobs
    wall = time.perf_counter() - t0
    res = RunResult.from_columns(
        ids=cols.ids,
        submit=cols.submit,
        start=start,
        end=end,
        state=state,
        system=system,
        nodes=need,
        gidx=gidx,
        economic=cols.economic,
        preempted=np.zeros(n, np.int32),
        reservation=np.full(n, INF),
        alloc=alloc_sets,
        segments=Segments.empty(),
        sim=sim,
        wall_seconds=wall,
    )
    res.policy["engine"] = "kernel"
    return res


def _fill_in(jobs, start, end, state, system, need, gidx, alloc_sets):
    """Write the results into the caller's :class:`~.model.Job` objects, as the event
    loop does."""
    rows = zip(
        jobs,
        start.tolist(),
        end.tolist(),
        state.tolist(),
        system.tolist(),
        need.tolist(),
        gidx.tolist(),
        strict=True,
    )
    for i, (job, s, e, st, sy, n, g) in enumerate(rows):
        job.idx = i
        job.start, job.end, job.state, job.system, job.gidx = s, e, st, sy, g
        job.need = n
        if s >= 0:
            job.nalloc = n
            job.exp_end = s + job.walltime
            job.run_id = 1
            if alloc_sets is not None:
                job.alloc = alloc_sets[i]


_loaded = False


def ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        warm_up()
        _loaded = True


def warm_up() -> float:
    """Load (or, the first time on a machine, compile) the kernel; returns the seconds
    it took. Numba caches the compiled code beside this file, so this is a one-time
    cost per process, like an import; benchmarks call it before they start the clock."""
    t0 = time.perf_counter()
    one = np.ones(1)
    for easy in (False, True):
        for node_mode in (False, True):
            replay(one * 0, one, one, np.ones(1, np.int64), 1, easy, node_mode, 1)
    return time.perf_counter() - t0
