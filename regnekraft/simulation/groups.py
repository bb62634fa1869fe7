"""Deterministic mapping of trace users to groups with given shares.

Public traces name users by number and rarely carry groups that mean anything to us. To
replay a trace against, say, "research 70 %, public sector 25 %, industry 5 %", each user
is placed in one group, always the same one for the same user, seed and groups:

1. a user listed in a group's ``users`` goes to that group;
2. a job whose own group is one of the groups keeps it;
3. every other user is hashed: ``u = sha256(f"{seed}:{user}")`` read as a number in
   [0, 1), and the user goes to the first group whose cumulative normalised share
   exceeds ``u``. With many users each group gets about its share of the users (not of
   the work; see docs/simulation.md).

The job is marked economic activity if its group is (``GroupSpec.economic``).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator

from .engine import leaf_shares
from .model import GroupSpec, Job


class UserMapper:
    def __init__(self, groups: list[GroupSpec], seed: int | str = 0):
        self.groups = groups
        self.seed = seed
        shares = leaf_shares(groups)
        self.leaves = [g for g in groups if g.name in shares and shares[g.name] > 0]
        tot = sum(shares[g.name] for g in self.leaves)
        self.cum = []
        acc = 0.0
        for g in self.leaves:
            acc += shares[g.name] / tot
            self.cum.append(acc)
        self.explicit = {u: g.name for g in groups for u in g.users}
        self.names = set(shares)
        self.economic = {g.name for g in groups if g.economic}
        self.cache: dict[str, str] = {}

    def group_for(self, user: str) -> str:
        g = self.explicit.get(user)
        if g is not None:
            return g
        g = self.cache.get(user)
        if g is None:
            h = hashlib.sha256(f"{self.seed}:{user}".encode()).digest()
            u = int.from_bytes(h[:8], "big") / 2.0**64
            i = min(bisect_right(self.cum, u), len(self.leaves) - 1)
            g = self.leaves[i].name
            self.cache[user] = g
        return g

    def apply(self, job: Job) -> Job:
        if job.user in self.explicit or job.group not in self.names:
            job.group = self.group_for(job.user)
        if job.group in self.economic:
            job.economic = True
        return job

    def __call__(self, jobs: Iterable[Job]) -> Iterator[Job]:
        if not self.leaves:
            yield from jobs
            return
        apply = self.apply
        for j in jobs:
            yield apply(j)
