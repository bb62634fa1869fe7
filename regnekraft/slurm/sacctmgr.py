"""Reading a cluster's accounting state with ``sacctmgr show ... -P`` (or from a dump).

The result is a ``ClusterSpec`` with the same shape the platform's desired state has, so
that the diff is a plain comparison. Levels are taken from depth under ``root``:
1 = user group, 2 = organisation, 3 = project. Deeper accounts and partition
associations are kept as ``level="other"`` and reported by ``import``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .spec import GROUP_KINDS, AccountSpec, ClusterSpec, QosSpec, UserAssoc, parse_tres

Runner = Callable[[Sequence[str]], str]

ASSOC_FIELDS = (
    "Account",
    "User",
    "Partition",
    "ParentName",
    "Share",
    "GrpTRESMins",
    "GrpTRES",
    "GrpSubmit",
    "GrpJobs",
    "MaxSubmit",
    "QOS",
    "DefaultQOS",
)
QOS_FIELDS = ("Name", "Priority", "Preempt", "PreemptMode", "GrpTRES", "Description")
ACCOUNT_FIELDS = ("Account", "Descr", "Org")
USER_FIELDS = ("User", "DefaultAccount")
LEVELS = {1: "group", 2: "organisation", 3: "project"}

logger = logging.getLogger(__name__)


def _rows(text: str, fields: Sequence[str]) -> list[dict[str, str]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < len(fields):
            parts += [""] * (len(fields) - len(parts))
        rows.append(dict(zip(fields, parts[: len(fields)], strict=True)))
    return rows


def _show(
    run: Runner, entity: str, fields: Sequence[str], where: Sequence[str] = ()
) -> list[dict[str, str]]:
    argv = [
        "sacctmgr",
        "--noheader",
        "--parsable2",
        "show",
        entity,
        *where,
        "format=" + ",".join(fields),
    ]
    return _rows(run(argv), fields)


def _share(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return -1  # "parent" or unknown: never equal to a desired share, so it gets set


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.lstrip("-").isdigit() else None


def read_qos(run: Runner) -> dict[str, QosSpec]:
    result: dict[str, QosSpec] = {}
    for row in _show(run, "qos", QOS_FIELDS):
        name = row["Name"].strip()
        if not name:
            continue
        mode = row["PreemptMode"].strip().lower()
        result[name] = QosSpec(
            name=name,
            priority=int(row["Priority"] or 0),
            preempt=frozenset(p for p in row["Preempt"].split(",") if p),
            preempt_mode=None if mode in ("", "cluster") else mode,
            grp_tres=parse_tres(row["GrpTRES"]),
            description=row["Description"].strip().lower() or None,
            kind=_guess_qos_kind(name, row),
        )
    return result


def _guess_qos_kind(name: str, row: dict[str, str]) -> str:
    if row["Preempt"].strip():
        return "emergency"
    if name.startswith("tier_"):
        return "tier"
    if row["GrpTRES"].strip():
        return "economic"
    return "other"


def read_cluster(run: Runner, cluster: str) -> ClusterSpec:
    """The cluster's current accounts, user associations, default accounts and QOS."""
    spec = ClusterSpec(cluster=cluster)
    # Four reads, at once: slurmdbd answers them in parallel. `show user withassoc` (27-104 s
    # at national size) is not used: the user table alone has the default account, and the
    # associations say which users are on this cluster.
    with ThreadPoolExecutor(max_workers=4) as pool:
        qos_read = pool.submit(read_qos, run)
        account_read = pool.submit(_show, run, "account", ACCOUNT_FIELDS)
        assoc_read = pool.submit(_show, run, "assoc", ASSOC_FIELDS, [f"cluster={cluster}"])
        user_read = pool.submit(_show, run, "user", USER_FIELDS, [f"cluster={cluster}"])
        spec.qos = qos_read.result()
        accounts = {row["Account"]: row for row in account_read.result()}
        assoc_rows = assoc_read.result()
        user_rows = user_read.result()
    parents: dict[str, str] = {}
    account_rows: dict[str, dict[str, str]] = {}
    for row in assoc_rows:
        if row["User"] or row["Partition"] or row["Account"] == "root":
            continue
        parents[row["Account"]] = row["ParentName"]
        account_rows[row["Account"]] = row

    def depth(name: str) -> int:
        steps, seen = 0, set()
        while name != "root" and name in parents and name not in seen:
            seen.add(name)
            name = parents[name]
            steps += 1
        return steps if name == "root" else 99

    for name, row in account_rows.items():
        info = accounts.get(name, {})
        level = LEVELS.get(depth(name), "other")
        spec.accounts[name] = AccountSpec(
            name=name,
            parent=row["ParentName"],
            level=level,
            fairshare=_share(row["Share"]),
            description=(info.get("Descr") or "").strip().lower() or None,
            organization=(info.get("Org") or "").strip().lower() or None,
            grp_tres_mins=parse_tres(row["GrpTRESMins"]),
            grp_tres=parse_tres(row["GrpTRES"]),
            qos=frozenset(q for q in row["QOS"].split(",") if q),
            default_qos=row["DefaultQOS"].strip() or None,
            grp_submit_jobs=_int_or_none(row["GrpSubmit"]),
            grp_jobs=_int_or_none(row["GrpJobs"]),
            kind=name if level == "group" and name in GROUP_KINDS else None,
        )
    for row in assoc_rows:
        if not row["User"] or row["Partition"]:
            continue
        spec.users[(row["User"], row["Account"])] = UserAssoc(
            user=row["User"],
            account=row["Account"],
            fairshare=_share(row["Share"]),
            max_submit_jobs=_int_or_none(row["MaxSubmit"]),
        )
    on_cluster = {user for user, _ in spec.users} | {
        row["User"] for row in assoc_rows if row["User"] and row["Account"] == "root"
    }
    for row in user_rows:
        if row["User"] in on_cluster and row["DefaultAccount"]:
            spec.default_accounts[row["User"]] = row["DefaultAccount"]
    _log_read(f"sacctmgr show on {cluster}", spec)
    return spec


def _log_read(where: str, spec: ClusterSpec) -> None:
    logger.debug(
        "%s: %d account(s), %d user association(s), %d QOS",
        where,
        len(spec.accounts),
        len(spec.users),
        len(spec.qos),
    )


# ---- sacctmgr dump -----------------------------------------------------------------
_DUMP_LINE = re.compile(r"^(Cluster|Parent|Account|User)\s*-\s*'([^']*)'(.*)$")
_DUMP_OPT = re.compile(r":([A-Za-z]+)=('([^']*)'|[^:]*)")


def parse_dump(text: str) -> ClusterSpec:
    """Read the file ``sacctmgr dump <cluster> file=...`` writes (QOS are not in it)."""
    spec = ClusterSpec(cluster="")
    parent = "root"
    parents: dict[str, str] = {}
    rows: dict[str, dict[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("sacctmgr: "):
            line = line[len("sacctmgr: ") :]
        match = _DUMP_LINE.match(line)
        if not match:
            continue
        kind, name, rest = match.groups()
        opts = {
            key.lower(): (quoted if value.startswith("'") else value)
            for key, value, quoted in _DUMP_OPT.findall(rest)
        }
        if kind == "Cluster":
            spec.cluster = name
        elif kind == "Parent":
            parent = name
        elif kind == "Account":
            parents[name] = parent
            rows[name] = opts
        elif kind == "User":
            if parent == "root":
                continue
            spec.users[(name, parent)] = UserAssoc(
                user=name,
                account=parent,
                fairshare=_share(opts.get("fairshare", "1")),
                max_submit_jobs=_int_or_none(opts.get("maxsubmitjobs", "")),
            )
            if opts.get("defaultaccount"):
                spec.default_accounts[name] = opts["defaultaccount"]

    def depth(name: str) -> int:
        steps = 0
        while name in parents and steps < 50:
            name = parents[name]
            steps += 1
        return steps

    for name, opts in rows.items():
        level = LEVELS.get(depth(name), "other")
        spec.accounts[name] = AccountSpec(
            name=name,
            parent=parents[name],
            level=level,
            fairshare=_share(opts.get("fairshare", "1")),
            description=(opts.get("description") or "").lower() or None,
            organization=(opts.get("organization") or "").lower() or None,
            grp_tres_mins=parse_tres(opts.get("grptresmins")),
            grp_tres=parse_tres(opts.get("grptres")),
            qos=frozenset(q for q in opts.get("qos", "").split(",") if q),
            default_qos=opts.get("defaultqos") or None,
            grp_submit_jobs=_int_or_none(opts.get("grpsubmitjobs", "")),
            grp_jobs=_int_or_none(opts.get("grpjobs", "")),
            kind=name if level == "group" and name in GROUP_KINDS else None,
        )
    _log_read(f"sacctmgr dump of {spec.cluster or '(no cluster line)'}", spec)
    return spec
