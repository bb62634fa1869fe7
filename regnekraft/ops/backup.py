"""Backup and restore of the whole platform: its database, which holds all of its state
(docs/operations.md).

- PostgreSQL: ``pg_dump -Fc`` and ``pg_restore --clean --if-exists --no-owner`` in one
  transaction, with the connection's parts from ``DATABASE_URL`` (the password through
  ``PGPASSWORD``, never on a command line). The client must be at least as new as the server;
  it is looked for in ``REGNEKRAFT_PG_BIN``, then Debian's ``/usr/lib/postgresql/<server
  major>/bin``, the newest ``/usr/lib/postgresql/*/bin``, then ``PATH``.
- SQLite: the online backup API (``sqlite3.Connection.backup``), so a backup taken while the
  platform runs is consistent; a restore writes a new file beside the database and moves it
  into place in one rename, after closing this process's connections.

Only operators may do either. A restore refuses a backup made from the other engine, and one
over a database that already holds data unless ``force``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# A database holding any of these rows is not empty: a restore over it needs ``force``.
DATA_TABLES = ("auth_user", "parties_organisation", "parties_project")

Say = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot be done, with what to do about it."""


def _quiet(message: str) -> None:
    return None


def _engine(alias: str) -> str:
    vendor = connections[alias].vendor
    if vendor not in ENGINES:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {vendor}")
    return vendor


def backup_kind(path: Path) -> str:
    """The kind of backup ``path`` is, "sqlite" or "postgresql", from its first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except IsADirectoryError:
        raise BackupError(f"{path} is a folder, not a backup file") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(
        f"{path} is not a Regnekraft backup (neither an SQLite database nor a pg_dump "
        "custom-format archive)"
    )


def _out_path(out: Path) -> Path:
    out = Path(out)
    if out.is_dir():
        raise BackupError(f"{out} is a folder: name the backup file, e.g. {out}/regnekraft.backup")
    if not out.parent.is_dir():
        raise BackupError(f"the folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise BackupError(f"cannot write in {out.parent}")
    return out


def _temporary(beside: Path, label: str) -> Path:
    return beside.with_name(f".{beside.name}.{label}-{os.getpid()}")


def has_data(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the database holds users, organisations or projects."""
    connection = connections[alias]
    present = set(connection.introspection.table_names()) & set(DATA_TABLES)
    with connection.cursor() as cursor:
        for table in sorted(present):
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
            if cursor.fetchone():
                return True
    return False


def _summary(action: str, alias: str, path: Path, started: float) -> dict[str, Any]:
    engine = _engine(alias)
    return {
        "action": action,
        "engine": engine,
        "database": str(connections[alias].settings_dict["NAME"]),
        "file": str(path),
        "bytes": path.stat().st_size if path.exists() else None,
        "seconds": round(time.monotonic() - started, 2),
    }


def backup(actor: Any, out: Path, *, alias: str = DEFAULT_DB_ALIAS, say: Say = _quiet) -> dict:
    """Write the whole database to ``out`` (replaced in one rename when it exists)."""
    require_role(actor, RoleKind.OPERATOR, action="back up the platform")
    out = _out_path(out)
    engine = _engine(alias)
    started = time.monotonic()
    say(f"backing up the {ENGINES[engine]} database {_name(alias)} to {out} ...")
    tmp = _temporary(out, "partial")
    try:
        if engine == "sqlite":
            _sqlite_backup(alias, tmp)
        else:
            _pg_dump(alias, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("backed up the %s database to %s", ENGINES[engine], out)
    return _summary("backup", alias, out, started)


def restore(
    actor: Any,
    source: Path,
    *,
    force: bool = False,
    alias: str = DEFAULT_DB_ALIAS,
    say: Say = _quiet,
) -> dict:
    """Replace the whole database with the backup ``source``."""
    require_role(actor, RoleKind.OPERATOR, action="restore the platform")
    source = Path(source)
    kind = backup_kind(source)
    engine = _engine(alias)
    if kind != engine:
        raise BackupError(
            f"{source} is a backup of a {ENGINES[kind]} database; this platform's database is "
            f"{ENGINES[engine]} (DATABASE_URL). Restore it into a {ENGINES[kind]} database."
        )
    if engine == "sqlite":
        _sqlite_check(source)
    if not force and has_data(alias):
        raise BackupError(
            f"the database {_name(alias)} already holds data (users, organisations or "
            "projects); restoring replaces all of it: give --force to do so"
        )
    started = time.monotonic()
    say(f"restoring the {ENGINES[engine]} database {_name(alias)} from {source} ...")
    if engine == "sqlite":
        _sqlite_restore(alias, source)
    else:
        _pg_restore(alias, source)
    log.warning("restored the %s database from %s", ENGINES[engine], source)
    return _summary("restore", alias, source, started)


def _name(alias: str) -> str:
    return str(connections[alias].settings_dict["NAME"])


# SQLite -------------------------------------------------------------------------------------


def _sqlite_file(alias: str) -> Path:
    name = str(connections[alias].settings_dict["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        raise BackupError("the database is in memory: there is no file to restore into")
    return Path(name)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dest.close()


def _sqlite_backup(alias: str, target: Path) -> None:
    connection = connections[alias]
    connection.ensure_connection()
    _copy(connection.connection, target)


def _sqlite_check(source: Path) -> None:
    try:
        db = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source}: {exc}") from None
    try:
        (verdict,) = db.execute("PRAGMA quick_check").fetchone()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        raise BackupError(f"{source} is not a usable SQLite database: {exc}") from None
    finally:
        db.close()
    if verdict != "ok":
        raise BackupError(f"{source} is damaged (SQLite's check: {verdict})")
    if "django_migrations" not in tables:
        raise BackupError(f"{source} is an SQLite database but not a Regnekraft backup")


def _sqlite_restore(alias: str, source: Path) -> None:
    target = _sqlite_file(alias)
    tmp = _temporary(target, "restoring")
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            _copy(src, tmp)
        finally:
            src.close()
        connections.close_all()
        # The old file's write-ahead log must not be replayed into the new one.
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# PostgreSQL ---------------------------------------------------------------------------------


def _major(version_text: str) -> int:
    found = re.search(r"(\d+)(?:\.(\d+))?", version_text)
    if not found:
        raise BackupError(f"cannot read a version from {version_text!r}")
    return int(found.group(1))


def _server_major(alias: str) -> int:
    connection = connections[alias]
    connection.ensure_connection()
    return int(connection.pg_version) // 10000  # type: ignore[attr-defined]


def pg_tool(name: str, server_major: int) -> Path:
    """The PostgreSQL client program ``name`` to use against a server of ``server_major``."""
    given = os.environ.get("REGNEKRAFT_PG_BIN", "").strip()
    if given:
        candidates = [Path(given) / name]
    else:
        debian = sorted(
            Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
            key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
            reverse=True,
        )
        matching = [p for p in debian if p.parts[-3] == str(server_major)]
        on_path = shutil.which(name)
        candidates = [*matching, *debian, *([Path(on_path)] if on_path else [])]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f"in REGNEKRAFT_PG_BIN={given}" if given else "on this host"
    raise BackupError(
        f"{name} not found {where}: install the PostgreSQL {server_major} client "
        f"(e.g. postgresql-client-{server_major}) or set REGNEKRAFT_PG_BIN to its bin folder"
    )


def _checked_tool(alias: str, name: str) -> Path:
    server = _server_major(alias)
    tool = pg_tool(name, server)
    shown = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    client = _major(shown.stdout)
    if client < server:
        raise BackupError(
            f"{tool} is PostgreSQL {client}, older than the server ({server}): install the "
            f"PostgreSQL {server} client or set REGNEKRAFT_PG_BIN to its bin folder"
        )
    return tool


def _pg_args_env(alias: str) -> tuple[list[str], dict[str, str]]:
    sd = connections[alias].settings_dict
    args: list[str] = []
    if sd.get("HOST"):
        args += ["--host", str(sd["HOST"])]
    if sd.get("PORT"):
        args += ["--port", str(sd["PORT"])]
    if sd.get("USER"):
        args += ["--username", str(sd["USER"])]
    args += ["--dbname", str(sd["NAME"]), "--no-password"]
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if sd.get("PASSWORD"):
        env["PGPASSWORD"] = str(sd["PASSWORD"])
    if sslmode := (sd.get("OPTIONS") or {}).get("sslmode"):
        env["PGSSLMODE"] = str(sslmode)
    return args, env


def _run(tool: Path, args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([str(tool), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[-5:]) or "no message"
        raise BackupError(f"{tool.name} failed (exit {done.returncode}): {detail}")


def _pg_dump(alias: str, target: Path) -> None:
    tool = _checked_tool(alias, "pg_dump")
    args, env = _pg_args_env(alias)
    _run(tool, [*args, "--format=custom", "--file", str(target)], env)


def _pg_restore(alias: str, source: Path) -> None:
    tool = _checked_tool(alias, "pg_restore")
    args, env = _pg_args_env(alias)
    connections.close_all()
    _run(
        tool,
        [
            *args,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            str(source),
        ],
        env,
    )
