"""``regnekraft backup`` and ``regnekraft restore``: a backup restored into a fresh database
gives the same reports and invoices (issue 12's acceptance), on SQLite and on PostgreSQL; a
restore refuses the other engine's backup, and one over data without --force."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from regnekraft import cli
from regnekraft.parties.models import RoleKind
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]
JAN = (dt.date(2027, 1, 1), dt.date(2027, 2, 1))
TIMEOUT = 300

pytestmark = pytest.mark.django_db(transaction=True)


def world() -> None:
    """Two organisations with grants, a month of use, and January's invoices issued."""
    from regnekraft.accounting.importer import import_records
    from regnekraft.accounting.invoicing import issue_invoices

    f.policy()
    betzy = f.system("betzy", tier=1)
    cpu = f.resource_class(betzy, kind="cpu", units=10_000)
    gpu = f.resource_class(betzy, kind="gpu", units=100, gpu_type="A100")
    prices = {"0": ("0.04", "5.6"), "A": ("0.04", "5.6"), "B": ("0.08", "10"), "C": ("0.12", "16")}
    for category, (cpu_price, gpu_price) in prices.items():
        f.price_list(category, prices={"cpu": cpu_price, "gpu": gpu_price})
    research = f.project(code="nn2001k")
    industry = f.project(f.organisation("industry", name="Industri AS"), code="nn2002k")
    f.granted(research, cpu, 5_000)
    f.granted(research, gpu, 40)
    f.granted(industry, cpu, 2_000)
    records = [
        {
            "cluster": "betzy",
            "job_id": f"{account}-{i}",
            "account": account,
            "kind": kind,
            "gpu_type": "A100" if kind == "gpu" else "",
            "quantity": quantity,
            "start": f"2027-01-{10 + i % 15:02d}T08:00:00",
            "end": f"2027-01-{10 + i % 15:02d}T10:30:00",
        }
        for account, kind, quantity in (
            ("nn2001k", "cpu", "64"),
            ("nn2001k", "gpu", "2"),
            ("nn2002k", "cpu", "128"),
        )
        for i in range(30)
    ]
    import_records(records, source="test")
    assert issue_invoices(*JAN)


def figures() -> str:
    """What the platform reports and invoiced, as sorted JSON (run here and in the restored
    database's own process)."""
    from regnekraft.accounting import reports
    from regnekraft.accounting.invoicing import invoice_dict
    from regnekraft.accounting.models import Invoice
    from regnekraft.textout import to_json

    return to_json(
        {
            "capacity": reports.report_capacity(*JAN),
            "by_group": reports.report_by_group(*JAN),
            "balances": reports.report_balances(),
            "economic": reports.report_economic_share(2027),
            "integrity": reports.report_integrity(),
            "invoices": [invoice_dict(i) for i in Invoice.objects.order_by("pk")],
        },
        sort_keys=True,
    )


FIGURES = (
    "from regnekraft.bootstrap import setup_django; setup_django(); "
    "from tests.ops.test_backup import figures; print(figures())"
)


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def env_for(database_url: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=database_url, REGNEKRAFT_TODAY="2028-01-01")
    env["REGNEKRAFT_WARM_UP"] = "0"
    return env


def back_up(out: Path, capsys) -> dict:
    assert cli.main(["backup", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["action"] == "backup" and summary["bytes"] == out.stat().st_size > 0
    return summary


def restore_and_compare(env: dict[str, str], backup: Path, expected: str) -> None:
    done = run(env, "-m", "regnekraft.cli", "restore", str(backup), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["action"] == "restore"
    shown = run(env, "-c", FIGURES)
    assert shown.returncode == 0, shown.stderr
    restored = json.loads(shown.stdout)
    assert restored["invoices"], "the restored database has no invoices"
    assert restored == json.loads(expected)


def test_sqlite_round_trip_gives_the_same_reports_and_invoices(tmp_path, capsys):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite round trip runs when the tests run on SQLite")
    world()
    expected = figures()
    assert Decimal(json.loads(expected)["invoices"][0]["total_nok"]) > 0
    out = tmp_path / "regnekraft.backup"
    summary = back_up(out, capsys)
    assert summary["engine"] == "sqlite"
    assert out.read_bytes().startswith(b"SQLite format 3\x00")

    env = env_for(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    restore_and_compare(env, out, expected)

    again = run(env, "-m", "regnekraft.cli", "restore", str(out))
    assert again.returncode == 2
    assert "already holds data" in again.stdout and "--force" in again.stdout
    forced = run(env, "-m", "regnekraft.cli", "restore", str(out), "--force", "--json")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert json.loads(run(env, "-c", FIGURES).stdout) == json.loads(expected)


def test_only_operators_back_up_and_restore(tmp_path, capsys):
    pi = f.person(None, RoleKind.PI, username="pia")
    out = tmp_path / "refused.backup"
    assert cli.main(["backup", str(out), "--as", pi.user.username]) == 2
    assert "only the role operator may back up the platform" in capsys.readouterr().out
    assert not out.exists()
    operator = f.person(None, RoleKind.OPERATOR, username="olav")
    assert cli.main(["backup", str(out), "--as", operator.user.username]) == 0
    assert cli.main(["restore", str(out), "--force", "--as", pi.user.username]) == 2
    assert "only the role operator may restore the platform" in capsys.readouterr().out


def test_restore_names_what_is_wrong_with_the_file(tmp_path, capsys):
    missing = tmp_path / "missing.backup"
    assert cli.main(["restore", str(missing), "--force"]) == 2
    assert f"cannot read {missing}" in capsys.readouterr().out
    text = tmp_path / "notes.txt"
    text.write_text("not a backup\n")
    assert cli.main(["restore", str(text), "--force", "--json"]) == 2
    answer = json.loads(capsys.readouterr().out)
    assert answer["error"] == "invalid" and "is not a Regnekraft backup" in answer["detail"]
    assert cli.main(["backup", str(tmp_path / "no" / "such" / "x.backup")]) == 2
    assert "does not exist" in capsys.readouterr().out


@pytest.mark.postgres
def test_postgresql_round_trip_gives_the_same_reports_and_invoices(tmp_path, capsys):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL set (scripts/postgres.sh start)")
    world()
    expected = figures()
    out = tmp_path / "regnekraft.pgdump"
    summary = back_up(out, capsys)
    assert summary["engine"] == "postgresql"
    assert out.read_bytes().startswith(b"PGDMP")

    sd = connection.settings_dict
    fresh = f"regnekraft_restore_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{fresh}"')
    try:
        url = f"postgres://{sd['USER']}:{sd['PASSWORD']}@{sd['HOST']}:{sd['PORT']}/{fresh}"
        env = env_for(url)
        restore_and_compare(env, out, expected)
        again = run(env, "-m", "regnekraft.cli", "restore", str(out))
        assert again.returncode == 2 and "already holds data" in again.stdout
        forced = run(env, "-m", "regnekraft.cli", "restore", str(out), "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert json.loads(run(env, "-c", FIGURES).stdout) == json.loads(expected)
        # a PostgreSQL backup is refused by an SQLite platform, with the reason
        sqlite_env = env_for(f"sqlite:///{tmp_path / 'other.sqlite3'}")
        refused = run(sqlite_env, "-m", "regnekraft.cli", "restore", str(out))
        assert refused.returncode == 2
        assert "is a backup of a PostgreSQL database" in refused.stdout
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


@pytest.mark.postgres
def test_an_sqlite_backup_is_refused_by_a_postgresql_platform(tmp_path, capsys):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL set (scripts/postgres.sh start)")
    backup = tmp_path / "other.sqlite3"
    done = run(
        env_for(f"sqlite:///{backup}"), "-m", "regnekraft.cli", "backup", str(tmp_path / "s.bak")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert cli.main(["restore", str(tmp_path / "s.bak"), "--force"]) == 2
    assert "is a backup of a SQLite database" in capsys.readouterr().out
