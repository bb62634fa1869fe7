"""Benchmark: `/api/usage/` pages by cursor at millions of records; print the server time of the
first page and of a page deep in the list, next to what the old limit/offset list did (a count
and an offset over the records sorted on `end`).

    python benchmarks/api_paging.py                       # SQLite in a temporary folder
    python benchmarks/api_paging.py --records 3700000
    DATABASE_URL=postgres://u:p@127.0.0.1:5432/db python benchmarks/api_paging.py
                                                          # PostgreSQL: a fresh test_<db> database

Options: --records N (usage records, written by SQL, not timed; default 1,000,000),
--projects N (default 50), --repeat N (requests per figure, the median is printed; default 5).

Goal (issue 11): a page costs the same at any depth and any table size (the issue measured
7.2 s for `?limit=10` and 16.4 s for `?offset=3000000` on 3.7 M records).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_usage import build_world, fresh_database, setup_django  # noqa: E402


def write_records(n: int) -> None:
    """n usage records over the world's allocations, dates over a year, by SQL (not timed)."""
    from django.db import connection, transaction
    from import_usage import write_history

    if connection.vendor == "postgresql":
        write_history(n)
        return
    from regnekraft.accounting.importer import _table_and_columns

    table, columns = _table_and_columns()
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute(
            "SELECT a.id, a.project_id, a.resource_class_id, s.slug FROM allocation_allocation a "
            "JOIN catalog_resourceclass rc ON rc.id = a.resource_class_id "
            "JOIN catalog_system s ON s.id = rc.system_id"
        )
        allocs = c.fetchall()
        first_day = dt.date(2027, 1, 1)
        step = 200_000
        for first in range(0, n, step):
            rows = []
            for g in range(first, min(first + step, n)):
                alloc, project, rc, slug = allocs[(g * 7919) % len(allocs)]
                day = first_day + dt.timedelta(days=(g * 31) % 365)
                moment = f"{day.isoformat()} 10:00:00"
                value = {
                    "source": "history",
                    "cluster": slug,
                    "job_id": str(g),
                    "step": "0",
                    "project_id": project,
                    "resource_class_id": rc,
                    "allocation_id": alloc,
                    "username": f"u{g % 1000}",
                    "start": moment,
                    "end": moment,
                    "usage_date": day.isoformat(),
                    "quantity": "1.0000",
                    "unit_price_nok": "0.0400",
                    "charge_nok": "0.0400",
                }
                rows.append([value.get(name) for name in columns])
            with transaction.atomic():
                c.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(columns))})",
                    rows,
                )
            print(f"    records: {min(first + step, n):,} of {n:,}", flush=True)
    print(f"{n:,} records written in {time.perf_counter() - t:.1f} s (not timed)")


def _cursor(values: list) -> str:
    token = json.dumps(["n", values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def _median(fn, repeat: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        queries = len(ctx)
    return statistics.median(times), queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp))
        from django.conf import settings
        from django.db import connection
        from rest_framework.authtoken.models import Token
        from rest_framework.test import APIClient

        from regnekraft.accounting.models import UsageRecord
        from regnekraft.parties.models import Person, RoleKind

        settings.ALLOWED_HOSTS = ["*"]
        fresh_database()
        print(f"database: {connection.vendor}; building the world", flush=True)
        build_world(args.projects, random.Random(11))
        write_records(args.records)
        operator = Person.objects.get(user__username="benchpi")
        operator.roles.create(kind=RoleKind.OPERATOR)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator.user)}")
        n = UsageRecord.objects.count()
        deep = int(n * 0.8)
        row = UsageRecord.objects.order_by("-id").values("id")[deep]
        cursor = _cursor([row["id"]])  # the cursor of UsageCursorPagination's ordering
        project = UsageRecord.objects.values_list("project_id", flat=True).first()

        def get(params):
            response = client.get("/api/usage/", params)
            assert response.status_code == 200, response.content[:300]
            return response

        figures = [
            ("first page, limit=10", lambda: get({"limit": 10})),
            (f"page at record {deep:,}, limit=10", lambda: get({"limit": 10, "cursor": cursor})),
            ("first page, limit=1000", lambda: get({"limit": 1000})),
            ("one project, limit=10", lambda: get({"limit": 10, "project": project})),
            (
                "old list: count + offset 80 % on -end",
                lambda: (
                    UsageRecord.objects.count(),
                    list(UsageRecord.objects.order_by("-end", "pk")[deep : deep + 10]),
                ),
            ),
        ]
        print(f"\n{n:,} usage records on {connection.vendor}; median of {args.repeat}:")
        for i, (label, fn) in enumerate(figures):
            # the old list is slow at scale: once is enough to see it
            seconds, queries = _median(fn, 1 if i == len(figures) - 1 else args.repeat)
            print(f"  {label:<42} {seconds * 1000:9.1f} ms  {queries} queries")


if __name__ == "__main__":
    main()
