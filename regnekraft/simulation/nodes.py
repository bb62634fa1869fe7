"""Node sets as Python integers (bit i set = node i), and availability profiles.

A system's free nodes are one integer; taking the lowest-numbered ``n`` free nodes is a
binary search over popcounts, so allocation costs O(log nodes) big-integer operations
whatever the size of the system.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Iterable, Iterator

import numpy as np


def lowest_bits(mask: int, n: int) -> int:
    """The ``n`` lowest set bits of ``mask`` (which must have at least ``n`` set)."""
    if n <= 0:
        return 0
    low = mask & -mask
    if n == 1:
        return low
    k = low.bit_length() - 1 + n  # the answer if the lowest n free nodes are contiguous
    part = mask & ((1 << k) - 1)
    c = part.bit_count()
    if c == n:
        return part
    r = n - c  # set bits still needed at positions >= k
    if r <= 8:
        # few missing: take them one by one above k
        rest = mask & ~((1 << k) - 1)
        for _ in range(r):
            b = rest & -rest
            part |= b
            rest ^= b
        return part
    lo, hi = k + r, mask.bit_length()
    while lo < hi:
        mid = (lo + hi) >> 1
        if (mask & ((1 << mid) - 1)).bit_count() >= n:
            hi = mid
        else:
            lo = mid + 1
    return mask & ((1 << lo) - 1)


class NodeLists:
    """Each job's nodes as the compiled kernel leaves them (``nodes[off[i]:off[i + 1]]``),
    read as the node-set integers the rest of the module uses, one job at a time."""

    def __init__(self, off: np.ndarray, nodes: np.ndarray) -> None:
        self.off = off
        self.nodes = nodes

    def __len__(self) -> int:
        return len(self.off) - 1

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(i)
        mask = 0
        for node in self.nodes[self.off[i] : self.off[i + 1]].tolist():
            mask |= 1 << node
        return mask

    def __iter__(self) -> Iterator[int]:
        return (self[i] for i in range(len(self)))


def mask_to_ranges(mask: int) -> str:
    """Node set as Batsim-style text: ``0-3 7 9-10``."""
    out = []
    i = 0
    while mask:
        if mask & 1:
            j = i
            m = mask
            while m & 2:
                m >>= 1
                j += 1
            out.append(str(i) if i == j else f"{i}-{j}")
            shift = j - i + 1
            mask >>= shift
            i += shift
        else:
            tz = (mask & -mask).bit_length() - 1
            mask >>= tz
            i += tz
    return " ".join(out)


class _Profile(ABC):
    """What node and count profiles share: breakpoints ``ts[i]`` and, for each segment
    ``[ts[i], ts[i+1])``, a value ``vs[i]`` (a node set, or a count of free nodes); the
    last segment lasts for ever. Subclasses say how a reservation is given back
    (:meth:`_give`)."""

    __slots__ = ("ts", "vs")

    ts: list[float]
    vs: list[int]

    @abstractmethod
    def _give(self, i: int, k: int, x: int) -> None:
        """Add ``x`` back to the segments ``i`` to ``k - 1``."""

    def _split(self, t: float) -> int:
        ts = self.ts
        i = bisect_right(ts, t) - 1
        if ts[i] != t:
            ts.insert(i + 1, t)
            self.vs.insert(i + 1, self.vs[i])
            return i + 1
        return i

    def release(self, t: float, w: float, x: int) -> None:
        """Give back what a reservation of ``x`` (nodes or count) on ``[t, t+w)`` took."""
        end = t + w
        if t < self.ts[0]:
            t = self.ts[0]
        if end <= t:
            return
        i = self._split(t)
        k = self._split(end)
        self._give(i, k, x)
        self._merge()

    def advance(self, now: float) -> None:
        """Forget the past: the profile now starts at ``now``."""
        ts, vs = self.ts, self.vs
        i = bisect_right(ts, now) - 1
        if i > 0:
            del ts[:i]
            del vs[:i]
        ts[0] = now

    def _merge(self) -> None:
        ts, vs = self.ts, self.vs
        if len(ts) < 2:
            return
        nts, nvs = [ts[0]], [vs[0]]
        for t, v in zip(ts[1:], vs[1:], strict=False):
            if v == nvs[-1]:
                continue
            nts.append(t)
            nvs.append(v)
        self.ts, self.vs = nts, nvs


class NodeProfile(_Profile):
    """Availability over time for conservative backfilling with node identity:
    ``vs[i]`` is the set of nodes free on ``[ts[i], ts[i+1])``."""

    __slots__ = ()

    def __init__(self, now: float, free: int, running: Iterable[tuple[float, int]]) -> None:
        # running: (expected_end, alloc_mask) sorted by expected end
        self.ts = [now]
        self.vs = [free]
        for e, m in running:
            if e <= self.ts[-1]:
                self.vs[-1] |= m
            else:
                self.ts.append(e)
                self.vs.append(self.vs[-1] | m)

    def first_fit(self, n: int, w: float, earliest: float | None = None) -> tuple[float, int]:
        """Earliest (start, nodes) where ``n`` nodes stay free for ``w`` seconds."""
        ts, ms = self.ts, self.vs
        last = len(ts) - 1
        i = 0 if earliest is None else max(0, bisect_right(ts, earliest) - 1)
        while True:
            t = ts[i] if earliest is None or ts[i] >= earliest else earliest
            end = t + w
            inter = ms[i]
            j = i
            while inter.bit_count() >= n and j < last and ts[j + 1] < end:
                j += 1
                inter &= ms[j]
            if inter.bit_count() >= n:
                return t, lowest_bits(inter, n)
            i += 1

    def reserve(self, t: float, w: float, nodes: int) -> None:
        i = self._split(t)
        k = self._split(t + w) if math.isfinite(t + w) else len(self.ts)
        inv = ~nodes
        ms = self.vs
        for x in range(i, k):
            ms[x] &= inv

    def _give(self, i: int, k: int, nodes: int) -> None:
        ms = self.vs
        for x in range(i, k):
            ms[x] |= nodes


class CountProfile(_Profile):
    """Same as :class:`NodeProfile` with counts of free nodes instead of sets."""

    __slots__ = ()

    def __init__(self, now: float, free: int, running: Iterable[tuple[float, int]]) -> None:
        # running: (expected_end, node count) sorted by expected end
        self.ts = [now]
        self.vs = [free]
        for e, k in running:
            if e <= self.ts[-1]:
                self.vs[-1] += k
            else:
                self.ts.append(e)
                self.vs.append(self.vs[-1] + k)

    def first_fit(self, n: int, w: float, earliest: float | None = None) -> tuple[float, int]:
        ts, cs = self.ts, self.vs
        last = len(ts) - 1
        i = 0 if earliest is None else max(0, bisect_right(ts, earliest) - 1)
        while True:
            t = ts[i] if earliest is None or ts[i] >= earliest else earliest
            end = t + w
            low = cs[i]
            j = i
            while low >= n and j < last and ts[j + 1] < end:
                j += 1
                if cs[j] < low:
                    low = cs[j]
            if low >= n:
                return t, n
            i += 1

    def reserve(self, t: float, w: float, k: int) -> None:
        i = self._split(t)
        e = self._split(t + w)
        cs = self.vs
        for x in range(i, e):
            cs[x] -= k

    def _give(self, i: int, k: int, count: int) -> None:
        cs = self.vs
        for x in range(i, k):
            cs[x] += count
