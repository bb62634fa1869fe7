"""``regnekraft backup OUT`` and ``regnekraft restore IN``: the whole platform, which is its
database (regnekraft/ops/backup.py, docs/operations.md). Operators only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .output import actor, add_command, emit


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _text(d: dict) -> str:
    verb, preposition = ("backed up", "to") if d["action"] == "backup" else ("restored", "from")
    engine = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[d["engine"]]
    line = (
        f"{verb} the {engine} database {d['database']} {preposition} {d['file']} "
        f"({_size(d['bytes'])}, {d['seconds']:.1f} s)"
    )
    if d["action"] == "restore":
        line += "\nrestart the web server and the worker (regnekraft serve migrates on start)"
    return line


def _run(args: argparse.Namespace, work: Any) -> int:
    from regnekraft.ops.backup import BackupError

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    try:
        summary = work(say)
    except BackupError as exc:
        detail = str(exc)
        emit(args, {"error": "invalid", "detail": detail}, lambda d: f"error: {detail}")
        return 2
    emit(args, summary, _text)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from regnekraft.ops import backup

    return _run(args, lambda say: backup.backup(actor(args), Path(args.out), say=say))


def cmd_restore(args: argparse.Namespace) -> int:
    from regnekraft.ops import backup

    return _run(
        args,
        lambda say: backup.restore(actor(args), Path(args.source), force=args.force, say=say),
    )


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "backup",
        cmd_backup,
        "back up the whole platform (its database) to a file: pg_dump for PostgreSQL, "
        "SQLite's backup API for SQLite; operators only",
    )
    p.add_argument("out", metavar="OUT", help="the backup file to write (replaced if it exists)")
    p = add_command(
        subparsers,
        "restore",
        cmd_restore,
        "replace the whole platform (its database) with a backup made by regnekraft backup; "
        "operators only; stop the web server and the worker first",
    )
    p.add_argument("source", metavar="IN", help="the backup file")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore even though the database already holds data (it is replaced)",
    )
