"""Pending-job queues in priority order.

Entries are tuples ``(key, seq, job)`` kept in a blocked sorted list (sorted blocks of
at most ~1,000 entries), so inserting or removing a job costs O(log n) plus a short
memmove, and walking the queue from its head costs only the entries visited, however
long the queue is. A job leaving the queue during a scheduling pass is removed after the
pass (the pass holds iterators into the blocks).

* :class:`FifoQueue` orders by submission time (ties: arrival order).
* :class:`MultifactorQueue` orders by Slurm's multifactor priority. The priority of a
  job is ``static(job) + offset(group, age class)``: within a group and age class the
  order never changes, so the queue keeps one sorted list per (group, young/old) and
  merges the lists' heads when it is walked. A recalculation (every
  ``PolicyConfig.calc_period``) only changes the offsets, never the lists, so its cost
  grows with the number of groups, not with the number of queued jobs.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from itertools import chain

from .model import JobState

# a global is quicker to look up than an Enum member on its class (see engine.py)
QUEUED = JobState.QUEUED

_LOAD = 512


class SortedBlocks:
    """A minimal sorted list of unique, comparable entries, split into blocks."""

    __slots__ = ("blocks", "maxes", "n")

    def __init__(self):
        self.blocks: list[list] = []
        self.maxes: list = []
        self.n = 0

    def add(self, e):
        maxes = self.maxes
        blocks = self.blocks
        self.n += 1
        if not maxes:
            blocks.append([e])
            maxes.append(e)
            return
        i = bisect_left(maxes, e)
        if i == len(maxes):
            i -= 1
            b = blocks[i]
            b.append(e)
            maxes[i] = e
        else:
            b = blocks[i]
            insort(b, e)
        if len(b) > 2 * _LOAD:
            blocks.insert(i + 1, b[_LOAD:])
            del b[_LOAD:]
            maxes[i] = b[-1]
            maxes.insert(i + 1, blocks[i + 1][-1])

    def remove(self, e):
        maxes = self.maxes
        i = bisect_left(maxes, e)
        b = self.blocks[i]
        j = bisect_left(b, e)
        del b[j]
        self.n -= 1
        if not b:
            del self.blocks[i]
            del maxes[i]
        elif j == len(b):
            maxes[i] = b[-1]

    def first(self):
        return self.blocks[0][0] if self.blocks else None

    def __iter__(self):
        return chain.from_iterable(self.blocks)

    def __len__(self):
        return self.n


class FifoQueue:
    __slots__ = ("items", "seq", "pending", "sysidx")

    def __init__(self, sysidx):
        self.items = SortedBlocks()
        self.seq = 0
        self.pending = []
        self.sysidx = sysidx

    def __len__(self):
        return self.items.n - len(self.pending)

    def push(self, job):
        self._flush()
        self.seq += 1
        job.key = self.seq
        job.qkey = job.submit
        self.items.add((job.submit, self.seq, job))

    def discard(self, job):
        """A queued job leaves the queue (started, waiting for preemption, ...)."""
        self.pending.append(job)

    def _flush(self):
        if self.pending:
            rm = self.items.remove
            for j in self.pending:
                rm((j.qkey, j.key, j))
            self.pending = []

    def order_value(self, job):
        return (job.submit, job.key)

    def iter(self, blocked=None):
        self._flush()
        for e in self.items:
            j = e[2]
            if j.state != QUEUED:
                continue
            if blocked is not None and blocked[j.gidx]:
                continue
            yield j

    def head(self):
        for j in self.iter():
            return j
        return None


class MultifactorQueue:
    """Per (group, age class) sorted lists merged by priority; see the module doc."""

    __slots__ = (
        "lists",
        "off",
        "seq",
        "pending",
        "sysidx",
        "young",
        "w",
        "max_age",
        "ngroups",
        "live",
    )

    def __init__(self, sysidx, ngroups, weights):
        self.sysidx = sysidx
        self.ngroups = ngroups
        self.lists = [SortedBlocks() for _ in range(2 * ngroups)]
        self.off = [0.0] * (2 * ngroups)
        self.seq = 0
        self.pending = []
        self.young = []  # heap (submit, seq, job) of jobs in a young list
        self.w = weights
        self.max_age = weights.max_age if weights.max_age > 0 else float("inf")
        self.live = 0

    def __len__(self):
        return self.live

    def _grow(self, g):
        while g >= self.ngroups:
            self.lists += [SortedBlocks(), SortedBlocks()]
            self.off += [0.0, 0.0]
            self.ngroups += 1

    def push(self, job, static, now):
        """``static``: the job's QOS and size terms (weights applied)."""
        self._flush()
        g = job.gidx
        if g >= self.ngroups:
            self._grow(g)
        self.seq += 1
        job.key = self.seq
        w = self.w
        inf = self.max_age == float("inf")
        if not inf and now - job.submit >= self.max_age:
            li = 2 * g + 1
            k = -(static + w.age)
        else:
            li = 2 * g
            k = -static if inf or not w.age else -(static - w.age * job.submit / self.max_age)
            if not inf:
                heapq.heappush(self.young, (job.submit, self.seq, job))
        job.qidx = li
        job.qkey = k
        self.lists[li].add((k, self.seq, job))
        self.live += 1
        return k

    def discard(self, job):
        self.pending.append(job)
        self.live -= 1

    def _flush(self):
        if self.pending:
            lists = self.lists
            for j in self.pending:
                lists[j.qidx].remove((j.qkey, j.key, j))
            self.pending = []

    def order_value(self, job):
        return (job.qkey - self.off[job.qidx], job.key)

    def set_offsets(self, now, fs_factors):
        """Recalculation: new fair-share factors and the age offset at ``now``."""
        self._flush()
        w = self.w
        inf = self.max_age == float("inf")
        age_off = w.age * now / self.max_age if (w.age and not inf) else 0.0
        for g in range(self.ngroups):
            f = w.fairshare * (fs_factors[g] if g < len(fs_factors) else 0.0)
            self.off[2 * g] = f + age_off
            self.off[2 * g + 1] = f
        # young jobs that reached PriorityMaxAge move to the old list of their group
        young = self.young
        limit = now - self.max_age
        while young and young[0][0] <= limit:
            sub, seq, job = heapq.heappop(young)
            if job.state == QUEUED and job.key == seq and job.sysidx == self.sysidx:
                self.lists[job.qidx].remove((job.qkey, job.key, job))
                self.live -= 1
                static = -job.qkey + (w.age * job.submit / self.max_age if w.age else 0.0)
                self.push(job, static, now)

    def iter(self, blocked=None):
        self._flush()
        lists = self.lists
        off = self.off
        heap = []
        fromit = chain.from_iterable
        for li, L in enumerate(lists):
            if not L.n or blocked is not None and blocked[li >> 1]:
                continue
            it = fromit(L.blocks)
            e = next(it)
            heap.append((e[0] - off[li], e[1], li, e[2], it))
        if len(heap) > 1:
            heapq.heapify(heap)
        pop, replace = heapq.heappop, heapq.heapreplace
        while heap:
            top = heap[0]
            li = top[2]
            if blocked is not None and blocked[li >> 1]:
                pop(heap)
                continue
            j = top[3]
            it = top[4]
            e = next(it, None)
            if e is None:
                pop(heap)
            else:
                replace(heap, (e[0] - off[li], e[1], li, e[2], it))
            if j.state == QUEUED:
                yield j

    def head(self):
        for j in self.iter():
            return j
        return None
