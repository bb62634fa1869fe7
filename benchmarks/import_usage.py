"""Benchmark: import 1,000,000 usage records into a fresh database and print the rate.

    python benchmarks/import_usage.py                      # SQLite in a temporary folder
    DATABASE_URL=postgres://u:p@127.0.0.1:5432/db python benchmarks/import_usage.py
                                                           # PostgreSQL: a fresh test_<db> database

Options: --records N (default 1,000,000), --projects N (default 200), --seed N.
Goal (issue 2): at least 50,000 records/s on SQLite and on PostgreSQL. The figure covers the
whole service call: reading and validating every line, attaching and rating each record,
inserting, and updating balances; the same file is then imported again (all duplicates).
Other work on a shared machine stretches the wall clock, so it also prints the CPU seconds of
the three parts: the writer (this process), the validator (the forked child that reads and
checks big files) and the PostgreSQL backend serving the writer (when the server runs on this
machine). The validator runs alongside the writer and server, which take turns, so on two idle
cores the import takes about max(validator, writer + server): printed as the idle-machine rate.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(tmp: Path) -> None:
    if "DATABASE_URL" not in os.environ:
        os.environ["REGNEKRAFT_VAR"] = str(tmp)  # a fresh SQLite file for this run
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regnekraft.settings")
    os.environ.setdefault("REGNEKRAFT_MODE", "development")  # a scratch database, no secrets
    import django

    django.setup()


def fresh_database() -> str:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    call_command("migrate", verbosity=0, skip_checks=True)
    return connection.settings_dict["NAME"]


def build_world(n_projects: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """Systems, price lists, projects and their allocations, made through the decision services."""
    from django.contrib.auth import get_user_model

    from regnekraft.allocation import services
    from regnekraft.allocation.models import Application, ApplicationRequest, Call, CallStatus
    from regnekraft.catalog.models import Price, PriceList, ResourceClass, System
    from regnekraft.parties.models import Organisation, Person, Project

    start, end = dt.date(2027, 1, 1), dt.date(2028, 1, 1)
    classes = []
    for name in ("betzy", "saga", "olivia", "lumi-no"):
        system = System.objects.create(
            name=name,
            slug=name,
            kind="national",
            operator="Sigma2",
            country="NO",
            commissioned=dt.date(2020, 1, 1),
        )
        classes.append(
            ResourceClass.objects.create(system=system, kind="cpu", installed_units=200_000)
        )
        classes.append(
            ResourceClass.objects.create(
                system=system, kind="gpu", gpu_type="A100", installed_units=4_000
            )
        )
    for category in ("A", "0"):
        pl = PriceList.objects.create(
            category=category, name=f"bench {category}", valid_from=dt.date(2020, 1, 1)
        )
        Price.objects.create(price_list=pl, kind="cpu", unit_price=Decimal("0.04"))
        Price.objects.create(price_list=pl, kind="gpu", unit_price=Decimal("5.6"))
    call = Call.objects.create(
        name="bench",
        opens=dt.date(2026, 9, 1),
        closes=dt.date(2026, 10, 1),
        period_start=start,
        period_end=end,
        status=CallStatus.REVIEW,
    )
    orgs = [
        Organisation.objects.create(name=f"Org {i}", short_name=f"org{i}", kind="research")
        for i in range(20)
    ]
    user = get_user_model().objects.create_user("benchpi", password="x")
    pi = Person.objects.create(user=user, organisation=orgs[0], name="PI", email="pi@example.no")
    keys = []
    for i in range(n_projects):
        project = Project.objects.create(
            code=f"nn{i:04d}k", title="bench", organisation=orgs[i % len(orgs)], pi=pi
        )
        app = Application.objects.create(call=call, project=project, justification="bench")
        chosen = rng.sample(classes, 2)
        for rc in chosen:
            ApplicationRequest.objects.create(
                application=app, resource_class=rc, amount=Decimal(250_000)
            )
        services.decide_application(app, {rc.pk: Decimal(250_000) for rc in chosen})
        keys += [(project.code, rc.system.slug, rc.kind, rc.gpu_type) for rc in chosen]
    # usage of projects without any allocation is kept and reported as unallocated
    stray = Project.objects.create(
        code="stray01", title="no allocation", organisation=orgs[0], pi=pi
    )
    keys.append((stray.code, "betzy", "cpu", ""))
    return keys


def write_usage(
    path: Path, n: int, keys: list[tuple[str, str, str, str]], rng: random.Random
) -> None:
    from regnekraft.accounting.importer import COLUMNS  # the format the importer reads

    t0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for job in range(n):
            account, system, kind, gpu = keys[rng.randrange(len(keys))]
            start = t0 + dt.timedelta(seconds=rng.randrange(360 * 86400))
            hours = rng.randrange(1, 48 * 60) / 60
            end = start + dt.timedelta(hours=hours)
            units = rng.choice((1, 4, 16, 64, 128)) if kind == "cpu" else rng.choice((1, 2, 4, 8))
            w.writerow(
                [
                    "slurm",
                    system,
                    job,
                    "0",
                    account,
                    system,
                    kind,
                    gpu,
                    f"{units * hours:.4f}",
                    start.isoformat(),
                    end.isoformat(),
                    f"u{job % 1000}",
                ]
            )


def server_cpu_seconds() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend, if it runs on this machine
    (else None)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        pid = c.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_now() -> tuple[float, float, float | None]:
    """CPU seconds so far of this process, of its finished children (the importer's forked
    validator) and of the database server backend (None if not measurable)."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system, server_cpu_seconds()


def cpu_used(before: tuple[float, float, float | None]) -> tuple[float, float, float]:
    after = cpu_now()
    server = 0.0 if after[2] is None or before[2] is None else after[2] - before[2]
    return after[0] - before[0], after[1] - before[1], server


def describe_cpu(read: int, parts: tuple[float, float, float]) -> str:
    """Total CPU, and the busiest of the two sides that can run at once: the validator (child)
    against the writer (this process plus the database server, which take turns)."""
    parent, child, server = parts
    total = parent + child + server
    critical = max(child, parent + server)
    return (
        f"CPU s: writer {parent:.1f} + validator {child:.1f} + database server {server:.1f} "
        f"= {total:.1f} ({read / total:,.0f} records per CPU second); on two idle cores about "
        f"{critical:.1f} s = {read / critical:,.0f} records/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rk-bench-") as tmp_name:
        tmp = Path(tmp_name)
        setup_django(tmp)
        from django.db import connection

        from regnekraft.accounting.services import import_usage

        db_name = fresh_database()
        try:
            keys = build_world(args.projects, rng)
            path = tmp / "usage.csv"
            t = time.perf_counter()
            write_usage(path, args.records, keys, rng)
            print(
                f"generated {args.records:,} records ({path.stat().st_size / 1e6:.0f} MB) "
                f"in {time.perf_counter() - t:.1f} s"
            )
            print(f"database: {connection.vendor} {db_name}")
            print(
                f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
                "(other work on the machine slows the wall-clock figures)"
            )
            cpu = cpu_now()
            first = import_usage(path)
            cpu_first = cpu_used(cpu)
            print(
                f"first import: {first.read:,} read, {first.new:,} new, "
                f"{first.unallocated:,} unallocated, "
                f"{len(first.balance_events):,} balance events in {first.seconds:.1f} s "
                f"= {first.read / first.seconds:,.0f} records/s"
            )
            print(f"    {describe_cpu(first.read, cpu_first)}")
            cpu = cpu_now()
            again = import_usage(path)
            cpu_again = cpu_used(cpu)
            print(
                f"re-import:    {again.read:,} read, {again.new:,} new, "
                f"{again.duplicate:,} duplicates "
                f"in {again.seconds:.1f} s = {again.read / again.seconds:,.0f} records/s"
            )
            print(f"    {describe_cpu(again.read, cpu_again)}")
            if connection.vendor != "sqlite" and cpu_now()[2] is None:
                print("(the database server is not on this machine: its CPU is not counted)")
            goal = 50_000
            rate = first.read / first.seconds
            print(f"goal {goal:,} records/s: {'met' if rate >= goal else 'NOT met'} ({rate:,.0f})")
        finally:
            if connection.vendor == "postgresql":
                connection.creation.destroy_test_db(db_name, verbosity=0)
            connection.close()


if __name__ == "__main__":
    main()
