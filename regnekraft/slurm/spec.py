"""The desired (and current) state of one Slurm cluster's accounting, as plain values.

The bridge compares two ``ClusterSpec`` values: the one the platform wants (built from
allocations by an adapter, or read from a JSON description) and the one Slurm has (read
with ``sacctmgr``). Nothing here talks to Slurm or to Django.

The account tree is ``root -> user group -> organisation -> project``:

- user group: ``research``, ``public`` or ``industry`` (the account name may differ, the
  ``kind`` says which); its Fairshare is the group's protected share;
- organisation: a university, agency or company; Fairshare defaults to the sum of its
  projects' shares;
- project: the account jobs run under. Fairshare from the project's entitlement,
  ``GrpTRESMins`` from its grants (per TRES, see docs/slurm.md for why), QOS from its
  availability tier (or the economic-activity QOS), and blocking (``GrpSubmitJobs=0``,
  ``GrpJobs=0``) when the allocation is exhausted, expired or blocked by the rules.

Users are associations (user, project account) with their own Fairshare and an optional
per-user block (``MaxSubmitJobs=0``).

The plain description (a dict, JSON on disk) is the interchange format: ``import`` writes
one, ``plan``/``apply`` read one, and ``ClusterSpec.from_description(d).to_description()``
gives ``d`` back in canonical form.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

GROUP_KINDS = ("research", "public", "industry")
QOS_KINDS = ("tier", "emergency", "economic", "other")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
# Units in which Slurm reports memory-like TRES; we keep megabytes.
_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024, "P": 1024**3}

TRES = dict[str, int]


class SpecError(ValueError):
    """A description that cannot become a consistent cluster state."""


def check_name(name: str, what: str) -> str:
    """Slurm stores account, user and QOS names in lower case; refuse anything that would
    come back different from what we sent."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SpecError(f"{what} name {name!r} must be lower case letters, digits, '_', '-', '.'")
    return name


def parse_tres(text: str | None) -> TRES:
    """``"cpu=600,gres/gpu=60,mem=4G"`` -> ``{"cpu": 600, "gres/gpu": 60, "mem": 4096}``."""
    result: TRES = {}
    if not text:
        return result
    for part in text.split(","):
        part = part.strip()
        if not part or "=" not in part:
            continue
        key, value = part.split("=", 1)
        key = key.strip().lower()
        value = value.strip()
        if value and value[-1].upper() in _MEM_UNITS and value[:-1].replace(".", "", 1).isdigit():
            number = float(value[:-1]) * _MEM_UNITS[value[-1].upper()]
        else:
            try:
                number = float(value)
            except ValueError:
                continue
        result[key] = int(round(number))
    return result


def format_tres(tres: Mapping[str, int]) -> str:
    """The inverse of ``parse_tres`` in a stable order (what ``sacctmgr`` accepts)."""
    return ",".join(f"{key}={int(value)}" for key, value in sorted(tres.items()))


def clear_tres(current: Mapping[str, int], desired: Mapping[str, int]) -> str:
    """A TRES value that makes Slurm's limit equal ``desired``: keys to drop are set to -1."""
    merged: dict[str, int] = {key: -1 for key in current if key not in desired}
    merged.update(desired)
    return format_tres(merged)


def hours_to_tres_minutes(hours: Mapping[str, float]) -> TRES:
    """Grants are in hours (CPU core-hours, GPU-hours); ``GrpTRESMins`` in minutes."""
    return {key: int(math.floor(value * 60 + 1e-9)) for key, value in hours.items()}


def economic_cap_tres(cap_fraction: float, cluster_tres: Mapping[str, int]) -> TRES:
    """The economic-activity cap (a share of yearly capacity, at most 20 % by law) as the
    absolute counts a QOS ``GrpTRES`` holds: at no moment may economic jobs hold more than
    ``floor(cap * total)`` of each resource."""
    if not 0 <= cap_fraction <= 1:
        raise SpecError(f"economic cap {cap_fraction} must be a fraction between 0 and 1")
    return {
        key: int(math.floor(cap_fraction * total + 1e-9)) for key, total in cluster_tres.items()
    }


def fairshares(entitlements: Mapping[str, float], total: int = 10_000) -> dict[str, int]:
    """Integer Fairshare values proportional to entitlements (largest remainder), each >= 1
    so that no entitled project is left with no share at all."""
    positive = {key: float(value) for key, value in entitlements.items() if value > 0}
    whole = sum(positive.values())
    if not positive:
        return {key: 1 for key in entitlements}
    raw = {key: value / whole * total for key, value in positive.items()}
    shares = {key: int(math.floor(value)) for key, value in raw.items()}
    leftover = total - sum(shares.values())
    for key in sorted(raw, key=lambda k: (shares[k] - raw[k], k))[:leftover]:
        shares[key] += 1
    result = {key: max(1, shares.get(key, 0)) for key in entitlements}
    return result


@dataclass(frozen=True)
class QosSpec:
    name: str
    priority: int = 0
    preempt: frozenset[str] = frozenset()
    preempt_mode: str | None = None  # None: the cluster's PreemptMode
    grp_tres: TRES = field(default_factory=dict)
    description: str | None = None  # None: Slurm's default (the name)
    kind: str = "other"  # informational: tier / emergency / economic / other

    def settings(self) -> dict[str, str]:
        return {
            "priority": str(self.priority),
            "preempt": ",".join(sorted(self.preempt)),
            "preemptmode": (self.preempt_mode or "cluster").lower(),
            "grptres": format_tres(self.grp_tres),
            "description": (self.description or self.name).lower(),
        }


@dataclass(frozen=True)
class UserAssoc:
    user: str
    account: str
    fairshare: int = 1
    max_submit_jobs: int | None = None  # 0 blocks this user in this project only

    @property
    def blocked(self) -> bool:
        return self.max_submit_jobs == 0


@dataclass(frozen=True)
class AccountSpec:
    name: str
    parent: str
    level: str  # "group" | "organisation" | "project"
    fairshare: int = 1
    description: str | None = None
    organization: str | None = None
    grp_tres_mins: TRES = field(default_factory=dict)
    grp_tres: TRES = field(default_factory=dict)
    qos: frozenset[str] = frozenset()  # empty: inherit from the parent
    default_qos: str | None = None
    # Blocking sets both to 0: no new job is accepted and no queued job starts.
    grp_submit_jobs: int | None = None
    grp_jobs: int | None = None
    kind: str | None = None  # for groups: research / public / industry
    # For projects: the first day (ISO date) of the allocation period its GrpTRESMins
    # count; when it moves on, the account's usage is reset (sync.usage_resets). Not a
    # Slurm setting, so it takes no part in comparisons with the cluster.
    usage_period: str | None = field(default=None, compare=False)

    @property
    def blocked(self) -> bool:
        return self.grp_submit_jobs == 0 and self.grp_jobs == 0

    @property
    def effective_description(self) -> str:
        return (self.description or self.name).lower()

    @property
    def effective_organization(self) -> str:
        return (self.organization or self.name).lower()


@dataclass
class ClusterSpec:
    """One cluster's accounting state; ``accounts`` maps name -> spec, ``users`` maps
    (user, account) -> association; ``default_accounts`` user -> account where managed."""

    cluster: str
    accounts: dict[str, AccountSpec] = field(default_factory=dict)
    users: dict[tuple[str, str], UserAssoc] = field(default_factory=dict)
    qos: dict[str, QosSpec] = field(default_factory=dict)
    default_accounts: dict[str, str] = field(default_factory=dict)

    # ---- tree helpers -------------------------------------------------------------
    def children(self, parent: str) -> list[str]:
        return sorted(self.children_index().get(parent, ()))

    def children_index(self) -> dict[str, list[str]]:
        """parent -> child names, in one pass over the accounts. Walks build it once (a
        scan of all accounts per node made the subtree walk quadratic)."""
        index: dict[str, list[str]] = {}
        for name, acc in self.accounts.items():
            index.setdefault(acc.parent, []).append(name)
        return index

    def subtree(self, roots: Iterable[str]) -> set[str]:
        """Names of the given accounts and every descendant (present in this spec)."""
        index = self.children_index()
        found: set[str] = set()
        todo = [name for name in roots if name in self.accounts]
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            todo.extend(index.get(name, ()))
        return found

    def depth(self, name: str) -> int:
        depth = 0
        seen: set[str] = set()
        while name in self.accounts and name not in seen:
            seen.add(name)
            name = self.accounts[name].parent
            depth += 1
        return depth

    def groups(self) -> list[AccountSpec]:
        return [acc for acc in self.accounts.values() if acc.level == "group"]

    # ---- plain description ----------------------------------------------------------
    @classmethod
    def from_description(cls, data: Mapping[str, Any]) -> ClusterSpec:
        """Build and check a spec from the plain (JSON) description; see docs/slurm.md."""
        try:
            return _from_description(data)
        except (KeyError, TypeError) as exc:
            raise SpecError(f"bad description: {exc!r}") from exc

    def to_description(self) -> dict[str, Any]:
        return _to_description(self)

    def with_account(self, name: str, **changes: Any) -> ClusterSpec:
        """A copy with one account changed (handy in tests and adapters)."""
        copy = ClusterSpec(
            self.cluster,
            dict(self.accounts),
            dict(self.users),
            dict(self.qos),
            dict(self.default_accounts),
        )
        copy.accounts[name] = replace(copy.accounts[name], **changes)
        return copy


def _opt_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _tres_of(value: Any) -> TRES:
    if value is None:
        return {}
    if isinstance(value, str):
        return parse_tres(value)
    return {str(k).lower(): int(v) for k, v in dict(value).items()}


def _from_description(data: Mapping[str, Any]) -> ClusterSpec:
    cluster = check_name(str(data["cluster"]), "cluster")
    spec = ClusterSpec(cluster=cluster)
    for item in data.get("qos", []):
        qos = _qos_from(item)
        spec.qos[qos.name] = qos
    for item in data.get("groups", []):
        group = _group_from(item)
        spec.accounts[group.name] = group
    projects = list(data.get("projects", []))
    org_share: dict[str, int] = {}
    for item in projects:
        org_share[item["organisation"]] = org_share.get(item["organisation"], 0) + int(
            item.get("fairshare", 1)
        )
    for item in data.get("organisations", []):
        org = _organisation_from(item, spec, org_share)
        spec.accounts[org.name] = org
    for item in projects:
        project = _project_from(item, spec)
        spec.accounts[project.name] = project
        for member in item.get("users", []):
            assoc = _member_from(member, project.name)
            spec.users[(assoc.user, assoc.account)] = assoc
    for user, info in dict(data.get("users", {})).items():
        default = info.get("default_account") if isinstance(info, Mapping) else info
        if default:
            if (user, default) not in spec.users:
                raise SpecError(f"user {user}: default account {default} is not one of theirs")
            spec.default_accounts[user] = default
    return spec


def _qos_from(item: Mapping[str, Any]) -> QosSpec:
    name = check_name(item["name"], "QOS")
    kind = item.get("kind", "other")
    if kind not in QOS_KINDS:
        raise SpecError(f"QOS {name}: kind {kind!r} not one of {QOS_KINDS}")
    return QosSpec(
        name=name,
        priority=int(item.get("priority", 0)),
        preempt=frozenset(item.get("preempt", [])),
        preempt_mode=(item.get("preempt_mode") or None),
        grp_tres=_tres_of(item.get("grp_tres")),
        description=item.get("description"),
        kind=kind,
    )


def _group_from(item: Mapping[str, Any]) -> AccountSpec:
    name = check_name(item["account"], "group account")
    return AccountSpec(
        name=name,
        parent="root",
        level="group",
        fairshare=int(item.get("fairshare", 1)),
        description=item.get("description"),
        organization=item.get("organization"),
        kind=item.get("kind", name if name in GROUP_KINDS else None),
    )


def _organisation_from(
    item: Mapping[str, Any], spec: ClusterSpec, org_share: Mapping[str, int]
) -> AccountSpec:
    """An organisation's account; without its own fairshare it gets its projects' sum."""
    name = check_name(item["account"], "organisation account")
    group = item["group"]
    if group not in spec.accounts:
        raise SpecError(f"organisation {name}: unknown group {group!r}")
    share = item.get("fairshare")
    return AccountSpec(
        name=name,
        parent=group,
        level="organisation",
        fairshare=int(share) if share is not None else max(1, org_share.get(name, 1)),
        description=item.get("description"),
        organization=item.get("organization"),
    )


def _project_from(item: Mapping[str, Any], spec: ClusterSpec) -> AccountSpec:
    name = check_name(item["account"], "project account")
    org = item["organisation"]
    if org not in spec.accounts or spec.accounts[org].level != "organisation":
        raise SpecError(f"project {name}: unknown organisation {org!r}")
    if name in spec.accounts:
        raise SpecError(f"account {name} declared twice")
    qos = frozenset(item.get("qos", []))
    for q in qos | ({item["default_qos"]} if item.get("default_qos") else set()):
        if q not in spec.qos and q != "normal":
            raise SpecError(f"project {name}: QOS {q!r} is not declared")
    blocked = bool(item.get("blocked"))
    return AccountSpec(
        name=name,
        parent=org,
        level="project",
        fairshare=int(item.get("fairshare", 1)),
        description=item.get("description"),
        organization=item.get("organization", spec.accounts[org].effective_organization),
        grp_tres_mins=_tres_of(item.get("grp_tres_mins")),
        grp_tres=_tres_of(item.get("grp_tres")),
        qos=qos,
        default_qos=item.get("default_qos"),
        grp_submit_jobs=0 if blocked else _opt_int(item.get("grp_submit_jobs")),
        grp_jobs=0 if blocked else _opt_int(item.get("grp_jobs")),
        usage_period=_iso_day(item.get("usage_period"), name),
    )


def _member_from(member: str | Mapping[str, Any], account: str) -> UserAssoc:
    """A project member: a user name, or a mapping with ``name`` and its settings."""
    if isinstance(member, str):
        member = {"name": member}
    user = check_name(member["name"], "user")
    return UserAssoc(
        user=user,
        account=account,
        fairshare=int(member.get("fairshare", 1)),
        max_submit_jobs=0 if member.get("blocked") else _opt_int(member.get("max_submit_jobs")),
    )


def _iso_day(value: Any, account: str) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise SpecError(
            f"project {account}: usage_period {value!r} is not a date (YYYY-MM-DD)"
        ) from None


def _to_description(spec: ClusterSpec) -> dict[str, Any]:
    qos = [
        _qos_item(q) for q in sorted(spec.qos.values(), key=lambda q: (q.kind, q.priority, q.name))
    ]
    groups, orgs, projects = [], [], []
    for acc in sorted(spec.accounts.values(), key=lambda a: a.name):
        base: dict[str, Any] = {"account": acc.name, "fairshare": acc.fairshare}
        if acc.effective_description != acc.name:
            base["description"] = acc.effective_description
        if acc.level == "group":
            base["kind"] = acc.kind
            if acc.effective_organization != acc.name:
                base["organization"] = acc.effective_organization
            groups.append(base)
        elif acc.level == "organisation":
            base["group"] = acc.parent
            if acc.effective_organization != acc.name:
                base["organization"] = acc.effective_organization
            orgs.append(base)
        else:
            projects.append(_project_item(spec, acc, base))
    return {
        "cluster": spec.cluster,
        "qos": qos,
        "groups": groups,
        "organisations": orgs,
        "projects": projects,
        "users": {
            user: {"default_account": acc} for user, acc in sorted(spec.default_accounts.items())
        },
    }


def _qos_item(q: QosSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"name": q.name, "kind": q.kind, "priority": q.priority}
    if q.preempt:
        item["preempt"] = sorted(q.preempt)
    if q.preempt_mode:
        item["preempt_mode"] = q.preempt_mode.lower()
    if q.grp_tres:
        item["grp_tres"] = dict(sorted(q.grp_tres.items()))
    if q.description and q.description.lower() != q.name:
        item["description"] = q.description.lower()
    return item


def _project_item(spec: ClusterSpec, acc: AccountSpec, base: dict[str, Any]) -> dict[str, Any]:
    """A project's description item: ``base`` (name, fairshare, description) with its
    limits, QOS and members; settings at their defaults are left out."""
    base["organisation"] = acc.parent
    if acc.effective_organization != spec.accounts[acc.parent].effective_organization:
        base["organization"] = acc.effective_organization
    if acc.grp_tres_mins:
        base["grp_tres_mins"] = dict(sorted(acc.grp_tres_mins.items()))
    if acc.grp_tres:
        base["grp_tres"] = dict(sorted(acc.grp_tres.items()))
    if acc.qos:
        base["qos"] = sorted(acc.qos)
    if acc.default_qos:
        base["default_qos"] = acc.default_qos
    if acc.usage_period:
        base["usage_period"] = acc.usage_period
    if acc.blocked:
        base["blocked"] = True
    else:
        if acc.grp_submit_jobs is not None:
            base["grp_submit_jobs"] = acc.grp_submit_jobs
        if acc.grp_jobs is not None:
            base["grp_jobs"] = acc.grp_jobs
    base["users"] = [
        _member_item(user, assoc)
        for (user, account), assoc in sorted(spec.users.items())
        if account == acc.name
    ]
    return base


def _member_item(user: str, assoc: UserAssoc) -> str | dict[str, Any]:
    """A member as its name alone, or with the settings that differ from the defaults."""
    extra = {
        "fairshare": None if assoc.fairshare == 1 else assoc.fairshare,
        "blocked": True if assoc.blocked else None,
        "max_submit_jobs": None if assoc.blocked else assoc.max_submit_jobs,
    }
    extra = {k: v for k, v in extra.items() if v is not None}
    return {"name": user, **extra} if extra else user


def standard_qos(
    tiers: Mapping[str, int],
    *,
    economic_cap: TRES,
    emergency_priority: int = 10_000,
    emergency_name: str = "emergency",
    economic_name: str = "economic",
    tier_prefix: str = "tier_",
    preempt_mode: str | None = None,
) -> list[dict[str, Any]]:
    """The QOS set the platform needs, as description items: one QOS per availability tier
    (``tier_<name>`` with the given priority), an emergency QOS with the highest priority
    that preempts every tier and the economic QOS, and the economic-activity QOS whose
    ``GrpTRES`` holds the cap as absolute counts (see ``economic_cap_tres``)."""
    items: list[dict[str, Any]] = []
    tier_names = []
    for tier, priority in sorted(tiers.items(), key=lambda kv: kv[1]):
        name = check_name(f"{tier_prefix}{tier}", "QOS")
        tier_names.append(name)
        items.append({"name": name, "kind": "tier", "priority": int(priority)})
    items.append(
        {"name": economic_name, "kind": "economic", "priority": 0, "grp_tres": dict(economic_cap)}
    )
    emergency: dict[str, Any] = {
        "name": emergency_name,
        "kind": "emergency",
        "priority": emergency_priority,
        "preempt": sorted([*tier_names, economic_name]),
    }
    if preempt_mode:
        emergency["preempt_mode"] = preempt_mode
    items.append(emergency)
    return items
