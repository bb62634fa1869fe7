"""The difference between the desired and the current state, as ``sacctmgr`` operations.

Scope: the bridge owns the QOS the desired state names and the subtrees under the
desired user-group accounts (research / public / industry). Inside those subtrees
anything not desired is removed; outside them nothing is touched (``root``, its users,
other accounts and QOS are the site's). A limit that should be gone is set to ``-1``.

Order of operations: QOS (those without ``Preempt`` first, since a Preempt list must name
existing QOS), accounts top-down, account changes, user associations, default accounts,
then removals: user associations, accounts bottom-up. Applying the list in order takes
the cluster to the desired state; diffing again then gives no operation.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace

from .spec import AccountSpec, ClusterSpec, QosSpec, UserAssoc, clear_tres, format_tres


@dataclass(frozen=True)
class Change:
    field: str
    current: str
    desired: str

    def __str__(self) -> str:
        return f"{self.field}: {self.current or '(none)'} -> {self.desired or '(none)'}"


@dataclass(frozen=True)
class Operation:
    """One ``sacctmgr`` command and why it is needed."""

    action: str  # add | modify | delete
    entity: str  # qos | account | user
    name: str
    where: tuple[tuple[str, str], ...] = ()
    settings: tuple[tuple[str, str], ...] = ()
    changes: tuple[Change, ...] = field(default=(), compare=False)

    def argv(self) -> list[str]:
        base = ["sacctmgr", "--immediate"]
        settings = [f"{key}={value}" for key, value in self.settings]
        where = [f"{key}={value}" for key, value in self.where]
        if self.action == "add":
            return [*base, "add", self.entity, self.name, *where, *settings]
        if self.action == "modify":
            return [
                *base,
                "modify",
                self.entity,
                "where",
                f"name={self.name}",
                *where,
                "set",
                *settings,
            ]
        return [*base, "delete", self.entity, "where", f"name={self.name}", *where]

    def command(self) -> str:
        return shlex.join(self.argv())

    def summary(self) -> str:
        target = self.name
        account = dict(self.where).get("account")
        if self.entity == "user" and account:
            target = f"{self.name}@{account}"
        text = f"{self.action} {self.entity} {target}"
        if self.changes:
            text += " (" + "; ".join(str(c) for c in self.changes) + ")"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "entity": self.entity,
            "name": self.name,
            "where": dict(self.where),
            "settings": dict(self.settings),
            "changes": [
                {"field": c.field, "current": c.current, "desired": c.desired} for c in self.changes
            ],
            "command": self.command(),
        }


def _account_assoc_settings(acc: AccountSpec) -> dict[str, str]:
    settings = {"fairshare": str(acc.fairshare)}
    if acc.grp_tres_mins:
        settings["grptresmins"] = format_tres(acc.grp_tres_mins)
    if acc.grp_tres:
        settings["grptres"] = format_tres(acc.grp_tres)
    if acc.qos:
        settings["qos"] = ",".join(sorted(acc.qos))
    if acc.default_qos:
        settings["defaultqos"] = acc.default_qos
    if acc.grp_submit_jobs is not None:
        settings["grpsubmitjobs"] = str(acc.grp_submit_jobs)
    if acc.grp_jobs is not None:
        settings["grpjobs"] = str(acc.grp_jobs)
    return settings


def _limit(value: int | None) -> str:
    return "" if value is None else str(value)


def diff_qos(desired: QosSpec, current: QosSpec | None) -> Operation | None:
    want = desired.settings()
    if current is None:
        settings = {
            k: v
            for k, v in want.items()
            if not (k == "preempt" and not v)
            and not (k == "grptres" and not v)
            and not (k == "preemptmode" and v == "cluster")
        }
        return Operation(
            "add",
            "qos",
            desired.name,
            settings=tuple(settings.items()),
            changes=tuple(Change(k, "", v) for k, v in settings.items()),
        )
    have = current.settings()
    changed = {k: v for k, v in want.items() if have.get(k) != v}
    if not changed:
        return None
    settings = dict(changed)
    if "grptres" in changed:
        settings["grptres"] = clear_tres(current.grp_tres, desired.grp_tres) or "cpu=-1"
    if "preempt" in changed and not desired.preempt:
        settings["preempt"] = ""
    return Operation(
        "modify",
        "qos",
        desired.name,
        settings=tuple(settings.items()),
        changes=tuple(Change(k, have.get(k, ""), v) for k, v in changed.items()),
    )


def diff_account(desired: AccountSpec, current: AccountSpec, cluster: str) -> list[Operation]:
    ops: list[Operation] = []
    where = (("cluster", cluster),)
    # The account record itself (not per cluster): description and organisation.
    record_changes = []
    if desired.effective_description != current.effective_description:
        record_changes.append(
            Change("description", current.effective_description, desired.effective_description)
        )
    if desired.effective_organization != current.effective_organization:
        record_changes.append(
            Change("organization", current.effective_organization, desired.effective_organization)
        )
    if record_changes:
        ops.append(
            Operation(
                "modify",
                "account",
                desired.name,
                settings=tuple((c.field, c.desired) for c in record_changes),
                changes=tuple(record_changes),
            )
        )
    changes: list[Change] = []
    settings: dict[str, str] = {}
    if desired.parent != current.parent:
        changes.append(Change("parent", current.parent, desired.parent))
        settings["parent"] = desired.parent
    if desired.fairshare != current.fairshare:
        changes.append(Change("fairshare", str(current.fairshare), str(desired.fairshare)))
        settings["fairshare"] = str(desired.fairshare)
    for name, want, have in (
        ("grptresmins", desired.grp_tres_mins, current.grp_tres_mins),
        ("grptres", desired.grp_tres, current.grp_tres),
    ):
        if want != have:
            changes.append(Change(name, format_tres(have), format_tres(want)))
            settings[name] = clear_tres(have, want)
    if desired.qos and desired.qos != current.qos:
        changes.append(Change("qos", ",".join(sorted(current.qos)), ",".join(sorted(desired.qos))))
        settings["qos"] = ",".join(sorted(desired.qos))
    if desired.default_qos and desired.default_qos != current.default_qos:
        changes.append(Change("defaultqos", current.default_qos or "", desired.default_qos))
        settings["defaultqos"] = desired.default_qos
    for name, want_limit, have_limit in (
        ("grpsubmitjobs", desired.grp_submit_jobs, current.grp_submit_jobs),
        ("grpjobs", desired.grp_jobs, current.grp_jobs),
    ):
        if want_limit != have_limit:
            changes.append(Change(name, _limit(have_limit), _limit(want_limit)))
            settings[name] = "-1" if want_limit is None else str(want_limit)
    if changes:
        ops.append(
            Operation(
                "modify",
                "account",
                desired.name,
                where=where,
                settings=tuple(settings.items()),
                changes=tuple(changes),
            )
        )
    return ops


def diff_user(
    desired: UserAssoc, current: UserAssoc | None, cluster: str, default_account: str | None
) -> Operation | None:
    where = (("account", desired.account), ("cluster", cluster))
    if current is None:
        settings = {"fairshare": str(desired.fairshare)}
        if desired.max_submit_jobs is not None:
            settings["maxsubmitjobs"] = str(desired.max_submit_jobs)
        if default_account:
            settings["defaultaccount"] = default_account
        return Operation(
            "add",
            "user",
            desired.user,
            where=where,
            settings=tuple(settings.items()),
            changes=tuple(Change(k, "", v) for k, v in settings.items()),
        )
    changes, settings = [], {}
    if desired.fairshare != current.fairshare:
        changes.append(Change("fairshare", str(current.fairshare), str(desired.fairshare)))
        settings["fairshare"] = str(desired.fairshare)
    if desired.max_submit_jobs != current.max_submit_jobs:
        changes.append(
            Change(
                "maxsubmitjobs", _limit(current.max_submit_jobs), _limit(desired.max_submit_jobs)
            )
        )
        settings["maxsubmitjobs"] = (
            "-1" if desired.max_submit_jobs is None else str(desired.max_submit_jobs)
        )
    if not changes:
        return None
    return Operation(
        "modify",
        "user",
        desired.user,
        where=where,
        settings=tuple(settings.items()),
        changes=tuple(changes),
    )


def managed_accounts(desired: ClusterSpec, current: ClusterSpec) -> set[str]:
    """Accounts in the current state that the desired state owns."""
    return current.subtree(acc.name for acc in desired.groups()) | (
        set(desired.accounts) & set(current.accounts)
    )


def diff(desired: ClusterSpec, current: ClusterSpec) -> list[Operation]:
    """Operations that take ``current`` to ``desired`` (empty when they agree)."""
    ops: list[Operation] = []
    # QOS: those that preempt others after the ones they name.
    for qos in sorted(desired.qos.values(), key=lambda q: (bool(q.preempt), q.name)):
        op = diff_qos(qos, current.qos.get(qos.name))
        if op:
            ops.append(op)
    ops.extend(_account_ops(desired, current))
    ops.extend(_user_ops(desired, current))
    ops.extend(_removals(desired, current))
    return ops


def _account_ops(desired: ClusterSpec, current: ClusterSpec) -> list[Operation]:
    """Accounts to add or modify, parents before children."""
    cluster = desired.cluster
    ops: list[Operation] = []
    for acc in sorted(desired.accounts.values(), key=lambda a: (desired.depth(a.name), a.name)):
        have = current.accounts.get(acc.name)
        if have is not None:
            ops.extend(diff_account(acc, have, cluster))
            continue
        settings = {
            "cluster": cluster,
            "parent": acc.parent,
            "description": acc.effective_description,
            "organization": acc.effective_organization,
            **_account_assoc_settings(acc),
        }
        ops.append(
            Operation(
                "add",
                "account",
                acc.name,
                settings=tuple(settings.items()),
                changes=tuple(Change(k, "", v) for k, v in settings.items() if k != "cluster"),
            )
        )
    return ops


def _user_ops(desired: ClusterSpec, current: ClusterSpec) -> list[Operation]:
    """User associations to add or modify (a new user gets its default account on
    creation), then changed default accounts."""
    cluster = desired.cluster
    ops: list[Operation] = []
    existing_users = {user for user, _ in current.users} | set(current.default_accounts)

    def order(item: tuple[tuple[str, str], UserAssoc]) -> tuple[str, bool, str]:
        # A new user is created with the association of its default account: `sacctmgr
        # add user u account=a defaultaccount=b` would also add (u, b) with default settings,
        # and the later `add user u account=b` would then stop with "Nothing new added".
        (user, account), _assoc = item
        return (user, account != desired.default_accounts.get(user, account), account)

    for key, assoc in sorted(desired.users.items(), key=order):
        default = None
        if assoc.user not in existing_users:
            default = desired.default_accounts.get(assoc.user, assoc.account)
            existing_users.add(assoc.user)
        op = diff_user(assoc, current.users.get(key), cluster, default)
        if op:
            ops.append(op)
    for user, account in sorted(desired.default_accounts.items()):
        have_default = current.default_accounts.get(user)
        if have_default is not None and have_default != account:
            ops.append(
                Operation(
                    "modify",
                    "user",
                    user,
                    where=(("cluster", cluster),),
                    settings=(("defaultaccount", account),),
                    changes=(Change("defaultaccount", have_default, account),),
                )
            )
    return ops


def _removals(desired: ClusterSpec, current: ClusterSpec) -> list[Operation]:
    """Associations and accounts to delete, inside the managed subtrees only; children
    before parents."""
    cluster = desired.cluster
    ops: list[Operation] = []
    managed = managed_accounts(desired, current)
    for (user, account), _assoc in sorted(current.users.items()):
        if account in managed and (user, account) not in desired.users:
            ops.append(
                Operation(
                    "delete",
                    "user",
                    user,
                    where=(("account", account), ("cluster", cluster)),
                    changes=(Change("association", f"{user}@{account}", ""),),
                )
            )
    doomed = [name for name in managed if name not in desired.accounts]
    for name in sorted(doomed, key=lambda n: (-current.depth(n), n)):
        ops.append(
            Operation(
                "delete",
                "account",
                name,
                where=(("cluster", cluster),),
                changes=(Change("account", name, ""),),
            )
        )
    return ops


# ---- running many operations per sacctmgr call ---------------------------------------------
#
# Each sacctmgr change is one commit in slurmdbd (0.3-2 s at national size), whether it
# comes from its own process or from a line on sacctmgr's standard input. So ``apply``
# (1) runs the commands it must run many to a process (``sacctmgr -i`` reads them from
# stdin, one per line) and merges those that differ only in the name (user associations
# to delete from one account, default accounts to set to one account, usage resets), and
# (2) hands adds and simple changes of accounts and user associations to one
# ``sacctmgr -i load file=...`` (no ``clean``), which adds what is missing and changes what
# differs in one go. QOS changes, parent moves, default-account changes, usage resets and
# deletions cannot go through a load file and stay commands (a load file's QOS list on an
# existing association is merged, not replaced, so QOS changes stay commands as well).

LOAD_KEYS = {
    "description": "Description",
    "organization": "Organization",
    "fairshare": "Fairshare",
    "grptresmins": "GrpTRESMins",
    "grptres": "GrpTRES",
    "qos": "QOS",
    "defaultqos": "DefaultQOS",
    "grpsubmitjobs": "GrpSubmitJobs",
    "grpjobs": "GrpJobs",
    "maxsubmitjobs": "MaxSubmitJobs",
    "defaultaccount": "DefaultAccount",
}
_QUOTED = {"Description", "Organization", "QOS", "DefaultQOS", "DefaultAccount"}
_MODIFY_LOAD_KEYS = frozenset(LOAD_KEYS) - {"qos", "defaultqos", "defaultaccount"}
_PLAIN_VALUE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,=/+-")
# the fewest load-file operations worth a load (one load costs about two commands)
LOAD_MIN_OPERATIONS = 3
COMMANDS_PER_CALL = 200
# operations per load file: one load of the whole national tree (43,000 operations) ran
# 20 minutes and then failed with "Getting response to message type: DBD_ADD_ASSOCS"
# (sacctmgr gave up waiting for slurmdbd); chunks keep each request bounded
LOAD_CHUNK = 4000
NAMES_PER_COMMAND = 100


def _word(key: str, value: str) -> str:
    """``key=value`` for sacctmgr's own line parser (double quotes around spaces)."""
    if value and set(value) <= _PLAIN_VALUE:
        return f"{key}={value}"
    return f'{key}="{value}"'


def command_line(op: Operation) -> str:
    """The operation as one line of ``sacctmgr -i`` standard input."""
    settings = [_word(k, v) for k, v in op.settings]
    where = [_word(k, v) for k, v in op.where]
    if op.action == "add":
        return " ".join(["add", op.entity, op.name, *where, *settings])
    if op.action == "modify":
        return " ".join(["modify", op.entity, "where", f"name={op.name}", *where, "set", *settings])
    return " ".join(["delete", op.entity, "where", f"name={op.name}", *where])


def loadable(op: Operation) -> bool:
    """Whether a ``sacctmgr load`` file can carry this operation (see above)."""
    keys = {k for k, _ in op.settings} - {"cluster", "parent"}
    values = [v for _, v in op.settings] + [op.name]
    if any("'" in v or ":" in v or '"' in v for v in values):
        return False
    where = dict(op.where)
    if op.entity == "account" and op.action == "add":
        return keys <= set(LOAD_KEYS) - {"maxsubmitjobs", "defaultaccount"} and not where
    if op.entity == "user" and op.action == "add":
        return "account" in where and keys <= {"fairshare", "maxsubmitjobs", "defaultaccount"}
    if op.action != "modify" or any(k == "parent" for k, _ in op.settings):
        return False
    if op.entity == "account" and not where:
        return keys <= {"description", "organization"}
    if op.entity == "account" and set(where) == {"cluster"}:
        return keys <= _MODIFY_LOAD_KEYS - {"maxsubmitjobs"}
    if op.entity == "user" and "account" in where:
        return keys <= {"fairshare", "maxsubmitjobs"}
    if op.entity == "user" and set(where) == {"cluster"}:
        # a default account: the load changes it for an existing user (one request, no
        # commit of its own) and leaves the association's own settings alone
        return keys == {"defaultaccount"}
    return False


def _load_options(settings: dict[str, str]) -> str:
    parts = []
    for key, name in LOAD_KEYS.items():
        if key in settings:
            value = settings[key]
            parts.append(f"{name}='{value}'" if name in _QUOTED else f"{name}={value}")
    return "".join(f":{p}" for p in parts)


def load_file(cluster: str, ops: list[Operation], parents: dict[str, str]) -> str:
    """A ``sacctmgr load`` file that adds or changes what ``ops`` add or change (all
    ``loadable``). ``parents``: account -> its parent as the cluster will have it (accounts
    that are not added are written with their current parent). Accounts come in the order
    of ``ops`` (parents first), then users under their accounts; a user that is new gets
    its default account on every line, so whichever line creates it sets it."""
    accounts: dict[str, dict[str, str]] = {}
    users: dict[str, dict[str, dict[str, str]]] = {}
    new_default: dict[str, str] = {}
    for op in ops:
        settings = dict(op.settings)
        if op.entity == "account":
            accounts.setdefault(op.name, {}).update(settings)
        elif "account" not in dict(op.where):
            # a changed default account: on the line of that association (which exists, or
            # is added by this file), with no other setting, so its share and limits stay
            account = settings["defaultaccount"]
            users.setdefault(account, {}).setdefault(op.name, {}).update(settings)
        else:
            account = dict(op.where)["account"]
            users.setdefault(account, {}).setdefault(op.name, {}).update(settings)
            if op.action == "add" and "defaultaccount" in settings:
                new_default[op.name] = settings["defaultaccount"]
    lines = [f"Cluster - '{cluster}'"]
    parent = None
    for name, settings in accounts.items():
        here = settings.get("parent") or parents[name]
        if here != parent:
            lines.append(f"Parent - '{here}'")
            parent = here
        lines.append(f"Account - '{name}'{_load_options(settings)}")
    for account, members in users.items():
        lines.append(f"Parent - '{account}'")
        for user, settings in members.items():
            if user in new_default:
                settings = {**settings, "defaultaccount": new_default[user]}
            lines.append(f"User - '{user}'{_load_options(settings)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Batch:
    """One sacctmgr call: ``kind`` "commands" (``lines`` on stdin, ``line_ops[i]`` the
    operations line ``i`` carries) or "load" (``text`` is the file); ``ops`` in order."""

    kind: str
    ops: tuple[Operation, ...]
    lines: tuple[str, ...] = ()
    line_ops: tuple[tuple[Operation, ...], ...] = ()
    text: str = ""


def _merge_key(op: Operation) -> tuple[object, ...] | None:
    """Operations that one command can do for several names at once: changes with the same
    settings (``modify ... where name=a,b,c ... set ...``: one request to slurmdbd however
    many names) and user associations to delete (see ``_delete_groups``). Adds and account
    deletions are not merged: a merged line runs where its first operation stood, and an
    add may depend on one before it."""
    if op.action == "delete" and op.entity == "user":
        return ("delete-user", op.where)
    if op.action == "modify":
        return ("modify", op.entity, op.where, op.settings)
    return None


def _delete_groups(
    ops: list[Operation], existing: set[tuple[str, str]], names: int = NAMES_PER_COMMAND
) -> list[list[Operation]]:
    """User associations to delete, as few ``delete user where name=u1,u2
    account=a1,a2`` lines as is safe: such a line deletes every pair of the names x accounts
    product, so a group only takes a pair if each new pair of the product is one to delete
    or does not exist (``existing``: the cluster's (user, account) pairs now)."""
    groups: list[tuple[set[str], set[str], set[tuple[str, str]], list[Operation]]] = []
    for op in ops:
        user, account = op.name, dict(op.where)["account"]
        for users, accounts, pairs, members in groups[-8:]:
            if len(users | {user}) > names or len(accounts | {account}) > names:
                continue
            new_pairs = {(user, a) for a in accounts | {account}} | {(u, account) for u in users}
            if all(p in pairs or p == (user, account) or p not in existing for p in new_pairs):
                users.add(user)
                accounts.add(account)
                pairs.add((user, account))
                members.append(op)
                break
        else:
            groups.append(({user}, {account}, {(user, account)}, [op]))
    return [members for *_, members in groups]


def _unit_line(unit: list[Operation]) -> str:
    head = unit[0]
    names = ",".join(dict.fromkeys(op.name for op in unit))
    if head.action == "delete" and head.entity == "user":
        accounts = ",".join(dict.fromkeys(dict(op.where)["account"] for op in unit))
        where = tuple((k, accounts if k == "account" else v) for k, v in head.where)
        return command_line(replace(head, name=names, where=where))
    return command_line(replace(head, name=names))


def _command_batches(
    ops: list[Operation], per_call: int, existing: set[tuple[str, str]] | None = None
) -> list[Batch]:
    groups: dict[tuple[object, ...], list[Operation]] = {}
    units: list[list[Operation]] = []
    deletes: list[Operation] = []
    for op in ops:
        key = _merge_key(op)
        if existing is not None and key is not None and key[0] == "delete-user":
            # merged across accounts below, where the first of them stood
            if not deletes:
                units.append(deletes)
            deletes.append(op)
        elif key is None:
            units.append([op])
        elif key in groups and len(groups[key]) < NAMES_PER_COMMAND:
            groups[key].append(op)
        else:
            groups[key] = [op]
            units.append(groups[key])
    if deletes:
        at = next(i for i, unit in enumerate(units) if unit is deletes)
        units[at : at + 1] = _delete_groups(deletes, existing or set())
    lines = [(_unit_line(unit), tuple(unit)) for unit in units]
    batches = []
    for start in range(0, len(lines), per_call):
        chunk = lines[start : start + per_call]
        batches.append(
            Batch(
                "commands",
                tuple(op for _, unit_ops in chunk for op in unit_ops),
                lines=tuple(line for line, _ in chunk),
                line_ops=tuple(unit_ops for _, unit_ops in chunk),
            )
        )
    return batches


def batches(
    ops: list[Operation],
    cluster: str,
    parents: dict[str, str],
    *,
    use_load: bool = True,
    per_call: int = COMMANDS_PER_CALL,
    load_chunk: int = LOAD_CHUNK,
    existing: set[tuple[str, str]] | None = None,
) -> list[Batch]:
    """The sacctmgr calls that run ``ops`` (in ``diff`` order): QOS commands first, then one
    load file with the loadable operations (when there are at least
    ``LOAD_MIN_OPERATIONS``; at most ``load_chunk`` operations per file), then the other
    commands, many per call. ``existing``: the cluster's (user, account) pairs, which lets
    user associations to delete from different accounts share one line."""
    qos = [op for op in ops if op.entity == "qos"]
    rest = [op for op in ops if op.entity != "qos"]
    if existing is not None:
        # associations this run adds exist by the time the deletions run
        existing = existing | {
            (op.name, dict(op.where)["account"])
            for op in rest
            if op.action == "add" and op.entity == "user" and "account" in dict(op.where)
        }
    to_load = [op for op in rest if loadable(op)] if use_load else []
    if len(to_load) < LOAD_MIN_OPERATIONS:
        to_load = []
    loaded = {id(op) for op in to_load}
    out = _command_batches(qos, per_call)
    # in diff order, so a chunk's parents and new users' default accounts come first
    for start in range(0, len(to_load), load_chunk):
        chunk = to_load[start : start + load_chunk]
        out.append(Batch("load", tuple(chunk), text=load_file(cluster, chunk, parents)))
    out.extend(_command_batches([op for op in rest if id(op) not in loaded], per_call, existing))
    return out
