"""A killed import leaves nothing behind: its forked validator dies with it, holds no database
connection, and the next import of the same file runs to the end and imports every record once
(issue 10, item 1).

The importer runs in a subprocess (``python -c _CHILD``) on a file that takes the forked path; it
stops in its progress callback after writing its first batch, uncommitted, and is killed there
with SIGKILL. On SQLite the subprocess has a database file of its own; on PostgreSQL it uses the
test database (so the test is transactional)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.processes import child_environment

from .conftest import usage_row, write_csv

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 50_000  # three write batches of importer.BATCH_SIZE
DEADLINE = 120  # seconds the second import may take (it needs a few)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs fork and /proc (Linux)"
)

# setup: migrate and make the world (SQLite only); hang: import, stop after the first batch;
# import: import and print the result and the records stored.
_CHILD = """
import json, os, sys, time
import django
django.setup()
from django.core.management import call_command
from regnekraft.accounting import importer
from regnekraft.accounting.models import UsageRecord

mode, path = sys.argv[1], sys.argv[2]
if mode == "setup":
    call_command("migrate", verbosity=0)
    from tests.accounting.test_import_kill import make_world
    make_world()
    sys.exit(0)
importer.PARALLEL_MIN_LINES = 1  # the forked path for this file too

def progress(done, total):
    print("progress", done, flush=True)
    if mode == "hang":
        time.sleep(3600)  # killed here: the first batch written, not committed

result = importer.import_usage(path, progress=progress)
print("result", json.dumps({"new": result.new, "read": result.read,
      "stored": UsageRecord.objects.count()}), flush=True)
"""


def make_world() -> None:
    from decimal import Decimal

    from regnekraft.catalog.models import Price
    from tests import factories as f

    f.policy()
    gpu = f.resource_class(f.system("betzy", tier=1), kind="gpu", units=100, gpu_type="A100")
    prices = f.price_list("A", prices={"cpu": "0.04", "gpu": "5.6"})
    Price.objects.create(price_list=prices, kind="gpu", gpu_type="A100", unit_price=Decimal("7.2"))
    f.granted(f.project(code="nn1000k"), gpu, 100_000)


def _environment(tmp_path: Path) -> dict[str, str]:
    return child_environment(tmp_path)


def _processes_of(path: Path) -> list[int]:
    """Processes whose command line names ``path`` (the importer and its forked validator)."""
    mark = str(path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_for_progress(proc: subprocess.Popen, seconds: float) -> str:
    """Read the subprocess's output until its first progress line."""
    assert proc.stdout is not None
    out = ""
    end = time.monotonic() + seconds
    while "progress" not in out:
        if proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"the import did not get under way: {out}")
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            out += os.read(proc.stdout.fileno(), 4096).decode()
    return out


def _kill_import_then_import_again(tmp_path: Path) -> dict:
    path = write_csv(tmp_path / "usage.csv", [usage_row("nn1000k", n, "1") for n in range(RECORDS)])
    env = _environment(tmp_path)
    child = [sys.executable, "-c", _CHILD]
    if connection.vendor != "postgresql":
        subprocess.run([*child, "setup", str(path)], env=env, cwd=ROOT, check=True, timeout=300)
    first = subprocess.Popen([*child, "hang", str(path)], env=env, cwd=ROOT, stdout=subprocess.PIPE)
    try:
        _wait_for_progress(first, 120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        end = time.monotonic() + 10
        while _processes_of(path) and time.monotonic() < end:
            time.sleep(0.1)
        left = _processes_of(path)
        assert not left, f"the killed import's validator lives on: processes {left}"
        again = subprocess.run(
            [*child, "import", str(path)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert again.returncode == 0, again.stderr
        line = next(x for x in again.stdout.splitlines() if x.startswith("result "))
        return json.loads(line.removeprefix("result "))
    finally:
        # On the old code the validator outlives its parent: end what this test started.
        if first.poll() is None:
            first.kill()
        for pid in _processes_of(path):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_import_leaves_no_validator_and_the_next_one_imports_everything(tmp_path):
    """SQLite, a database file of the subprocess's own."""
    if "DATABASE_URL" in os.environ:
        pytest.skip("the SQLite run: run without DATABASE_URL")
    result = _kill_import_then_import_again(tmp_path)
    assert result == {"new": RECORDS, "read": RECORDS, "stored": RECORDS}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_import_does_not_block_the_next_one_on_postgresql(tmp_path):
    """The old validator kept the killed import's connection 'idle in transaction' with its
    uncommitted rows, and the next import of the same file waited on them for ever."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL set (scripts/postgres.sh start)")
    make_world()
    result = _kill_import_then_import_again(tmp_path)
    assert result == {"new": RECORDS, "read": RECORDS, "stored": RECORDS}
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        assert c.fetchone()[0] == 0
