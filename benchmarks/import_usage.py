"""Benchmark: import usage files into a table that already holds history; print the rate next to
PostgreSQL's own COPY of the same records.

    python benchmarks/import_usage.py                      # SQLite in a temporary folder
    DATABASE_URL=postgres://u:p@127.0.0.1:5432/db python benchmarks/import_usage.py
                                                           # PostgreSQL: a fresh test_<db> database
    DATABASE_URL=... python benchmarks/import_usage.py --history 5000000 --records 1000000,3000000

Options: --records N[,N...] (files imported one after the other, default 1,000,000),
--history N (records stored before the first file, default 0; written by SQL, not timed),
--projects N (default 200), --seed N, --no-reimport.

Goals (issue 11): at least 100,000 records/s on PostgreSQL, and within 1.5 times the time of
COPY of the same records into the same table with the same indexes. For each file on
PostgreSQL it prints, before importing it:

  (a) COPY of the file itself (CSV, the importer's columns as text) into a plain table with no
      indexes (rolled back);
  (b) COPY of the same records, in the table's columns (project, resource class, allocation,
      usage date, prices: what the importer writes), into the usage table itself with its
      indexes and the history already in it (under another source, so no key collides;
      rolled back, then the table is vacuumed);

then the import, and import time / COPY time for both. The figure covers the whole service
call: reading and validating every line, attaching and rating each record, inserting, and
updating balances; each file is then imported again (all duplicates).
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
import logging
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
    path: Path,
    n: int,
    keys: list[tuple[str, str, str, str]],
    rng: random.Random,
    first_job: int = 0,
) -> None:
    from regnekraft.accounting.importer import COLUMNS  # the format the importer reads

    t0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for job in range(first_job, first_job + n):
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


def usage_table() -> tuple[str, str]:
    """The usage table and its columns as the importer writes them (quoted, comma-separated)."""
    from django.db import connection

    from regnekraft.accounting.importer import _table_and_columns

    table, columns = _table_and_columns()
    return table, ", ".join(connection.ops.quote_name(c) for c in columns)


def _alloc_sql() -> str:
    """Every allocation with its system slug and kind, numbered from 0 (a temporary table)."""
    from regnekraft.allocation.models import Allocation
    from regnekraft.catalog.models import ResourceClass, System

    a, rc, s = Allocation._meta.db_table, ResourceClass._meta.db_table, System._meta.db_table
    return (
        "CREATE TEMP TABLE bench_alloc AS SELECT (row_number() OVER (ORDER BY a.id)) - 1 AS i, "
        f"a.id, a.project_id, a.resource_class_id, a.start, a.end, s.slug, rc.kind "
        f"FROM {a} a JOIN {rc} rc ON rc.id = a.resource_class_id JOIN {s} s ON s.id = rc.system_id"
    )


def write_history(n: int) -> None:
    """n records of earlier use (source 'history', dates over two years) written by SQL with the
    table's indexes in place, as years of imports would leave them. Not timed."""
    from django.db import connection, transaction

    table, cols = usage_table()
    step = 1_000_000
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute("DROP TABLE IF EXISTS bench_alloc")
        c.execute(_alloc_sql())
        c.execute("SELECT count(*) FROM bench_alloc")
        n_alloc = c.fetchone()[0]
        for first in range(0, n, step):
            with transaction.atomic():
                c.execute(
                    f"INSERT INTO {table} ({cols}) SELECT 'history', b.slug, g::text, '0', "
                    "b.project_id, b.resource_class_id, b.id, 'u' || (g %% 1000), t.s, t.e, "
                    "(t.e AT TIME ZONE 'Europe/Oslo')::date, t.q, 0.04, round(t.q * 0.04, 4), "
                    "NULL FROM generate_series(%s, %s) g "
                    "JOIN bench_alloc b ON b.i = (g::bigint * 7919) %% %s "
                    "CROSS JOIN LATERAL (SELECT timestamptz '2026-01-01' + "
                    "random() * interval '720 days' + g * interval '0 s' AS s, "
                    "round((random() * 4000)::numeric, 4) AS q) r "
                    "CROSS JOIN LATERAL (SELECT r.s, r.s + random() * interval '48 hours' AS e, "
                    "r.q) t",
                    [first, min(first + step, n) - 1, n_alloc],
                )
            print(f"    history: {min(first + step, n):,} of {n:,} records", flush=True)
        c.execute("DROP TABLE bench_alloc")
        c.execute(f"VACUUM ANALYZE {table}")
    print(f"history of {n:,} records written in {time.perf_counter() - t:.1f} s (not timed)")


def _copy_in(cur, sql: str, path: Path) -> None:
    with cur.copy(sql) as copy, path.open("rb") as fh:
        while data := fh.read(1 << 20):
            copy.write(data)


def copy_baselines(path: Path, tmp: Path, n: int) -> tuple[float, float]:
    """Seconds of (a) COPY of the file into a plain table and (b) COPY of the same records in the
    table's columns into the usage table with its indexes; both rolled back."""
    from django.db import connection

    from regnekraft.accounting.importer import COLUMNS
    from regnekraft.catalog.models import ResourceClass, System
    from regnekraft.parties.models import Project

    table, cols = usage_table()
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = False  # Django's connection autocommits; here each step commits or rolls back
    plain_cols = ", ".join(f'"{c}" text' for c in COLUMNS)
    rows_path = tmp / "rows.csv"
    with raw.cursor() as cur:
        # (a): the file into a plain table
        raw.commit()
        t = time.perf_counter()
        cur.execute(f"CREATE TABLE bench_plain ({plain_cols})")
        _copy_in(cur, "COPY bench_plain FROM STDIN (FORMAT csv, HEADER)", path)
        raw.commit()
        plain = time.perf_counter() - t
        # the file's order, which the joins below would lose: rows in another order (grouped by
        # project, say) make index inserts local and COPY (b) several times cheaper
        cur.execute("ALTER TABLE bench_plain ADD COLUMN ordinal bigserial")
        # the same records in the table's columns, rated as the benchmark's price lists say (an
        # empty field of the CSV is NULL in bench_plain: before the COALESCEs the join dropped
        # every CPU record, whose gpu_type is empty, and (b) copied only about half the file)
        cur.execute(_alloc_sql())
        project, rc, system = (m._meta.db_table for m in (Project, ResourceClass, System))
        cur.execute(
            "CREATE TEMP TABLE bench_rows AS SELECT 'copy-bench' AS source, p.cluster, p.job_id, "
            "COALESCE(p.step, '') AS step, pr.id AS project_id, r.id AS rc_id, "
            "b.id AS allocation_id, COALESCE(p.user, '') AS username, "
            "p.start::timestamptz AS start, "
            "p.end::timestamptz AS end, (p.end::timestamptz AT TIME ZONE 'Europe/Oslo')::date, "
            "p.quantity::numeric AS quantity, "
            "CASE r.kind WHEN 'cpu' THEN 0.04 ELSE 5.6 END AS unit_price, "
            "round(p.quantity::numeric * CASE r.kind WHEN 'cpu' THEN 0.04 ELSE 5.6 END, 4), "
            f"NULL::bigint FROM bench_plain p JOIN {project} pr ON pr.code = p.account "
            f"JOIN (SELECT rc.id, rc.kind, rc.gpu_type, s.slug FROM {rc} rc JOIN {system} s "
            "ON s.id = rc.system_id) r ON r.slug = p.system AND r.kind = p.kind "
            "AND r.gpu_type = COALESCE(p.gpu_type, '') LEFT JOIN (SELECT DISTINCT ON (project_id, "
            "resource_class_id) * FROM bench_alloc) b ON b.project_id = pr.id "
            "AND b.resource_class_id = r.id ORDER BY p.ordinal"
        )
        with rows_path.open("wb") as out, cur.copy("COPY bench_rows TO STDOUT (FORMAT csv)") as cp:
            for data in cp:
                out.write(data)
        cur.execute("SELECT count(*) FROM bench_rows")
        rows_b = cur.fetchone()[0]
        if rows_b != n:  # (b) must copy every record, or its rate flatters COPY
            raise SystemExit(f"COPY (b) would copy {rows_b:,} of the {n:,} records")
        cur.execute("DROP TABLE bench_plain")
        cur.execute("DROP TABLE bench_rows")
        cur.execute("DROP TABLE bench_alloc")
        raw.commit()
        # (b): the records into the usage table, with its indexes and history
        cur.execute("CHECKPOINT")
        cpu = server_cpu_seconds()
        t = time.perf_counter()
        _copy_in(cur, f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)", rows_path)
        copied = time.perf_counter() - t
        copied_cpu = server_cpu_seconds()
        raw.rollback()
    raw.autocommit = True
    with raw.cursor() as cur:
        cur.execute(f"VACUUM {table}")
        cur.execute("CHECKPOINT")
    rows_path.unlink()
    print(
        f"(a) COPY of the file into a plain table without indexes: {plain:.1f} s = "
        f"{n / plain:,.0f} records/s"
    )
    print(
        f"(b) COPY of the same records into the usage table with its indexes: {copied:.1f} s = "
        f"{n / copied:,.0f} records/s"
        + (
            f" (database server CPU {copied_cpu - cpu:.1f} s)"
            if cpu is not None and copied_cpu is not None
            else ""
        )
    )
    return plain, copied


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


TIMINGS: dict[str, tuple[float, float]] = {}


def time_steps() -> None:
    """Time the steps of an import that run after the records are written (wall and server CPU
    seconds, in TIMINGS): the day sums and the balance thresholds."""
    from regnekraft.accounting import aggregates, balances

    steps = ((aggregates, "add_imported"), (balances, "update_balances"))
    for module, name in steps:
        original = getattr(module, name)

        def timed(*args, _original=original, _name=name, **kwargs):
            t, cpu = time.perf_counter(), server_cpu_seconds() or 0.0
            try:
                return _original(*args, **kwargs)
            finally:
                TIMINGS[_name] = (time.perf_counter() - t, (server_cpu_seconds() or 0.0) - cpu)

        setattr(module, name, timed)


def describe_steps() -> str:
    return ", ".join(
        f"{name} {wall:.1f} s (server CPU {cpu:.1f} s)" for name, (wall, cpu) in TIMINGS.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", default="1000000", help="N[,N...]: one file each")
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--no-reimport", action="store_true")
    args = parser.parse_args()
    sizes = [int(n.replace("_", "")) for n in args.records.split(",")]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rk-bench-") as tmp_name:
        tmp = Path(tmp_name)
        setup_django(tmp)
        from django.db import connection

        from regnekraft.accounting.models import UsageRecord
        from regnekraft.accounting.services import import_usage

        db_name = fresh_database()
        time_steps()
        postgres = connection.vendor == "postgresql"
        try:
            logging.getLogger("regnekraft.allocation").setLevel(logging.WARNING)  # per decision
            keys = build_world(args.projects, rng)
            print(f"database: {connection.vendor} {db_name}")
            if args.history:
                if not postgres:
                    raise SystemExit("--history needs PostgreSQL")
                write_history(args.history)
            first_job = 0
            for n in sizes:
                path = tmp / "usage.csv"
                t = time.perf_counter()
                write_usage(path, n, keys, rng, first_job)
                first_job += n
                stored = UsageRecord.objects.count() if postgres or args.history else 0
                print(
                    f"\n== file of {n:,} records ({path.stat().st_size / 1e6:.0f} MB, generated "
                    f"in {time.perf_counter() - t:.1f} s) into a table of {stored:,} records"
                )
                plain = copied = None
                if postgres:
                    plain, copied = copy_baselines(path, tmp, n)
                    connection.close()  # the import starts on a fresh connection and backend
                print(
                    f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
                    "(other work on the machine slows the wall-clock figures)"
                )
                TIMINGS.clear()
                cpu = cpu_now()
                first = import_usage(path)
                cpu_first = cpu_used(cpu)
                rate = first.read / first.seconds
                print(
                    f"import: {first.read:,} read, {first.new:,} new, "
                    f"{first.unallocated:,} unallocated, "
                    f"{len(first.balance_events):,} balance events in {first.seconds:.1f} s "
                    f"= {rate:,.0f} records/s"
                )
                print(f"    {describe_cpu(first.read, cpu_first)}")
                print(f"    of which after writing: {describe_steps()}")
                if plain and copied:
                    print(
                        f"    import / COPY into the usage table (b): {first.seconds / copied:.2f} "
                        f"(goal at most 1.5); import / COPY into a plain table (a): "
                        f"{first.seconds / plain:.2f}"
                    )
                goal = 100_000 if postgres else 50_000
                print(
                    f"    goal {goal:,} records/s: {'met' if rate >= goal else 'NOT met'} "
                    f"({rate:,.0f})"
                )
                if not args.no_reimport:
                    cpu = cpu_now()
                    again = import_usage(path)
                    cpu_again = cpu_used(cpu)
                    print(
                        f"re-import: {again.read:,} read, {again.new:,} new, "
                        f"{again.duplicate:,} duplicates "
                        f"in {again.seconds:.1f} s = {again.read / again.seconds:,.0f} records/s"
                    )
                    print(f"    {describe_cpu(again.read, cpu_again)}")
            if postgres and cpu_now()[2] is None:
                print("(the database server is not on this machine: its CPU is not counted)")
        finally:
            connection.close()
            if postgres:
                connection.creation.destroy_test_db(db_name, verbosity=0)


if __name__ == "__main__":
    main()
