"""Fair-share factors from the groups' decayed usage: Slurm's classic formula and Fair Tree.

Both return one factor in [0, 1] per group, in the order the groups are given; a group
with no share gets 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence

Children = dict[str | None, list[str]]


def classic_factors(usage: Sequence[float], shares: Sequence[float]) -> list[float]:
    """Slurm's classic fair-share: ``2^(-U/S)`` with ``U`` the group's share of all the
    usage and ``S`` its normalised share."""
    total = sum(usage)
    out = []
    for used, share in zip(usage, shares, strict=True):
        u = used / total if total > 0 else 0.0
        out.append(2.0 ** (-u / share) if share > 0 else 0.0)
    return out


def fair_tree_factors(
    names: Sequence[str],
    usage: Sequence[float],
    shares: Mapping[str, float],
    parents: Mapping[str, str | None],
) -> list[float]:
    """Slurm's Fair Tree: rank the leaves by a depth-first walk that visits siblings in
    decreasing Level Fairness (normalised shares / normalised usage); a leaf's factor is
    its rank over the number of leaves (ties share a rank).

    ``names`` and ``usage`` are the groups jobs run in; ``shares`` holds every group's
    share (inner nodes of the tree too), ``parents`` each named group's parent."""
    kids = _children(names, parents)
    order = _leaves_in_rank_order(kids, shares, dict(zip(names, usage, strict=True)))
    nleaves = sum(len(tie) for tie in order) or 1
    rank: dict[str, float] = {}
    r = nleaves
    for tie in order:
        for name in tie:
            rank[name] = r / nleaves
        r -= len(tie)
    return [rank.get(name, 0.0) if shares.get(name, 0.0) > 0 else 0.0 for name in names]


def _children(names: Sequence[str], parents: Mapping[str, str | None]) -> Children:
    """Each group's children; a group whose parent is unknown hangs from the root (None)."""
    known = set(names) | set(parents)
    kids: Children = {}
    for name, parent in parents.items():
        kids.setdefault(parent if parent in known else None, []).append(name)
    for name in names:
        if name not in parents:
            kids.setdefault(None, []).append(name)
    return kids


def _leaves_in_rank_order(
    kids: Children, shares: Mapping[str, float], usage: Mapping[str, float]
) -> list[list[str]]:
    """The leaves in Fair Tree order, best first, as lists of tied leaves."""
    order: list[list[str]] = []

    def tree_usage(name: str) -> float:
        if name in kids:
            return sum(tree_usage(k) for k in kids[name])
        return usage.get(name, 0.0)

    def walk(parent: str | None) -> None:
        siblings = kids.get(parent, [])
        if not siblings:
            return
        fairness = _level_fairness(siblings, shares, tree_usage)
        ranked = sorted(siblings, key=lambda c: -fairness[c])
        for tie in _ties(ranked, fairness):
            leaves = [c for c in tie if c not in kids]
            if leaves:
                order.append(leaves)
            for c in tie:
                if c in kids:
                    walk(c)

    walk(None)
    return order


def _level_fairness(
    siblings: list[str], shares: Mapping[str, float], usage_of: Callable[[str], float]
) -> dict[str, float]:
    """Level Fairness of each sibling: its share over its usage, both normalised among
    the siblings (no share: 0; a share and no usage: infinite)."""
    share_sum = sum(shares.get(c, 0.0) for c in siblings)
    used = {c: usage_of(c) for c in siblings}
    usage_sum = sum(used.values())
    fairness = {}
    for c in siblings:
        s = shares.get(c, 0.0) / share_sum if share_sum > 0 else 0.0
        u = used[c] / usage_sum if usage_sum > 0 else 0.0
        if s == 0:
            fairness[c] = 0.0
        else:
            fairness[c] = math.inf if u == 0 else s / u
    return fairness


def _ties(ranked: list[str], fairness: Mapping[str, float]) -> Iterator[list[str]]:
    """Runs of consecutive siblings with equal Level Fairness."""
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and fairness[ranked[j]] == fairness[ranked[i]]:
            j += 1
        yield ranked[i:j]
        i = j
