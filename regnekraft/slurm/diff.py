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
from dataclasses import dataclass, field

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
