"""``regnekraft slurm plan|apply|reconcile|ingest|import``: the Slurm bridge.

The desired state comes from the platform's database (one cluster per catalogue system) or a
JSON description (``--desired FILE``, see docs/slurm.md). Exit codes: 0 done / in sync;
3 ``reconcile`` found drift (report mode) or ``ingest`` met accounts that map to no project;
4 Slurm accounting (slurmdbd) unreachable; 1 any other failure; 2 bad arguments or description.

On the platform's database, each run is kept as a ``SyncRun`` and the ingest watermark and the
usage periods are tables (docs/slurm.md); ``--state-dir`` then only locates the connections
file. A run from ``--desired`` (or an ingest into a file) works without the database and keeps
that state in files in ``--state-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from regnekraft.slurm.ingest import DEFAULT_OVERLAP_S, DEFAULT_WINDOW_S
from regnekraft.slurm.service import (
    CONNECTIONS_FILE,
    EXIT_DBD_DOWN,
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    STATE_DIR_ENV,
    RunFailed,
    SlurmAccess,
    UsageRequest,
    default_state_dir,
    describe_cluster,
    load_connections,
    run_sync,
)

from .output import Command, emit

__all__ = ["EXIT_DBD_DOWN", "EXIT_DRIFT", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "main"]


def _access(args: argparse.Namespace) -> SlurmAccess:
    return SlurmAccess(
        slurm_conf=getattr(args, "slurm_conf", None),
        timeout=float(getattr(args, "timeout", 120)),
        rest_url=getattr(args, "rest_url", None),
        rest_user=getattr(args, "rest_user", "slurm"),
    )


def _failed(exc: RunFailed) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return exc.status


def sync_command(mode: str) -> Command:
    def run(args: argparse.Namespace) -> int:
        desired = getattr(args, "desired", None)
        if not desired:
            from regnekraft.bootstrap import setup_django

            setup_django()
        try:
            connections = None
            if getattr(args, "all", False):
                if getattr(args, "cluster", None):
                    raise RunFailed("give either --all or --cluster, not both", EXIT_USAGE)
                path = args.connections or str(Path(args.state_dir) / CONNECTIONS_FILE)
                connections = load_connections(path, _access(args))
            outcome = run_sync(
                mode,
                access=_access(args),
                state_dir=args.state_dir,
                desired=desired,
                cluster=getattr(args, "cluster", None),
                repair=getattr(args, "repair", False),
                connections=connections,
            )
        except RunFailed as exc:
            return _failed(exc)
        for cluster in outcome.skipped:
            print(f"skipped [{cluster}]: no Slurm connection configured", file=sys.stderr)
        for cluster, error in outcome.errors.items():
            print(f"error [{cluster}]: {error}", file=sys.stderr)
        results = outcome.results
        emit(
            args,
            [r.to_dict() for r in results],
            "\n".join(r.render() for r in results),
            sort_keys=True,
        )
        return outcome.status

    return run


def cmd_import(args: argparse.Namespace) -> int:
    try:
        result = describe_cluster(
            _access(args), cluster=args.cluster, dump=args.dump, with_qos=not args.no_qos
        )
    except RunFailed as exc:
        return _failed(exc)
    if args.output:
        Path(args.output).write_text(json.dumps(result.description, indent=2) + "\n")
    text = json.dumps(result.description, indent=2)
    if result.skipped:
        text += "\n# not imported:\n" + "\n".join(f"#  {s}" for s in result.skipped)
    emit(args, result.to_dict(), text, sort_keys=True)
    return EXIT_OK


def _usage_request(args: argparse.Namespace) -> UsageRequest:
    return UsageRequest(
        cluster=args.cluster,
        start=args.start,
        end=args.end,
        state_file=args.state,
        overlap_s=int(args.overlap_hours * 3600),
        sacct_json=args.sacct_json,
        window_s=int(args.window_hours * 3600),
        account_map_file=args.account_map,
        desired=args.desired,
        output=args.output,
        store=args.store,
        strict=args.strict,
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    request = _usage_request(args)
    if request.stores():
        from regnekraft.bootstrap import setup_django

        setup_django()
    from regnekraft.accounting.slurm_usage import run_ingest

    try:
        outcome = run_ingest(request, access=_access(args), state_dir=args.state_dir)
    except RunFailed as exc:
        return _failed(exc)
    data, text = outcome.result.to_dict(), outcome.result.render()
    if outcome.stored is not None:
        data["stored"] = stored = outcome.stored
        text += (
            f"\n  stored in the platform: {stored['new']} new, "
            f"{stored['duplicate']} already there, {stored['unallocated']} unallocated"
        )
    emit(args, data, text, sort_keys=True)
    return outcome.status


# --- parser -------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
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
        help=f"the Slurm state folder: the connections file, and the ingest watermark and usage "
        f"periods of runs without the platform's database (${STATE_DIR_ENV})",
    )
    p.add_argument("--rest-url", help="use slurmrestd at this URL instead of sacctmgr")
    p.add_argument(
        "--rest-user",
        default=os.environ.get("SLURM_USER", "slurm"),
        help="X-SLURM-USER-NAME for slurmrestd (token from $SLURM_JWT)",
    )


def _register_sync(sub: Any) -> None:
    for mode, text in (
        ("plan", "show the sacctmgr operations that would run; change nothing"),
        ("apply", "make Slurm match the desired state (idempotent)"),
        ("reconcile", "report changes made by hand in Slurm; --repair undoes them"),
    ):
        p = sub.add_parser(mode, help=text, description=text)
        _common(p)
        p.add_argument(
            "--desired",
            help="JSON description of the desired state "
            "(default: the platform's database, one cluster per catalogue system)",
        )
        p.add_argument("--cluster", help="only this cluster (a catalogue system's slug)")
        p.add_argument(
            "--all",
            action="store_true",
            help="every cluster that has a Slurm connection configured (--connections)",
        )
        p.add_argument(
            "--connections",
            help=f"JSON cluster -> connection for --all (default <state-dir>/{CONNECTIONS_FILE})",
        )
        if mode == "reconcile":
            p.add_argument("--repair", action="store_true", help="apply the repairs")
        p.set_defaults(func=sync_command(mode))


def _register_import(sub: Any) -> None:
    p = sub.add_parser(
        "import",
        help="describe a cluster set up by hand (organisations, "
        "projects, users) as a desired-state description",
    )
    _common(p)
    p.add_argument("--cluster", help="cluster name in Slurm accounting")
    p.add_argument("--dump", help="read a `sacctmgr dump` file instead of asking Slurm")
    p.add_argument("--no-qos", action="store_true", help="with --dump: do not read QOS from Slurm")
    p.add_argument("--output", help="write the description to this file")
    p.set_defaults(func=cmd_import)


def _register_ingest(sub: Any) -> None:
    p = sub.add_parser("ingest", help="usage records from sacct since the last run")
    _common(p)
    p.add_argument("--cluster", required=True)
    p.add_argument(
        "--state",
        help="an ingest.json watermark file: with the platform's database, taken over for "
        "clusters that have no watermark there yet; without it, the file to use "
        "(default <state-dir>/ingest.json)",
    )
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
        "--window-hours",
        type=float,
        default=DEFAULT_WINDOW_S / 3600,
        help="read sacct this many hours at a time, streamed (default 6)",
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


def register(subparsers: Any) -> None:
    """Add ``slurm`` with plan / apply / reconcile / ingest / import."""
    parser = subparsers.add_parser("slurm", help="push allocations to Slurm, pull usage back")
    sub = parser.add_subparsers(dest="slurm_command", required=True)
    _register_sync(sub)
    _register_import(sub)
    _register_ingest(sub)


def main(argv: list[str] | None = None) -> int:
    """``regnekraft slurm`` alone: ``main(["plan", "--desired", FILE])``."""
    from regnekraft.cli import run_group

    return run_group("slurm", argv)
