"""``regnekraft slurm plan|apply|reconcile|ingest|import``.

``register(subparsers)`` adds the ``slurm`` command to the platform's CLI; each
sub-subcommand sets ``func(args) -> int``. The desired state comes from a JSON
description (``--desired FILE``, see docs/slurm.md); ``load_desired`` is the one place to
plug in another source (the platform's database).

Exit codes: 0 done / in sync; 3 ``reconcile`` found drift (report mode) or ``ingest``
met accounts that map to no project; 4 Slurm accounting (slurmdbd) unreachable;
1 any other failure; 2 bad arguments or description.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .ingest import DEFAULT_OVERLAP_S, IngestState, ingest, ingest_window
from .rest import RestBackend, RestClient, RestError, RestUnavailable, rest_ingest_window
from .runner import CommandRunner, SlurmCommandError, SlurmdbdUnavailable
from .sacctmgr import parse_dump
from .spec import ClusterSpec, SpecError
from .sync import (
    ApplyError,
    Backend,
    SacctmgrBackend,
    SyncResult,
    UsagePeriods,
    apply,
    import_cluster,
    plan,
    reconcile,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DRIFT, EXIT_DBD_DOWN = 0, 1, 2, 3, 4
STATE_DIR_ENV = "REGNEKRAFT_SLURM_STATE_DIR"


def default_state_dir() -> Path:
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "regnekraft" / "slurm"


def _systems(args: argparse.Namespace):
    """The catalogue systems the bridge manages: ``--cluster`` or every system with CPU or GPU classes."""
    from regnekraft.cli import setup_django

    setup_django()
    from regnekraft.catalog.models import System

    systems = (
        System.objects.filter(resource_classes__kind__in=["cpu", "gpu"]).distinct().order_by("slug")
    )
    if getattr(args, "cluster", None):
        systems = systems.filter(slug=args.cluster)
        if not systems:
            raise SpecError(f"no catalogue system with slug {args.cluster!r}")
    return list(systems)


def load_desired(args: argparse.Namespace) -> list[ClusterSpec]:
    """The desired state per cluster: by default from the platform's database (one cluster per
    catalogue system, see ``adapter.py``); with ``--desired FILE`` from a JSON description (one
    cluster, or ``{"clusters": [...]}``). ``--cluster`` picks one."""
    if not getattr(args, "desired", None):
        systems = _systems(args)  # sets Django up before the adapter's imports
        from .adapter import desired_spec

        return [desired_spec(system) for system in systems]
    data = json.loads(Path(args.desired).read_text())
    items = data["clusters"] if "clusters" in data else [data]
    specs = [ClusterSpec.from_description(item) for item in items]
    if getattr(args, "cluster", None):
        specs = [s for s in specs if s.cluster == args.cluster]
        if not specs:
            raise SpecError(f"cluster {args.cluster!r} is not in {args.desired}")
    return specs


def make_backend(args: argparse.Namespace) -> Backend:
    if getattr(args, "rest_url", None):
        # reads through slurmrestd, writes with sacctmgr (see rest.py for why)
        return RestBackend(_rest_client(args), writer=SacctmgrBackend(make_runner(args)))
    return SacctmgrBackend(make_runner(args))


def _rest_client(args: argparse.Namespace) -> RestClient:
    return RestClient(
        args.rest_url,
        user=args.rest_user,
        token=os.environ.get("SLURM_JWT", ""),
        timeout=float(getattr(args, "timeout", 120)),
    )


def make_runner(args: argparse.Namespace) -> CommandRunner:
    return CommandRunner(
        slurm_conf=getattr(args, "slurm_conf", None), timeout=float(getattr(args, "timeout", 120))
    )


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print(text)


def _record_sync(
    args: argparse.Namespace,
    result: SyncResult | None,
    cluster: str,
    mode: str,
    error: str | None = None,
) -> None:
    """Keep the last run per cluster and mode where operators (and the API) can see it."""
    path = Path(args.state_dir) / "sync-status.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    entry = {
        "last_run": time.time(),
        "error": error,
        "changes": len(result.operations) if result else None,
        "applied": len(result.applied) if result else 0,
        "operations": [op.summary() for op in result.operations] if result else [],
    }
    data.setdefault(cluster, {})[mode] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)
    _record_in_database(
        args,
        cluster,
        mode,
        ok=error is None,
        changes=entry["changes"] or 0,
        applied=entry["applied"],
        error=error or "",
        details={"operations": entry["operations"]},
    )


def _record_in_database(args: argparse.Namespace, cluster: str, mode: str, **fields: Any) -> None:
    """When the platform's database is the source (no ``--desired``; ingest with ``--store``),
    keep the run there too (admin, API, portal)."""
    from django.apps import apps

    in_database = (
        getattr(args, "store", False) if mode == "ingest" else not getattr(args, "desired", None)
    )
    if not (in_database and apps.ready):
        return
    from .models import record

    record(cluster, mode, **fields)


def _sync_command(mode: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            specs = load_desired(args)
        except (SpecError, OSError, json.JSONDecodeError, KeyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        backend = make_backend(args)
        usage_periods = UsagePeriods(Path(args.state_dir) / "usage-periods.json")
        outputs, status = [], EXIT_OK
        for spec in specs:
            known = usage_periods.known(spec.cluster)
            try:
                if mode == "plan":
                    result = plan(spec, backend, known)
                elif mode == "apply":
                    result = apply(spec, backend, known)
                else:
                    result = reconcile(spec, backend, repair=args.repair, periods=known)
            except (ApplyError, SlurmCommandError, RestError) as exc:
                if isinstance(exc, ApplyError) and exc.periods is not None:
                    usage_periods.record(
                        spec.cluster, exc.periods
                    )  # resets that ran are not repeated
                _record_sync(args, None, spec.cluster, mode, str(exc))
                print(f"error [{spec.cluster}]: {exc}", file=sys.stderr)
                cause = exc.cause if isinstance(exc, ApplyError) else exc
                down = isinstance(cause, SlurmdbdUnavailable | RestUnavailable)
                status = max(status, EXIT_DBD_DOWN if down else EXIT_ERROR)
                continue
            if result.periods is not None:
                usage_periods.record(spec.cluster, result.periods)
            _record_sync(args, result, spec.cluster, mode)
            outputs.append(result)
            if mode == "reconcile" and not args.repair and not result.in_sync:
                status = max(status, EXIT_DRIFT)
        _emit(args, [r.to_dict() for r in outputs], "\n".join(r.render() for r in outputs))
        return status

    return run


def cmd_import(args: argparse.Namespace) -> int:
    try:
        if args.dump:
            current = parse_dump(Path(args.dump).read_text())
            if args.cluster:
                current.cluster = args.cluster
            from .sacctmgr import read_qos

            if not args.no_qos:
                current.qos = read_qos(make_runner(args))
        else:
            if not args.cluster:
                print("error: --cluster is required without --dump", file=sys.stderr)
                return EXIT_USAGE
            current = make_backend(args).read(args.cluster)
    except (SlurmdbdUnavailable, RestUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DBD_DOWN
    except (SlurmCommandError, RestError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    result = import_cluster(current)
    if args.output:
        Path(args.output).write_text(json.dumps(result.description, indent=2) + "\n")
    text = json.dumps(result.description, indent=2)
    if result.skipped:
        text += "\n# not imported:\n" + "\n".join(f"#  {s}" for s in result.skipped)
    _emit(args, result.to_dict(), text)
    return EXIT_OK


def _account_map(args: argparse.Namespace) -> dict[str, str] | None:
    if args.account_map:
        return {str(k): str(v) for k, v in json.loads(Path(args.account_map).read_text()).items()}
    if getattr(args, "desired", None):
        mapping: dict[str, str] = {}
        for spec in load_desired(args):
            mapping.update(
                {name: name for name, acc in spec.accounts.items() if acc.level == "project"}
            )
        return mapping
    if getattr(args, "store", False):
        system = _systems(args)[0]
        from .adapter import account_map

        return account_map(system)
    return None


def _store(args: argparse.Namespace, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Import the finished jobs' usage into the platform (idempotent, rated, balances updated)."""
    system = _systems(args)[0]
    from regnekraft.accounting.importer import import_records

    from .adapter import usage_records

    result = import_records(
        usage_records(system, records), source="slurm", filename=f"sacct {system.slug}"
    )
    return {
        "new": result.new,
        "duplicate": result.duplicate,
        "unallocated": result.unallocated,
        "balance_events": result.balance_events,
    }


def cmd_ingest(args: argparse.Namespace) -> int:
    if args.store is None:
        args.store = not (args.desired or args.account_map or args.output)
    try:
        account_map = _account_map(args)
    except (SpecError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    runner = make_runner(args)
    state: IngestState | None = None
    reader = None
    if args.rest_url:
        client = _rest_client(args)

        def reader(start: int, end: int) -> Any:
            return rest_ingest_window(client, args.cluster, start, end, account_map)

    try:
        if args.start is not None and reader is not None:
            result = reader(args.start, args.end if args.end is not None else int(time.time()))
        elif args.start is not None:
            end = args.end if args.end is not None else int(time.time())
            result = ingest_window(
                runner, args.cluster, args.start, end, account_map, use_json=args.sacct_json
            )
        else:
            state = IngestState(
                Path(args.state) if args.state else Path(args.state_dir) / "ingest.json"
            )
            previous = state.watermark(args.cluster)
            result = ingest(
                runner,
                args.cluster,
                state,
                account_map=account_map,
                overlap_s=int(args.overlap_hours * 3600),
                use_json=args.sacct_json,
                reader=reader,
            )
    except SlurmdbdUnavailable as exc:
        _record_in_database(args, args.cluster, "ingest", ok=False, error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DBD_DOWN
    except RestUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DBD_DOWN
    except (SlurmCommandError, RestError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.output:
        with open(args.output, "w") as handle:
            for record in result.records:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
    data, text = result.to_dict(), result.render()
    if args.store:
        from django.core.exceptions import ValidationError

        try:
            data["stored"] = _store(args, result.records)
        except ValidationError as exc:
            if state is not None:  # not stored, so the next run must read this window again
                state.save(
                    args.cluster, ingested_up_to=previous, last_error=f"not stored: {exc.messages}"
                )
            _record_in_database(
                args, args.cluster, "ingest", ok=False, error="; ".join(exc.messages)
            )
            print(f"error: usage not stored: {'; '.join(exc.messages)}", file=sys.stderr)
            return EXIT_ERROR
        text += (
            f"\n  stored in the platform: {data['stored']['new']} new, "
            f"{data['stored']['duplicate']} already there, {data['stored']['unallocated']} unallocated"
        )
        _record_in_database(
            args,
            args.cluster,
            "ingest",
            ok=True,
            changes=len(result.records),
            applied=data["stored"]["new"],
            details={"unknown_accounts": result.unknown_accounts},
        )
    _emit(args, data, text)
    return EXIT_DRIFT if result.unknown_accounts and args.strict else EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``slurm`` with plan / apply / reconcile / ingest / import to a CLI."""
    parser = subparsers.add_parser("slurm", help="push allocations to Slurm, pull usage back")
    sub = parser.add_subparsers(dest="slurm_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--slurm-conf", help="slurm.conf for the Slurm clients (SLURM_CONF)")
        p.add_argument(
            "--timeout",
            type=float,
            default=120,
            help="seconds to wait for one Slurm command (default 120)",
        )
        p.add_argument(
            "--state-dir",
            default=str(default_state_dir()),
            help=f"where sync status and the ingest watermark live (${STATE_DIR_ENV})",
        )

    def rest(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rest-url", help="use slurmrestd at this URL instead of sacctmgr")
        p.add_argument(
            "--rest-user",
            default=os.environ.get("SLURM_USER", "slurm"),
            help="X-SLURM-USER-NAME for slurmrestd (token from $SLURM_JWT)",
        )

    for mode, text in (
        ("plan", "show the sacctmgr operations that would run; change nothing"),
        ("apply", "make Slurm match the desired state (idempotent)"),
        ("reconcile", "report changes made by hand in Slurm; --repair undoes them"),
    ):
        p = sub.add_parser(mode, help=text, description=text)
        common(p)
        rest(p)
        p.add_argument(
            "--desired",
            help="JSON description of the desired state "
            "(default: the platform's database, one cluster per catalogue system)",
        )
        p.add_argument("--cluster", help="only this cluster (a catalogue system's slug)")
        if mode == "reconcile":
            p.add_argument("--repair", action="store_true", help="apply the repairs")
        p.set_defaults(func=_sync_command(mode))

    p = sub.add_parser(
        "import",
        help="describe a cluster set up by hand (organisations, "
        "projects, users) as a desired-state description",
    )
    common(p)
    rest(p)
    p.add_argument("--cluster", help="cluster name in Slurm accounting")
    p.add_argument("--dump", help="read a `sacctmgr dump` file instead of asking Slurm")
    p.add_argument("--no-qos", action="store_true", help="with --dump: do not read QOS from Slurm")
    p.add_argument("--output", help="write the description to this file")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("ingest", help="usage records from sacct since the last run")
    common(p)
    rest(p)
    p.add_argument("--cluster", required=True)
    p.add_argument("--state", help="watermark file (default <state-dir>/ingest.json)")
    p.add_argument(
        "--overlap-hours",
        type=float,
        default=DEFAULT_OVERLAP_S / 3600,
        help="re-read this much before the watermark (default 6)",
    )
    p.add_argument("--start", type=int, help="explicit window start (epoch s); no watermark")
    p.add_argument("--end", type=int, help="explicit window end (epoch s, default now)")
    p.add_argument(
        "--sacct-json", action="store_true", help="read sacct --json instead of --parsable2"
    )
    p.add_argument(
        "--account-map", help="JSON {slurm account: project} (default: the projects of --desired)"
    )
    p.add_argument("--desired", help="JSON description; its projects map accounts")
    p.add_argument("--output", help="write the records as JSON lines to this file")
    p.add_argument(
        "--store",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="import finished jobs' usage into the platform (default: on unless "
        "--desired, --account-map or --output is given)",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 3 when an account maps to no project"
    )
    p.set_defaults(func=cmd_ingest)


def main(argv: list[str] | None = None) -> int:
    """Run the slurm commands on their own: ``python -m regnekraft.slurm.command plan ...``."""
    parser = argparse.ArgumentParser(prog="regnekraft")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["slurm", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
