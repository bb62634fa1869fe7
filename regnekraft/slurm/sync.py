"""plan / apply / reconcile / import: the push direction (platform -> Slurm) and back.

All four work on ``ClusterSpec`` values and a ``Backend`` that can read the cluster's
state and run operations; ``SacctmgrBackend`` uses the command line, and
``regnekraft.slurm.rest`` offers the same for slurmrestd.

Usage resets: ``GrpTRESMins`` is checked against the association's accrued usage, which
(with ``PriorityDecayHalfLife=0``) never shrinks by itself. When a project's allocation
period moves on (``AccountSpec.usage_period``), its usage must start again from zero, or
last period's use would count against this period's grant. Slurm cannot hold that date,
so the bridge remembers, per cluster, the period each account was last reset for
(a ``state.UsagePeriodStore``: the ``UsagePeriod`` table, or a file without a database)
and adds ``RawUsage=0`` operations where
the desired period is later. An account seen for the first time is recorded without a
reset: the bridge may take over a cluster in mid-period, and a new account has no usage.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .diff import Change, Operation, batches, diff, loadable, managed_accounts
from .runner import CommandRunner, SlurmCommandError
from .sacctmgr import Runner, read_cluster
from .spec import AccountSpec, ClusterSpec

logger = logging.getLogger(__name__)


class Backend(Protocol):
    def read(self, cluster: str) -> ClusterSpec: ...

    def execute(self, op: Operation) -> None: ...


# A line of sacctmgr's answer that says the command before it did not do what it asked.
_REFUSED = re.compile(
    r"^\s*(nothing (new )?(added|modified|deleted|changed)|error|sacctmgr: error|unknown |"
    r"invalid|this (account|user|qos|cluster) |no (associations|wckeys|change|qos)|problem |"
    r"request didn't|you |bad |unrecognized|couldn't|can't|cannot|failed|there (is|was) )",
    re.IGNORECASE,
)
_ECHO = "sacctmgr: "


class BatchFailed(Exception):
    """A line of a batch (or a load) failed: ``op`` the first operation it carried,
    ``done`` every operation that did run."""

    def __init__(self, op: Operation, done: Sequence[Operation], cause: SlurmCommandError):
        super().__init__(str(cause))
        self.op, self.done, self.cause = op, list(done), cause


def refused_lines(lines: Sequence[str], output: str) -> dict[int, str]:
    """Which of the command ``lines`` fed to ``sacctmgr -i`` failed (index -> its answer):
    sacctmgr echoes each line it reads as ``sacctmgr: <line>`` before answering it, and a
    line whose echo never came did not run."""
    answers: dict[int, list[str]] = {}
    index = -1
    for text in output.splitlines():
        if index + 1 < len(lines) and text.rstrip() == _ECHO + lines[index + 1].rstrip():
            index += 1
            answers[index] = []
        elif index >= 0:
            answers[index].append(text)
    refused = {}
    for i in range(len(lines)):
        if i not in answers:
            refused[i] = "(not run: sacctmgr stopped before this line)"
            continue
        bad = [t.strip() for t in answers[i] if _REFUSED.match(t.replace(_ECHO, "", 1))]
        if bad:
            refused[i] = " ".join(bad)[-500:]
    return refused


@dataclass
class SacctmgrBackend:
    """Reads with ``sacctmgr show -P`` and writes with ``sacctmgr``: ``execute`` one
    operation per process, ``execute_many`` many per process and a load file for adds and
    simple changes (``use_load``); see ``diff.batches``."""

    run: Runner = field(default_factory=CommandRunner)
    use_load: bool = True
    seconds_per_line: float = 5.0  # added to the runner's timeout per command in a batch

    # What a command line costs and what a load costs. Slurm 22.05's clients pay ~45 ms
    # per message to slurmdbd twice over (header and body in two writes, Nagle against a
    # delayed ACK), about 90 ms per request whatever it does, and a command line makes
    # 3-4 requests (0.27-0.39 s on the test cluster, idle) where slurmdbd and MariaDB use
    # under 5 ms of CPU. A load reads the cluster first (1.2-1.3 times one read of ours)
    # and then sends one request per changed association or user, all in one commit, and
    # one for all associations it adds (~0.1 s per change, idle).
    seconds_per_command: float = 0.35
    seconds_per_loaded: float = 0.1
    load_reads: float = 1.3
    last_read_s: float = field(default=0.0, compare=False)

    def read(self, cluster: str) -> ClusterSpec:
        start = time.perf_counter()
        spec = read_cluster(self.run, cluster)
        self.last_read_s = time.perf_counter() - start
        return spec

    def execute(self, op: Operation) -> None:
        self.run(op.argv())

    def load_pays_off(self, loadable_ops: int) -> bool:
        """Whether one load file beats ``loadable_ops`` commands (from the last read's time)."""
        if not self.use_load:
            return False
        saved = loadable_ops * (self.seconds_per_command - self.seconds_per_loaded)
        return saved > self.load_reads * self.last_read_s + 0.2

    def execute_many(
        self,
        cluster: str,
        ops: Sequence[Operation],
        parents: Mapping[str, str],
        existing: set[tuple[str, str]] | None = None,
    ) -> list[Operation]:
        """Run ``ops`` in as few sacctmgr calls as it can; returns them once all ran, raises
        ``BatchFailed`` at the first call with a failure (later calls do not run).
        ``existing``: the cluster's (user, account) pairs, for merging deletions."""
        feed = getattr(self.run, "feed", None)
        done: list[Operation] = []
        if feed is None:  # a plain runner (tests): one process per operation
            for op in ops:
                try:
                    self.execute(op)
                except SlurmCommandError as exc:
                    raise BatchFailed(op, done, exc) from exc
                done.append(op)
            return done
        base = float(getattr(self.run, "timeout", 120))
        use_load = self.load_pays_off(sum(1 for op in ops if loadable(op)))
        for batch in batches(
            list(ops), cluster, dict(parents), use_load=use_load, existing=existing
        ):
            if batch.kind == "load":
                argv = ["sacctmgr", "--immediate", "load", "file=/dev/stdin"]
                status, output = feed(argv, batch.text, base + len(batch.ops) * 0.5)
                if status != 0:
                    cause = SlurmCommandError(argv, status, output, "")
                    raise BatchFailed(batch.ops[0], done, cause)
                done.extend(batch.ops)
                continue
            argv = ["sacctmgr", "--immediate"]
            text = "".join(line + "\n" for line in batch.lines)
            status, output = feed(argv, text, base + len(batch.lines) * self.seconds_per_line)
            refused = refused_lines(batch.lines, output) if status != 0 else {}
            for i, unit in enumerate(batch.line_ops):
                if i not in refused:
                    done.extend(unit)
            if refused:
                first = min(refused)
                cause = SlurmCommandError(
                    ["sacctmgr", "--immediate", *batch.lines[first].split()],
                    status,
                    refused[first],
                    "",
                )
                raise BatchFailed(batch.line_ops[first][0], done, cause)
        return done


class ApplyError(RuntimeError):
    def __init__(
        self,
        op: Operation,
        done: Sequence[Operation],
        cause: Exception,
        periods: dict[str, str] | None = None,
    ):
        self.op = op
        self.done = list(done)
        self.cause = cause
        self.periods = periods  # usage periods to record: the resets that did run
        super().__init__(f"{op.summary()} failed after {len(done)} operation(s): {cause}")


@dataclass
class SyncResult:
    """What a plan / apply / reconcile saw and did; ``to_dict`` is the JSON form."""

    mode: str
    cluster: str
    operations: list[Operation]
    applied: list[Operation] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    periods: dict[str, str] | None = None  # usage periods to record after an apply

    @property
    def in_sync(self) -> bool:
        return not self.operations

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "cluster": self.cluster,
            "in_sync": self.in_sync,
            "operations": [op.to_dict() for op in self.operations],
            "applied": len(self.applied),
            "unmanaged_accounts": self.unmanaged,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
        }

    def render(self) -> str:
        lines = []
        if self.mode == "reconcile":
            head = (
                "no drift: Slurm matches the platform"
                if self.in_sync
                else f"{len(self.operations)} difference(s) between Slurm and the platform:"
            )
        elif self.in_sync:
            head = "no change: Slurm already matches the desired state"
        else:
            verb = "applied" if self.applied else "would run"
            head = f"{verb} {len(self.operations)} operation(s):"
        lines.append(f"[{self.cluster}] {head}")
        for op in self.operations:
            lines.append(f"  - {op.summary()}")
            lines.append(f"      {op.command()}")
        if self.unmanaged:
            lines.append(
                f"  accounts left alone (not under a managed group): "
                f"{', '.join(sorted(self.unmanaged))}"
            )
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


def _unmanaged(desired: ClusterSpec, current: ClusterSpec) -> list[str]:
    managed = managed_accounts(desired, current)
    return sorted(name for name in current.accounts if name not in managed)


def usage_resets(desired: ClusterSpec, known: Mapping[str, str]) -> list[Operation]:
    """``RawUsage=0`` for each project whose period is later than the one recorded."""
    ops = []
    for acc in sorted(desired.accounts.values(), key=lambda a: a.name):
        before = known.get(acc.name)
        if acc.level == "project" and acc.usage_period and before and acc.usage_period > before:
            ops.append(
                Operation(
                    "modify",
                    "account",
                    acc.name,
                    where=(("cluster", desired.cluster),),
                    settings=(("RawUsage", "0"),),
                    changes=(
                        Change(
                            "usage",
                            f"accrued since {before}",
                            f"0 for the period from {acc.usage_period}",
                        ),
                    ),
                )
            )
    return ops


def periods_after(
    desired: ClusterSpec, known: Mapping[str, str], reset: set[str] | None = None
) -> dict[str, str]:
    """What the usage period store should hold once the resets of the accounts in ``reset`` (None:
    all that were due) are done; first sightings are adopted. An account whose reset did
    not run keeps its old period, so the reset is tried again, and one that ran is never
    repeated."""
    out = dict(known)
    for acc in desired.accounts.values():
        if acc.level != "project" or not acc.usage_period:
            continue
        before = out.get(acc.name)
        if before is None or (acc.usage_period > before and (reset is None or acc.name in reset)):
            out[acc.name] = acc.usage_period
    return out


def plan(
    desired: ClusterSpec, backend: Backend, periods: Mapping[str, str] | None = None
) -> SyncResult:
    """The operations ``apply`` would run; changes nothing. ``periods``: the recorded
    usage periods (``UsagePeriodStore.known``), or None to leave usage alone."""
    result = _planned(desired, backend, periods)
    logger.info("plan for %s: %d operation(s) would run", desired.cluster, len(result.operations))
    return result


def _planned(
    desired: ClusterSpec, backend: Backend, periods: Mapping[str, str] | None
) -> SyncResult:
    current = backend.read(desired.cluster)
    ops = diff(desired, current) + usage_resets(desired, periods or {})
    return SyncResult(
        "plan", desired.cluster, ops, unmanaged=_unmanaged(desired, current), finished=time.time()
    )


def apply(
    desired: ClusterSpec, backend: Backend, periods: Mapping[str, str] | None = None
) -> SyncResult:
    """Make Slurm match ``desired``. Idempotent: a second run finds nothing to do (once
    the caller has recorded ``result.periods``).

    Stops at the first failing operation and raises ``ApplyError`` (what was done
    before it stays done; the next run picks up from the new state)."""
    current = backend.read(desired.cluster)
    ops = diff(desired, current) + usage_resets(desired, periods or {})
    result = SyncResult("apply", desired.cluster, ops, unmanaged=_unmanaged(desired, current))
    if ops:
        logger.info("apply on %s: %d operation(s) to run", desired.cluster, len(ops))
    execute_many = getattr(backend, "execute_many", None)
    if execute_many is not None and ops:
        return _apply_batched(desired, current, ops, execute_many, result, periods)
    for op in ops:
        logger.debug("apply on %s: %s", desired.cluster, op.summary())
        try:
            backend.execute(op)
        except SlurmCommandError as exc:
            logger.warning(
                "apply on %s stopped at %s after %d operation(s): %s",
                desired.cluster,
                op.summary(),
                len(result.applied),
                exc,
            )
            result.error = str(exc)
            done = {o.name for o in result.applied if ("RawUsage", "0") in o.settings}
            raise ApplyError(
                op, result.applied, exc, periods=periods_after(desired, periods or {}, done)
            ) from exc
        result.applied.append(op)
    return _finished(desired, result, periods)


def _finished(
    desired: ClusterSpec, result: SyncResult, periods: Mapping[str, str] | None
) -> SyncResult:
    result.finished = time.time()
    result.periods = periods_after(desired, periods or {})
    resets = sum(1 for op in result.applied if ("RawUsage", "0") in op.settings)
    logger.info(
        "apply on %s: %d operation(s) applied (%d usage reset(s))",
        desired.cluster,
        len(result.applied),
        resets,
    )
    return result


def _takes_existing(function: Any) -> bool:
    try:
        return "existing" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _apply_batched(
    desired: ClusterSpec,
    current: ClusterSpec,
    ops: list[Operation],
    execute_many: Any,
    result: SyncResult,
    periods: Mapping[str, str] | None,
) -> SyncResult:
    """``apply`` through a backend that runs many operations per call."""
    parents = {name: acc.parent for name, acc in current.accounts.items()}
    for name, acc in desired.accounts.items():
        parents.setdefault(name, acc.parent)
    try:
        if _takes_existing(execute_many):
            # pairs that are there or will be (never in a deletion's product)
            existing = set(current.users) | set(desired.users)
            done = execute_many(desired.cluster, ops, parents, existing=existing)
        else:
            done = execute_many(desired.cluster, ops, parents)
        result.applied = list(done)
    except BatchFailed as exc:
        result.applied = exc.done
        logger.warning(
            "apply on %s stopped at %s after %d operation(s): %s",
            desired.cluster,
            exc.op.summary(),
            len(exc.done),
            exc.cause,
        )
        result.error = str(exc.cause)
        done = {o.name for o in exc.done if ("RawUsage", "0") in o.settings}
        raise ApplyError(
            exc.op, exc.done, exc.cause, periods=periods_after(desired, periods or {}, done)
        ) from exc.cause
    return _finished(desired, result, periods)


def reconcile(
    desired: ClusterSpec,
    backend: Backend,
    repair: bool = False,
    periods: Mapping[str, str] | None = None,
) -> SyncResult:
    """Find what was changed by hand in Slurm (drift) and, with ``repair``, undo it."""
    result = apply(desired, backend, periods) if repair else _planned(desired, backend, periods)
    result.mode = "reconcile"
    if result.in_sync:
        logger.info("reconcile on %s: no drift", desired.cluster)
    else:
        logger.warning(
            "reconcile on %s: %d difference(s) between Slurm and the platform%s",
            desired.cluster,
            len(result.operations),
            ", repaired" if repair else "",
        )
    return result


@dataclass
class ImportResult:
    description: dict[str, Any]
    skipped: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "skipped": self.skipped}


def import_cluster(current: ClusterSpec, include_qos: Sequence[str] | None = None) -> ImportResult:
    """A plain description (groups, organisations, projects, users, QOS) of a cluster set
    up by hand, such that ``plan`` with it shows no change.

    Depth under root decides the level: 1 user group, 2 organisation, 3 project. Accounts
    deeper than that, users placed above the project level, and partition associations
    cannot be represented and are listed in ``skipped`` (a plan would then remove them).
    QOS: all but Slurm's own ``normal`` unless ``include_qos`` names them."""
    spec = ClusterSpec(cluster=current.cluster)
    skipped: list[str] = []
    for name, acc in current.accounts.items():
        if acc.level == "other":
            skipped.append(f"account {name} (more than three levels below root)")
            continue
        if acc.level in ("group", "organisation"):
            # only projects carry QOS and limits in the platform's model
            acc = replace(
                acc,
                qos=frozenset(),
                default_qos=None,
                grp_tres_mins={},
                grp_tres={},
                grp_submit_jobs=None,
                grp_jobs=None,
            )
        spec.accounts[name] = acc
        if acc.level != "project" and _had_limits(current.accounts[name]):
            skipped.append(
                f"limits or QOS on {acc.level} account {name} (only projects carry them)"
            )
    for key, assoc in current.users.items():
        account = current.accounts.get(assoc.account)
        if account is not None and account.level == "project":
            spec.users[key] = assoc
        elif assoc.account != "root":
            skipped.append(f"user {assoc.user} in account {assoc.account} (not a project)")
    for user, account in current.default_accounts.items():
        if (user, account) in spec.users:
            spec.default_accounts[user] = account
    wanted = set(include_qos) if include_qos is not None else set(current.qos) - {"normal"}
    spec.qos = {name: q for name, q in current.qos.items() if name in wanted}
    # A project's QOS must be declared; Slurm's "normal" is taken as given.
    for acc in spec.accounts.values():
        for name in acc.qos | ({acc.default_qos} if acc.default_qos else set()):
            if name not in spec.qos and name != "normal" and name in current.qos:
                spec.qos[name] = current.qos[name]
    return ImportResult(description=spec.to_description(), skipped=sorted(skipped))


def _had_limits(acc: AccountSpec) -> bool:
    return bool(
        acc.grp_tres_mins
        or acc.grp_tres
        or acc.grp_submit_jobs is not None
        or acc.grp_jobs is not None
        or (acc.qos - {"normal"})
    )
