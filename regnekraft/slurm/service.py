"""Runs of the Slurm bridge, as the command line (and any other interface) starts them: plan,
apply or reconcile a cluster against the desired state, describe a cluster set up by hand,
and read usage back from sacct.

With Django set up (the CLI on the platform's database, the worker, the tests) each run is
kept as a :class:`~regnekraft.slurm.models.SyncRun` (admin, API, portal), and the ingest
watermark and the usage periods live in the database (``stores.py``); without it (a run from
a JSON description) they live in files in the state folder (``state.py``) and the run's
outcome is what it prints. Storing the usage read here is accounting's part
(``regnekraft.accounting.slurm_usage``).

Only the database-backed paths need Django (set up by the caller); a run from a JSON
description works without it. Statuses: 0 done / in sync; 3 drift found (report mode) or
accounts that map to no project; 4 Slurm accounting (slurmdbd) unreachable; 1 any other
failure; 2 a bad description or request.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ingest import (
    DEFAULT_OVERLAP_S,
    DEFAULT_WINDOW_S,
    IngestResult,
    ingest,
    ingest_window,
)
from .rest import RestBackend, RestClient, RestError, RestUnavailable, rest_ingest_window
from .runner import CommandRunner, SlurmCommandError, SlurmdbdUnavailable
from .sacctmgr import parse_dump, read_qos
from .spec import ClusterSpec, SpecError
from .state import (  # STATE_DIR_ENV and default_state_dir: for the CLI and the worker
    STATE_DIR_ENV,  # noqa: F401
    WatermarkStore,
    default_state_dir,  # noqa: F401
    django_ready,
    usage_period_store,
    watermark_store,
)
from .sync import (
    ApplyError,
    Backend,
    ImportResult,
    SacctmgrBackend,
    SyncResult,
    apply,
    import_cluster,
    plan,
    reconcile,
)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DRIFT, EXIT_DBD_DOWN = 0, 1, 2, 3, 4
SYNC_MODES = ("plan", "apply", "reconcile")


class RunFailed(Exception):
    """The run could not be done; ``status`` is one of the statuses above."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SlurmAccess:
    """How to reach Slurm: its command-line clients, and slurmrestd for reads if ``rest_url``."""

    slurm_conf: str | None = None
    timeout: float = 120
    rest_url: str | None = None
    rest_user: str = "slurm"
    token: str = field(default_factory=lambda: os.environ.get("SLURM_JWT", ""), repr=False)

    ssh: str | None = None  # run the Slurm clients on this host (``ssh <host> sacctmgr ...``)

    def runner(self) -> CommandRunner:
        prefix = ["ssh", "-o", "BatchMode=yes", self.ssh] if self.ssh else []
        return CommandRunner(slurm_conf=self.slurm_conf, timeout=float(self.timeout), prefix=prefix)

    def rest_client(self) -> RestClient:
        assert self.rest_url
        return RestClient(
            self.rest_url, user=self.rest_user, token=self.token, timeout=float(self.timeout)
        )

    def backend(self) -> Backend:
        if self.rest_url:
            # reads through slurmrestd, writes with sacctmgr (see rest.py for why)
            return RestBackend(self.rest_client(), writer=SacctmgrBackend(self.runner()))
        return SacctmgrBackend(self.runner())


def require_operator(actor: Any, action: str) -> None:
    """A person acting through the web must be an operator; ``None`` is the platform itself."""
    if actor is None:
        return
    from regnekraft.parties.actors import require_role
    from regnekraft.parties.models import RoleKind

    require_role(actor, RoleKind.OPERATOR, action=action)


CONNECTIONS_FILE = "connections.json"


def load_connections(path: str | Path, defaults: SlurmAccess) -> dict[str, SlurmAccess]:
    """Cluster -> how to reach its Slurm, from a JSON file ``{"<cluster>": {"slurm_conf":
    ..., "ssh": "admin@host", "rest_url": ..., "rest_user": ..., "timeout": ...}}`` (keys
    left out take ``defaults``). Raises :class:`RunFailed` (status 2) when it cannot be read."""
    try:
        raw = json.loads(Path(path).read_text())
        if not isinstance(raw, dict):
            raise ValueError("the file must hold one object: cluster -> connection")
        out = {}
        for cluster, item in raw.items():
            item = dict(item or {})
            unknown = set(item) - {"slurm_conf", "ssh", "rest_url", "rest_user", "timeout"}
            if unknown:
                raise ValueError(f"{cluster}: unknown key(s) {', '.join(sorted(unknown))}")
            out[str(cluster)] = SlurmAccess(
                slurm_conf=item.get("slurm_conf", defaults.slurm_conf),
                timeout=float(item.get("timeout", defaults.timeout)),
                rest_url=item.get("rest_url", defaults.rest_url),
                rest_user=item.get("rest_user", defaults.rest_user),
                ssh=item.get("ssh", defaults.ssh),
            )
        return out
    except FileNotFoundError as exc:
        raise RunFailed(
            f"no Slurm connections configured: {path} does not exist (it maps each catalogue "
            'system to its Slurm, e.g. {"saga": {"ssh": "slurm-admin@saga-login"}}; see '
            "docs/slurm.md)",
            EXIT_USAGE,
        ) from exc
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise RunFailed(f"{path}: {exc}", EXIT_USAGE) from exc


# --- the desired state --------------------------------------------------------------------


def catalogue_systems(cluster: str | None = None) -> list[Any]:
    """The catalogue systems the bridge manages: ``cluster`` or every system with CPU or GPU
    classes (Django must be set up)."""
    from regnekraft.catalog.models import System

    systems = (
        System.objects.filter(resource_classes__kind__in=["cpu", "gpu"]).distinct().order_by("slug")
    )
    if cluster:
        systems = systems.filter(slug=cluster)
        if not systems:
            raise SpecError(f"no catalogue system with slug {cluster!r}")
    return list(systems)


def load_desired(desired: str | Path | None, cluster: str | None = None) -> list[ClusterSpec]:
    """The desired state per cluster: by default from the platform's database (one cluster per
    catalogue system, see ``adapter.py``); from a JSON description file ``desired`` (one
    cluster, or ``{"clusters": [...]}``) otherwise. ``cluster`` picks one."""
    if not desired:
        systems = catalogue_systems(cluster)
        from .adapter import desired_spec

        return [desired_spec(system) for system in systems]
    data = json.loads(Path(desired).read_text())
    items = data["clusters"] if "clusters" in data else [data]
    specs = [ClusterSpec.from_description(item) for item in items]
    if cluster:
        specs = [s for s in specs if s.cluster == cluster]
        if not specs:
            raise SpecError(f"cluster {cluster!r} is not in {desired}")
    return specs


# --- what each run did --------------------------------------------------------------------


def record_run(cluster: str, mode: str, *, in_database: bool = True, **fields: Any) -> None:
    """Keep a run in the platform's database (admin, API, portal) when Django is set up."""
    if not (in_database and django_ready()):
        return
    from .models import record

    record(cluster, mode, **fields)


def _record_sync(
    result: SyncResult | None,
    cluster: str,
    mode: str,
    *,
    desired: str | Path | None,
    error: str | None = None,
) -> None:
    """Keep the run per cluster and mode where operators (and the API) can see it."""
    details: dict[str, Any] = {
        "operations": [op.summary() for op in result.operations] if result else []
    }
    if desired:
        details["desired"] = str(desired)
    record_run(
        cluster,
        mode,
        ok=error is None,
        changes=len(result.operations) if result else 0,
        applied=len(result.applied) if result else 0,
        error=error or "",
        details=details,
    )


# --- plan, apply, reconcile ---------------------------------------------------------------


@dataclass
class SyncOutcome:
    """The clusters that ran (``results``) and those that failed (``errors``: cluster ->
    message); ``status`` is the worst of them."""

    results: list[SyncResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    status: int = EXIT_OK
    skipped: list[str] = field(default_factory=list)  # --all: clusters with no connection


def _sync_one(mode: str, spec: ClusterSpec, backend: Backend, known, repair: bool) -> SyncResult:
    if mode == "plan":
        return plan(spec, backend, known)
    if mode == "apply":
        return apply(spec, backend, known)
    return reconcile(spec, backend, repair=repair, periods=known)


def run_sync(
    mode: str,
    *,
    access: SlurmAccess,
    state_dir: str | Path,
    desired: str | Path | None = None,
    cluster: str | None = None,
    repair: bool = False,
    actor: Any = None,
    connections: Mapping[str, SlurmAccess] | None = None,
) -> SyncOutcome:
    """Plan, apply or reconcile (``repair``: undo changes made by hand) every cluster of the
    desired state: the database's (``desired`` None) or a JSON description's. With
    ``connections`` (``--all``) each cluster is reached its own way, and those without a
    connection are skipped (``outcome.skipped``). Raises :class:`RunFailed` (status 2) when
    the desired state cannot be read."""
    if mode not in SYNC_MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(SYNC_MODES)}")
    require_operator(actor, f"run the Slurm bridge ({mode})")
    try:
        specs = load_desired(desired, cluster)
    except (SpecError, OSError, json.JSONDecodeError, KeyError) as exc:
        raise RunFailed(str(exc), EXIT_USAGE) from exc
    backend = access.backend()
    usage_periods = usage_period_store(state_dir)
    outcome = SyncOutcome()
    for spec in specs:
        if connections is not None:
            if spec.cluster not in connections:
                outcome.skipped.append(spec.cluster)
                continue
            backend = connections[spec.cluster].backend()
        known = usage_periods.known(spec.cluster)
        try:
            result = _sync_one(mode, spec, backend, known, repair)
        except (ApplyError, SlurmCommandError, RestError) as exc:
            if isinstance(exc, ApplyError) and exc.periods is not None:
                usage_periods.record(spec.cluster, exc.periods)  # resets that ran are not repeated
            _record_sync(None, spec.cluster, mode, desired=desired, error=str(exc))
            outcome.errors[spec.cluster] = str(exc)
            cause = exc.cause if isinstance(exc, ApplyError) else exc
            down = isinstance(cause, SlurmdbdUnavailable | RestUnavailable)
            outcome.status = max(outcome.status, EXIT_DBD_DOWN if down else EXIT_ERROR)
            continue
        if result.periods is not None:
            usage_periods.record(spec.cluster, result.periods)
        _record_sync(result, spec.cluster, mode, desired=desired)
        outcome.results.append(result)
        if mode == "reconcile" and not repair and not result.in_sync:
            outcome.status = max(outcome.status, EXIT_DRIFT)
    return outcome


# --- a cluster set up by hand -------------------------------------------------------------


def describe_cluster(
    access: SlurmAccess,
    *,
    cluster: str | None = None,
    dump: str | Path | None = None,
    with_qos: bool = True,
) -> ImportResult:
    """A desired-state description of what Slurm (or a ``sacctmgr dump`` file) holds."""
    try:
        if dump:
            current = parse_dump(Path(dump).read_text())
            if cluster:
                current.cluster = cluster
            if with_qos:
                current.qos = read_qos(access.runner())
        else:
            if not cluster:
                raise RunFailed("--cluster is required without --dump", EXIT_USAGE)
            current = access.backend().read(cluster)
    except (SlurmdbdUnavailable, RestUnavailable) as exc:
        raise RunFailed(str(exc), EXIT_DBD_DOWN) from exc
    except (SlurmCommandError, RestError, OSError) as exc:
        raise RunFailed(str(exc), EXIT_ERROR) from exc
    return import_cluster(current)


# --- usage from sacct ---------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRequest:
    """Which usage to read: an explicit window (epoch seconds), or from the cluster's
    watermark less ``overlap_s`` up to now. The watermark is the database's when Django is
    set up (``state_file``, an old ``ingest.json``, is then taken over once for clusters the
    database has none for); without Django it is ``state_file`` (default
    ``<state dir>/ingest.json``)."""

    cluster: str
    start: int | None = None
    end: int | None = None
    state_file: str | Path | None = None
    overlap_s: int = DEFAULT_OVERLAP_S
    sacct_json: bool = False
    window_s: int = DEFAULT_WINDOW_S  # sacct is read this much at a time, streamed
    account_map_file: str | Path | None = None
    desired: str | Path | None = None
    output: str | Path | None = None
    store: bool | None = None
    strict: bool = False

    def stores(self) -> bool:
        """Into the platform's usage, unless told or given another source for the accounts."""
        if self.store is not None:
            return self.store
        return not (self.desired or self.account_map_file or self.output)


@dataclass
class UsageRead:
    result: IngestResult
    # the watermark store, when the run reads from it: moved by the read unless the usage is
    # stored, then moved by the caller with the usage (``regnekraft.accounting.slurm_usage``)
    state: WatermarkStore | None = None
    previous: int | None = None  # the watermark before the run


def account_map(request: UsageRequest) -> dict[str, str] | None:
    """Slurm account -> project: from a JSON file, the projects of a description, or the
    catalogue system's projects when the usage is stored; None keeps accounts as they are."""
    try:
        if request.account_map_file:
            raw = json.loads(Path(request.account_map_file).read_text())
            return {str(k): str(v) for k, v in raw.items()}
        if request.desired:
            mapping: dict[str, str] = {}
            for spec in load_desired(request.desired, request.cluster):
                mapping.update(
                    {name: name for name, acc in spec.accounts.items() if acc.level == "project"}
                )
            return mapping
        if request.stores():
            system = catalogue_systems(request.cluster)[0]
            from .adapter import account_map as system_account_map

            return system_account_map(system)
    except (SpecError, OSError, json.JSONDecodeError) as exc:
        raise RunFailed(str(exc), EXIT_USAGE) from exc
    return None


def _read(
    access: SlurmAccess, state_dir: Path, request: UsageRequest, mapping: Mapping[str, str] | None
) -> UsageRead:
    runner = access.runner()
    reader = None
    if access.rest_url:
        client = access.rest_client()

        def reader(start: int, end: int) -> Any:
            return rest_ingest_window(client, request.cluster, start, end, mapping)

    if request.start is not None:
        end = request.end if request.end is not None else int(time.time())
        if reader is not None:
            return UsageRead(reader(request.start, end))
        window = ingest_window(
            runner,
            request.cluster,
            request.start,
            end,
            mapping,
            use_json=request.sacct_json,
            window_s=request.window_s,
        )
        return UsageRead(window)
    state = watermark_store(state_dir, request.state_file)
    if request.state_file and django_ready():
        from .stores import import_watermark_file

        try:
            taken = import_watermark_file(request.state_file)
        except ValueError as exc:
            raise RunFailed(str(exc), EXIT_USAGE) from exc
        logger.info(
            "--state %s: watermark(s) taken into the database for %s",
            request.state_file,
            ", ".join(taken) or "no cluster (the database has them already)",
        )
    previous = state.watermark(request.cluster)
    result = ingest(
        runner,
        request.cluster,
        state,
        account_map=mapping,
        overlap_s=request.overlap_s,
        use_json=request.sacct_json,
        reader=reader,
        window_s=request.window_s,
        advance=not request.stores(),
    )
    return UsageRead(result, state, previous)


def read_usage(
    access: SlurmAccess,
    state_dir: str | Path,
    request: UsageRequest,
    mapping: Mapping[str, str] | None,
) -> UsageRead:
    """The usage records of jobs in the window; raises :class:`RunFailed` when Slurm cannot be
    read (the watermark stays). With ``--output`` the records are written as JSON lines."""
    try:
        read = _read(access, Path(state_dir), request, mapping)
    except (SlurmdbdUnavailable, RestUnavailable, SlurmCommandError, RestError, ValueError) as exc:
        record_run(
            request.cluster, "ingest", in_database=request.stores(), ok=False, error=str(exc)
        )
        down = isinstance(exc, SlurmdbdUnavailable | RestUnavailable)
        raise RunFailed(str(exc), EXIT_DBD_DOWN if down else EXIT_ERROR) from exc
    if request.output:
        with open(request.output, "w") as handle:
            for record in read.result.records:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
    return read
