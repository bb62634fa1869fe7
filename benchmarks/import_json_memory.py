"""Benchmark: import a 300 MB JSON usage file and print the peak memory (issue 10, item 8).

    python benchmarks/import_json_memory.py                 # SQLite in a temporary folder
    python benchmarks/import_json_memory.py --megabytes 30  # a quicker run
    DATABASE_URL=postgres://u:p@127.0.0.1:5432/db python benchmarks/import_json_memory.py
                                                            # PostgreSQL: a fresh test_<db>

Goal: a 300 MB file stays under 500 MB of memory (peak resident set size of the process). The
importer reads JSON as a stream (``importer._JsonStream``): about a megabyte of text and one
write batch of records at a time, plus the keys already met in the file (to refuse a key given
twice with two quantities), about 150 bytes per record. ``json.load`` of the same file took
several times the file's size. The file is written record by record into a temporary folder
(``{"records": [...]}``, one record per line), with the world of benchmarks/import_usage.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import import_usage as bench  # noqa: E402  (the world and database set-up of the rate benchmark)


def write_json(path: Path, megabytes: int, keys: list, rng: random.Random) -> int:
    """Records until the file has ``megabytes`` MB; returns how many."""
    t0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    goal = megabytes * 1_000_000
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"records": [\n')
        size = 14
        while size < goal:
            account, system, kind, gpu = keys[rng.randrange(len(keys))]
            start = t0 + dt.timedelta(seconds=rng.randrange(360 * 86400))
            hours = rng.randrange(1, 48 * 60) / 60
            units = rng.choice((1, 4, 16, 64, 128)) if kind == "cpu" else rng.choice((1, 2, 4, 8))
            record = {
                "source": "slurm",
                "cluster": system,
                "job_id": str(n),
                "step": "0",
                "account": account,
                "system": system,
                "kind": kind,
                "gpu_type": gpu,
                "quantity": f"{units * hours:.4f}",
                "start": start.isoformat(),
                "end": (start + dt.timedelta(hours=hours)).isoformat(),
                "user": f"u{n % 1000}",
            }
            text = ("," if n else "") + json.dumps(record) + "\n"
            fh.write(text)
            size += len(text)
            n += 1
        fh.write("]}\n")
    return n


def peak_mb() -> tuple[float, float]:
    """Peak resident set size of this process and of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=300)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rk-bench-json-") as tmp_name:
        tmp = Path(tmp_name)
        bench.setup_django(tmp)
        from django.db import connection

        from regnekraft.accounting.services import import_usage

        db_name = bench.fresh_database()
        try:
            keys = bench.build_world(args.projects, rng)
            path = tmp / "usage.json"
            t = time.perf_counter()
            n = write_json(path, args.megabytes, keys, rng)
            print(
                f"generated {n:,} records ({path.stat().st_size / 1e6:.0f} MB of JSON) "
                f"in {time.perf_counter() - t:.1f} s; database: {connection.vendor} {db_name}"
            )
            before = peak_mb()[0]
            print(f"peak memory before the import: {before:.0f} MB (Python, Django, the world)")
            result = import_usage(path)
            own, child = peak_mb()
            print(
                f"imported {result.read:,} records ({result.new:,} new) in {result.seconds:.1f} s "
                f"= {result.read / result.seconds:,.0f} records/s"
            )
            print(
                f"peak memory: {own:.0f} MB (largest child process: {child:.0f} MB); "
                f"goal < 500 MB for 300 MB: {'met' if max(own, child) < 500 else 'NOT met'}"
            )
        finally:
            if connection.vendor == "postgresql":
                connection.creation.destroy_test_db(db_name, verbosity=0)
            connection.close()


if __name__ == "__main__":
    main()
