"""Pending-job queues in priority order.

Both queues keep lazily deleted entries: starting a job only changes its state, and the
stale entry is skipped (and compacted away) later, so removing a job costs O(1).

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
from bisect import insort

from .model import QUEUED


class FifoQueue:
    __slots__ = ("items", "h", "seq", "live", "sysidx")

    def __init__(self, sysidx):
        self.items = []  # (submit, seq, job)
        self.h = 0
        self.seq = 0
        self.live = 0
        self.sysidx = sysidx

    def __len__(self):
        return self.live

    def push(self, job):
        self.seq += 1
        job.key = self.seq
        e = (job.submit, self.seq, job)
        items = self.items
        if not items or items[-1] < e:
            items.append(e)
        else:
            insort(items, e, self.h)
        self.live += 1

    def discard(self, job):
        """Call when a queued job leaves the queue (started, cancelled, moved)."""
        self.live -= 1

    def order_value(self, job):
        return (job.submit, job.key)

    def _compact(self):
        items = self.items
        h = self.h
        n = len(items)
        while h < n:
            j = items[h][2]
            if j.state == QUEUED and j.key == items[h][1] and j.sysidx == self.sysidx:
                break
            h += 1
        if h > 256 and h * 2 > n:
            del items[:h]
            h = 0
        self.h = h

    def iter(self, blocked=None):
        self._compact()
        items = self.items
        sysidx = self.sysidx
        i = self.h
        while i < len(items):
            s, k, j = items[i]
            i += 1
            if j.state == QUEUED and j.key == k and j.sysidx == sysidx:
                if blocked is not None and blocked[j.gidx]:
                    continue
                yield j

    def head(self):
        for j in self.iter():
            return j
        return None

    def recalc(self, now, factors):
        return False


class MultifactorQueue:
    """Per (group, age class) sorted lists merged by priority; see the module doc."""

    __slots__ = ("lists", "heads", "off", "seq", "live", "sysidx", "young", "w", "max_age",
                 "statics", "ngroups")

    def __init__(self, sysidx, ngroups, weights):
        self.sysidx = sysidx
        self.ngroups = ngroups
        self.lists = [[] for _ in range(2 * ngroups)]  # entries (key, seq, job), ascending
        self.heads = [0] * (2 * ngroups)
        self.off = [0.0] * (2 * ngroups)
        self.seq = 0
        self.live = 0
        self.young = []  # heap (submit, seq, job) of jobs in a young list
        self.w = weights
        self.max_age = weights.max_age if weights.max_age > 0 else float("inf")

    def __len__(self):
        return self.live

    def _grow(self, g):
        while g >= self.ngroups:
            self.lists += [[], []]
            self.heads += [0, 0]
            self.off += [0.0, 0.0]
            self.ngroups += 1

    def push(self, job, static, now):
        """``static``: the job's QOS and size terms (weights applied)."""
        g = job.gidx
        if g >= self.ngroups:
            self._grow(g)
        self.seq += 1
        job.key = self.seq
        w = self.w
        if now - job.submit >= self.max_age:
            li = 2 * g + 1
            k = -(static + w.age)
        else:
            li = 2 * g
            k = -(static - w.age * job.submit / self.max_age) if w.age else -static
            if self.max_age != float("inf"):
                heapq.heappush(self.young, (job.submit, self.seq, job))
        job.qidx = li
        job.qkey = k
        lst = self.lists[li]
        e = (k, self.seq, job)
        if not lst or lst[-1] < e:
            lst.append(e)
        else:
            insort(lst, e, self.heads[li])
        self.live += 1
        return k

    def discard(self, job):
        self.live -= 1

    def order_value(self, job):
        return (job.qkey - self.off[job.qidx], job.key)

    def set_offsets(self, now, fs_factors):
        """Recalculation: new fair-share factors and the age offset at ``now``."""
        w = self.w
        age_off = w.age * now / self.max_age if (w.age and self.max_age != float("inf")) else 0.0
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
                self.live -= 1
                static = -job.qkey + w.age * job.submit / self.max_age
                self.push(job, static, now)

    def _advance(self, li):
        lst = self.lists[li]
        h = self.heads[li]
        n = len(lst)
        sysidx = self.sysidx
        while h < n:
            k, s, j = lst[h]
            if j.state == QUEUED and j.key == s and j.sysidx == sysidx:
                break
            h += 1
        if h > 256 and h * 2 > n:
            del lst[:h]
            h = 0
        self.heads[li] = h
        return h

    def iter(self, blocked=None):
        lists = self.lists
        off = self.off
        sysidx = self.sysidx
        heap = []
        for li in range(len(lists)):
            if blocked is not None and blocked[li >> 1]:
                continue
            h = self._advance(li)
            lst = lists[li]
            if h < len(lst):
                heap.append((lst[h][0] - off[li], lst[h][1], li, h))
        heapq.heapify(heap)
        pop, replace = heapq.heappop, heapq.heapreplace
        while heap:
            _, _, li, pos = heap[0]
            if blocked is not None and blocked[li >> 1]:
                pop(heap)
                continue
            lst = lists[li]
            k, s, j = lst[pos]
            pos += 1
            n = len(lst)
            while pos < n:
                e = lst[pos]
                j2 = e[2]
                if j2.state == QUEUED and j2.key == e[1] and j2.sysidx == sysidx:
                    break
                pos += 1
            if pos < n:
                replace(heap, (lst[pos][0] - off[li], lst[pos][1], li, pos))
            else:
                pop(heap)
            if j.state == QUEUED and j.key == s and j.sysidx == sysidx:
                yield j

    def head(self):
        for j in self.iter():
            return j
        return None
