"""What a round does to waits and shares: a call's grants replayed against a workload trace.

The simulator (``regnekraft.simulation``, no Django) gets a scenario built here from the
database: one group per project, entitled to its share of the call's CPU core-hours (as
decided, or as the optimiser proposes), nested under its user group (research, public,
industry); economic-activity projects are flagged so the state-aid cap applies. Trace users
are mapped to projects deterministically by their entitlements (see docs/simulation.md).

The trace's own machine is the platform: a public trace's jobs are sized for it, and the
question is how the round's entitlements share a saturated machine, not the size of the
national systems. Two scenarios are compared: the round under multifactor priority with
fair-share and the economic cap, and first-come-first-served without either.
:func:`summary` is the one description of a run that every interface shows; :func:`store`
keeps it as a :class:`SimulationRun` for the dashboard.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from regnekraft.simulation.readers import open_trace
from regnekraft.simulation.scenarios import platform_from_dict, run_one, scenarios_from_dict

from . import round as rounds
from .models import Call, PolicySettings, SimulationRun

HOUR_KINDS = ("cpu",)


def entitlements(call: Call, *, proposed: bool = False) -> dict[str, tuple[float, str, bool]]:
    """Project code -> (core-hours, user group, economic) for the call's round."""
    out: dict[str, list] = defaultdict(lambda: [0.0, "research", False])
    apps = {
        a.pk: a
        for a in call.applications.select_related("project__organisation").prefetch_related(
            "requests__resource_class", "allocations__resource_class"
        )
    }
    if proposed:
        lines = [
            (apps[app_id], rc_id, units)
            for app_id, grants in rounds.propose_round(call).grants.items()
            for rc_id, units in grants.items()
        ]
    else:
        lines = [
            (app, a.resource_class_id, a.amount)
            for app in apps.values()
            for a in app.allocations.all()
            if a.is_live
        ]
    kinds = {
        r.resource_class_id: r.resource_class.kind
        for app in apps.values()
        for r in app.requests.all()
    }
    for app, rc_id, units in lines:
        if kinds.get(rc_id) in HOUR_KINDS:
            entry = out[app.project.code]
            entry[0] += float(units)
            entry[1], entry[2] = app.project.organisation.user_group, app.project.is_economic
    return {code: (e[0], e[1], e[2]) for code, e in out.items() if e[0] > 0}


def scenario(call: Call, *, proposed: bool = False) -> dict[str, Any]:
    """A simulator scenario file (see docs/simulation.md) for the call's round."""
    settings = PolicySettings.current()
    ents = entitlements(call, proposed=proposed)
    if not ents:
        raise ValueError(
            f"call {call} has no {'proposed' if proposed else 'decided'} CPU grants to simulate"
        )
    groups = [
        {"name": grp, "share": sum(v for v, g, _ in ents.values() if g == grp)}
        for grp in sorted({g for _, g, _ in ents.values()})
    ]
    groups += [
        {"name": code, "share": hours, "parent": grp, "economic": econ}
        for code, (hours, grp, econ) in sorted(ents.items())
    ]
    label = "as proposed" if proposed else "as decided"
    return {
        "seed": call.name,
        "groups": groups,
        "scenarios": [
            {
                "name": f"{call.name} {label}",
                "policy": {
                    "policy": "easy",
                    "priority": "multifactor",
                    "fairshare": "classic",
                    "economic_cap": float(settings.economic_cap_share),
                },
            },
            {"name": "fcfs without fair-share", "policy": {"policy": "fcfs", "fairshare": "none"}},
        ],
    }


def simulate_round(call: Call, trace: str | Path, *, proposed: bool = False, progress=None) -> list:
    """Run the round's scenarios on ``trace``; returns the simulator's RunResults."""
    return _run(scenario(call, proposed=proposed), trace, progress)


def _run(spec: dict[str, Any], trace: str | Path, progress=None) -> list:
    reader = open_trace(trace)
    nodes = reader.max_procs or reader.max_nodes
    if not nodes:
        raise ValueError(f"trace {trace} does not say how many processors its machine had")
    platform = platform_from_dict({"systems": [{"name": "trace-machine", "nodes": int(nodes)}]})
    return [
        run_one(trace, sc, platform, {"allocation": "nodes"}, progress=progress)
        for sc in scenarios_from_dict(spec)
    ]


FIGURES = (
    "jobs",
    "utilisation",
    "mean_wait",
    "median_wait",
    "p95_wait",
    "mean_bounded_slowdown",
    "makespan",
)


def summary(
    call: Call, trace: str | Path, *, proposed: bool = False, progress=None
) -> dict[str, Any]:
    """The round on ``trace`` as plain data (what the API, the CLI and the dashboard show):
    per scenario the run's figures, each project's delivered share against its
    entitlement, and the same added up per user group (research, public, industry)."""
    spec = scenario(call, proposed=proposed)
    user_group = {g["name"]: g["parent"] for g in spec["groups"] if g.get("parent")}
    scenarios = []
    for r in _run(spec, trace, progress):
        groups = [
            {
                "group": g["group"],
                "user_group": user_group.get(g["group"], ""),
                "entitlement": float(g["entitlement"]),
                "delivered_share": float(g["delivered_share"]),
                "mean_wait": float(g["mean_wait"]),
            }
            for g in r.groups
        ]
        by_user_group: dict[str, dict[str, float]] = {}
        for g in groups:
            if g["user_group"]:
                total = by_user_group.setdefault(
                    g["user_group"], {"entitlement": 0.0, "delivered_share": 0.0}
                )
                total["entitlement"] += g["entitlement"]
                total["delivered_share"] += g["delivered_share"]
        scenarios.append(
            {
                "name": r.name,
                **{k: float(r.summary[k]) for k in FIGURES},
                "groups": groups,
                "user_groups": dict(sorted(by_user_group.items())),
            }
        )
    return {
        "call": call.name,
        "trace": Path(trace).name,
        "proposed": proposed,
        "scenarios": scenarios,
    }


def store(call: Call, trace: str | Path, *, proposed: bool = False, user=None) -> SimulationRun:
    """Run :func:`summary` and keep it (the dashboard shows the latest)."""
    data = summary(call, trace, proposed=proposed)
    return SimulationRun.objects.create(
        call=call,
        trace=data["trace"],
        proposed=proposed,
        created_by=user,
        results=data["scenarios"],
    )
