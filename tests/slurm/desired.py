"""A desired state for the test cluster, as the platform's adapter would produce it."""

from __future__ import annotations

import copy
from typing import Any

from regnekraft.slurm.spec import economic_cap_tres, standard_qos

TIERS = {"moderate": 10, "high": 20, "extreme": 30}


def description(
    cluster: str, cluster_cpus: int = 4, economic_cap: float = 0.5, prefix: str = ""
) -> dict[str, Any]:
    """Research, public and industry groups with one organisation and project each.

    ``prefix`` keeps the trees of different tests apart on one shared cluster."""
    p = prefix
    return copy.deepcopy(
        {
            "cluster": cluster,
            "qos": standard_qos(
                TIERS, economic_cap=economic_cap_tres(economic_cap, {"cpu": cluster_cpus})
            ),
            "groups": [
                {"account": f"{p}research", "kind": "research", "fairshare": 60},
                {"account": f"{p}public", "kind": "public", "fairshare": 30},
                {"account": f"{p}industry", "kind": "industry", "fairshare": 10},
            ],
            "organisations": [
                {
                    "account": f"{p}uio",
                    "group": f"{p}research",
                    "description": "Universitetet i Oslo",
                },
                {
                    "account": f"{p}met",
                    "group": f"{p}public",
                    "description": "Meteorologisk institutt",
                },
                {"account": f"{p}acme", "group": f"{p}industry", "description": "Acme AS"},
            ],
            "projects": [
                {
                    "account": f"{p}nn1001k",
                    "organisation": f"{p}uio",
                    "fairshare": 100,
                    "grp_tres_mins": {"cpu": 6000, "gres/gpu": 600},
                    "qos": ["emergency", "tier_high"],
                    "default_qos": "tier_high",
                    "usage_period": "2026-04-01",
                    "users": ["root", "nobody"],
                },
                {
                    "account": f"{p}met001",
                    "organisation": f"{p}met",
                    "fairshare": 50,
                    "grp_tres_mins": {"cpu": 1},
                    "qos": ["tier_extreme"],
                    "default_qos": "tier_extreme",
                    "users": ["root"],
                },
                {
                    "account": f"{p}acme01",
                    "organisation": f"{p}acme",
                    "fairshare": 10,
                    "grp_tres_mins": {"cpu": 60000},
                    "qos": ["economic"],
                    "default_qos": "economic",
                    "users": ["root", {"name": "nobody", "fairshare": 2}],
                },
            ],
        }
    )
