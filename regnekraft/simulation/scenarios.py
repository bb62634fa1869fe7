"""Scenario and platform files, and running several scenarios on one trace.

A platform file (JSON or TOML) lists systems::

    [[systems]]
    name = "saga"
    nodes = 128
    cores_per_node = 1      # default 1
    gpus_per_node = 0       # default 0
    mem_per_node = 0        # MB, default 0 (memory not modelled)
    country = "NO"          # default NO
    zone = "open"           # open | shielded | graded
    tier = 1                # 1..3

A scenario file (JSON or TOML) has optional shared settings at the top level and an
optional list ``scenarios`` of named variants; each variant starts from the shared
settings and replaces the keys it gives (``policy`` keys are merged one by one)::

    seed = 1                      # user -> group mapping seed
    [platform]                    # optional: same as a platform file
    [policy]                      # any PolicyConfig field
    policy = "easy"
    priority = "multifactor"
    fairshare = "classic"
    [policy.weights]              # PriorityWeights fields
    fairshare = 10000
    [[groups]]                    # GroupSpec fields
    name = "research"
    share = 0.7
    [[qos]]                       # QOSSpec fields
    name = "emergency"
    priority = 100
    preempts = ["normal"]
    grace_time = 300
    [[scenarios]]
    name = "today"
    groups = [{name = "research", share = 1.0}]
    [[scenarios]]
    name = "cross-sector-5"
    policy = {quotas = true, economic_cap = 0.05}
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from dataclasses import dataclass, field, fields

from .groups import UserMapper
from .model import GroupSpec, Platform, PolicyConfig, PriorityWeights, QOSSpec, SystemSpec

POLICY_KEYS = {f.name for f in fields(PolicyConfig)}


def load_file(path) -> dict:
    p = os.fspath(path)
    with open(p, "rb") as fh:
        raw = fh.read()
    if p.lower().endswith(".toml"):
        return tomllib.loads(raw.decode())
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return tomllib.loads(raw.decode())


def platform_from_dict(d) -> Platform:
    systems = d.get("systems") if isinstance(d, dict) else d
    if not systems:
        raise ValueError("a platform needs a non-empty 'systems' list")
    known = {f.name for f in fields(SystemSpec)}
    out = []
    for s in systems:
        bad = set(s) - known
        if bad:
            raise ValueError(f"unknown system field(s): {', '.join(sorted(bad))}")
        out.append(SystemSpec(**s))
    return Platform(out)


def policy_from_dict(d: dict, base: PolicyConfig | None = None) -> PolicyConfig:
    d = dict(d or {})
    bad = set(d) - POLICY_KEYS
    if bad:
        raise ValueError(f"unknown policy field(s): {', '.join(sorted(bad))}")
    kw = (
        {f.name: copy.deepcopy(getattr(base, f.name)) for f in fields(PolicyConfig)} if base else {}
    )
    if "weights" in d:
        wbase = kw.get("weights") or PriorityWeights()
        wd = {f.name: getattr(wbase, f.name) for f in fields(PriorityWeights)}
        wd.update(d.pop("weights"))
        kw["weights"] = PriorityWeights(**wd)
    if "qos" in d:
        kw["qos"] = [QOSSpec(**q) for q in d.pop("qos")]
    kw.update(d)
    return PolicyConfig(**kw)


@dataclass
class Scenario:
    name: str
    policy: dict = field(default_factory=dict)
    groups: list[GroupSpec] = field(default_factory=list)
    qos: list[dict] | None = None
    platform: Platform | None = None
    seed: int | str = 0

    def policy_config(self, defaults: dict | None = None) -> PolicyConfig:
        d = dict(defaults or {})
        d.update(self.policy)
        if self.qos is not None:
            d["qos"] = self.qos
        return policy_from_dict(d)


def scenarios_from_dict(d: dict, default_name="run") -> list[Scenario]:
    def build(name, spec):
        groups = [GroupSpec(**g) for g in spec.get("groups", [])]
        plat = platform_from_dict(spec["platform"]) if spec.get("platform") else None
        return Scenario(
            name=name,
            policy=dict(spec.get("policy", {})),
            groups=groups,
            qos=spec.get("qos"),
            platform=plat,
            seed=spec.get("seed", 0),
        )

    base = {k: v for k, v in d.items() if k != "scenarios"}
    variants = d.get("scenarios")
    if not variants:
        return [build(d.get("name", default_name), base)]
    out = []
    for i, v in enumerate(variants):
        spec = copy.deepcopy(base)
        for k, val in v.items():
            if k == "policy":
                pol = dict(spec.get("policy", {}))
                for pk, pv in val.items():
                    if pk == "weights":
                        w = dict(pol.get("weights", {}))
                        w.update(pv)
                        pol["weights"] = w
                    else:
                        pol[pk] = pv
                spec["policy"] = pol
            else:
                spec[k] = val
        out.append(build(v.get("name", f"scenario-{i + 1}"), spec))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError("scenario names must be unique")
    return out


def run_one(
    trace_path,
    scenario: Scenario,
    platform: Platform,
    defaults: dict,
    *,
    fmt=None,
    skip_malformed=False,
    progress=None,
):
    """Read the trace, map users to groups, simulate; returns (RunResult, reader)."""
    from . import simulate
    from .readers import open_trace

    reader = open_trace(trace_path, fmt, skip_malformed=skip_malformed)
    jobs = UserMapper(scenario.groups, scenario.seed)(reader) if scenario.groups else reader
    res = simulate(
        jobs,
        scenario.platform or platform,
        scenario.policy_config(defaults),
        scenario.groups,
        progress=progress,
        name=scenario.name,
    )
    res.summary["skipped_lines"] = reader.skipped
    res.summary["dropped_jobs"] = reader.dropped
    return res
