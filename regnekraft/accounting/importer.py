"""Import usage records from CSV, JSON, JSON Lines and SWF traces (format: docs/accounting.md).

A file is imported whole or not at all: every line is validated, and any bad line refuses the
file with its line number and what is wrong (:class:`ImportRefused`); the writing happens in
one transaction that is rolled back on refusal. Each record carries the idempotency key
(source, cluster, job_id, step, resource class); a record already stored is skipped, so
importing a file again changes nothing.

Each record is attached to the project's allocation of that resource class covering the usage
date (the local date of its end) and rated at the allocation's price category on that date.
Usage no allocation covers is stored without allocation and without charge, and reported.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import io
import json
import logging
import multiprocessing
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from regnekraft.allocation.models import Allocation
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Project

from . import balances
from .models import ImportBatch, UsageRecord
from .rating import RECORD_QUANTUM, NoPrice, PriceBook

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""Called as ``progress(records_done, records_total_or_None)`` after every batch."""

FORMATS = ("csv", "json", "jsonl", "swf")
BATCH_SIZE = 20_000
MAX_REPORTED_ERRORS = 20
MAX_UNALLOCATED_EXAMPLES = 20
MAX_QUANTITY = Decimal("999999999999")  # 12 integer digits: the column holds 16 digits, 4 decimals
MAX_CHARGE = Decimal("10000000000")  # charge_nok holds 14 digits, 4 of them decimals
COLUMNS = (
    "source",
    "cluster",
    "job_id",
    "step",
    "account",
    "system",
    "kind",
    "gpu_type",
    "quantity",
    "start",
    "end",
    "user",
)
REQUIRED = ("cluster", "job_id", "account", "kind", "quantity", "start", "end")
_DB_COLUMNS = (
    "source",
    "cluster",
    "job_id",
    "step",
    "project",
    "resource_class",
    "allocation",
    "username",
    "start",
    "end",
    "usage_date",
    "quantity",
    "unit_price_nok",
    "charge_nok",
    "batch",
)
_MAX_LEN = {"source": 50, "cluster": 50, "job_id": 64, "step": 32, "user": 64}


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRefused(ValidationError):
    """The file has bad lines; nothing was imported. ``errors`` names each (up to 20)."""

    def __init__(self, filename: str, errors: list[LineError], total: int):
        self.line_errors = errors
        self.total_errors = total
        more = f" (and {total - len(errors)} more)" if total > len(errors) else ""
        text = "; ".join(str(e) for e in errors)
        super().__init__(f"usage file {filename} refused, nothing imported: {text}{more}")


@dataclass
class ImportResult:
    batch_id: int | None
    source: str
    filename: str
    read: int = 0
    new: int = 0
    duplicate: int = 0
    skipped: int = 0  # SWF jobs that never ran (run time or processors <= 0)
    unallocated: int = 0  # records in the file that no allocation covers (stored, not charged)
    unallocated_examples: list[dict[str, Any]] = field(default_factory=list)
    balance_events: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SwfOptions:
    """How an SWF trace becomes usage: whose jobs they are and on which resource class.

    ``users``/``groups`` map SWF user and group numbers (as strings) to project codes; a job
    whose user is not mapped falls back to its group, then to ``default_project``.
    ``start`` is the trace's time zero; by default the header's ``UnixStartTime``.
    Each job uses processors x run time / 3600 units (core-hours for kind ``cpu``).
    """

    system: str
    kind: str = "cpu"
    gpu_type: str = ""
    users: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    default_project: str | None = None
    start: dt.datetime | None = None
    cluster: str | None = None

    @classmethod
    def from_json(cls, path: str | Path, *, system: str | None = None) -> SwfOptions:
        """Options from a JSON file with the same keys; ``system`` fills in a missing "system"."""
        data = json.loads(Path(path).read_text())
        start = data.get("start")
        if not (data.get("system") or system):
            raise ValidationError(f'SWF mapping {path}: no "system" given')
        return cls(
            system=data.get("system") or system,
            kind=data.get("kind", "cpu"),
            gpu_type=data.get("gpu_type", ""),
            users={str(k): v for k, v in data.get("users", {}).items()},
            groups={str(k): v for k, v in data.get("groups", {}).items()},
            default_project=data.get("default_project"),
            start=_parse_time(start, ZoneInfo(settings.TIME_ZONE)) if start else None,
            cluster=data.get("cluster"),
        )


class _RowError(ValueError):
    pass


def _parse_time(text: str, zone: ZoneInfo) -> dt.datetime:
    """ISO 8601; a trailing Z means UTC; a time without offset is local (settings.TIME_ZONE)."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


class _Resolver:
    """Turns raw fields into a rated record tuple; knows projects, classes, allocations, prices."""

    def __init__(self, batch_id: int) -> None:
        self.batch_id = batch_id
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self.book = PriceBook()
        self.projects = dict(Project.objects.values_list("code", "pk"))
        self.classes = {
            (rc.system.slug, rc.kind, rc.gpu_type): rc
            for rc in ResourceClass.objects.select_related("system")
        }
        self.allocations: dict[tuple[int, int], list[tuple[dt.date, dt.date, int, str]]] = (
            defaultdict(list)
        )
        rows = (
            Allocation.objects.live()
            .order_by("-start")
            .values_list("project_id", "resource_class_id", "start", "end", "pk", "price_category")
        )
        for project_id, rc_id, start, end, pk, category in rows:
            self.allocations[(project_id, rc_id)].append((start, end, pk, category))
        self._prices: dict[int, list[tuple[dt.date, dt.date, Decimal]]] = {}
        self.text_rows = connection.vendor == "sqlite"
        self.unallocated = 0
        self.unallocated_examples: list[dict[str, Any]] = []
        self.touched: set[int] = set()
        self.scan_result: Any = None  # set by the parallel scanner

    def resource_class(self, system: str, kind: str, gpu_type: str) -> ResourceClass:
        rc = self.classes.get((system, kind, gpu_type))
        if rc is None:
            gpu = f" {gpu_type}" if gpu_type else ""
            raise _RowError(f"no resource class {kind}{gpu} on system '{system}'")
        return rc

    def record(
        self,
        source: str,
        cluster: str,
        job_id: str,
        step: str,
        account: str,
        rc: ResourceClass,
        quantity_text: str,
        start_text: str,
        end_text: str,
        user: str,
    ) -> tuple:
        """Validate one record and return its row for the writer (SQLite: text; else Python
        values). Runs once per record: the common case stays on plain comparisons."""
        if (
            not job_id
            or not cluster
            or len(source) > 50
            or len(cluster) > 50
            or len(job_id) > 64
            or len(step) > 32
            or len(user) > 64
        ):
            _check_text(source=source, cluster=cluster, job_id=job_id, step=step, user=user)
        project_id = self.projects.get(account)
        if project_id is None:
            raise _RowError(f"unknown account (project code) '{account}'")
        quantity = _quantity(quantity_text)
        start, end = self._period(start_text, end_text)
        day = end.astimezone(self.zone).date()
        allocation_id, unit_price, charge = self._rate(project_id, rc, quantity, day)
        if allocation_id is None:
            self._note_unallocated(account, rc, day, job_id)
        else:
            self.touched.add(allocation_id)
        quantity = quantity.quantize(RECORD_QUANTUM, rounding=ROUND_HALF_UP)
        if self.text_rows:
            # SQLite keeps datetimes as UTC text, the way Django writes them.
            when: tuple = (_utc_text(start), _utc_text(end), day.isoformat())
            amounts: tuple = (str(quantity), str(unit_price), str(charge))
        else:
            when = (start, end, day)
            amounts = (quantity, unit_price, charge)
        return (
            source,
            cluster,
            job_id,
            step,
            project_id,
            rc.id,
            allocation_id,
            user,
            *when,
            *amounts,
            self.batch_id,
        )

    def _period(self, start_text: str, end_text: str) -> tuple[dt.datetime, dt.datetime]:
        start = _local_time(start_text, "start", self.zone)
        end = _local_time(end_text, "end", self.zone)
        if end < start:
            raise _RowError(f"end {end_text} is before start {start_text}")
        if start.year < 1970 or end.year > 2200:
            raise _RowError(f"times {start_text}..{end_text} are outside 1970-2200")
        return start, end

    def _rate(
        self, project_id: int, rc: ResourceClass, quantity: Decimal, day: dt.date
    ) -> tuple[int | None, Decimal, Decimal]:
        """(allocation, unit price, charge) of the project's allocation covering ``day``, or
        (None, 0, 0) when none does."""
        for a_start, a_end, pk, category in self.allocations.get((project_id, rc.id), ()):
            if a_start <= day < a_end:
                unit_price = self._unit_price(pk, category, rc, day)
                charge = (quantity * unit_price).quantize(RECORD_QUANTUM, rounding=ROUND_HALF_UP)
                if charge >= MAX_CHARGE:
                    raise _RowError(
                        f"charge {charge} NOK is larger than a record can hold ({MAX_CHARGE})"
                    )
                return pk, unit_price, charge
        return None, _ZERO4, _ZERO4

    def _unit_price(
        self, allocation_id: int, category: str, rc: ResourceClass, day: dt.date
    ) -> Decimal:
        for p_from, p_until, unit_price in self._prices.get(allocation_id, ()):
            if p_from <= day < p_until:
                return unit_price
        return self._price_span(allocation_id, category, rc, day)

    def _note_unallocated(self, account: str, rc: ResourceClass, day: dt.date, job_id: str) -> None:
        self.unallocated += 1
        if len(self.unallocated_examples) < MAX_UNALLOCATED_EXAMPLES:
            self.unallocated_examples.append(
                {
                    "account": account,
                    "resource_class": str(rc),
                    "date": day.isoformat(),
                    "job_id": job_id,
                }
            )

    def _price_span(
        self, allocation_id: int, category: str, rc: ResourceClass, day: dt.date
    ) -> Decimal:
        """Look the price up once per allocation and price list period, not once per record."""
        try:
            price = self.book.unit_price(category, rc, day)
        except NoPrice as e:
            raise _RowError(f"cannot rate: {e}") from None
        since = self.book.price_list(category, day).valid_from
        until = self.book.valid_until(category, day) or dt.date.max
        self._prices.setdefault(allocation_id, []).append((since, until, price))
        return price


_UTC = dt.UTC
_ZERO4 = Decimal("0.0000")


def _quantity(text: str) -> Decimal:
    try:
        quantity = Decimal(text)
        valid = quantity.is_finite() and 0 <= quantity <= MAX_QUANTITY
    except (InvalidOperation, TypeError):
        raise _RowError(f"quantity '{text}' is not a number") from None
    if not valid:
        raise _RowError(f"quantity {text} must be a number from 0 to {MAX_QUANTITY}")
    return quantity


def _local_time(text: str, what: str, zone: ZoneInfo) -> dt.datetime:
    """Like :func:`_parse_time`, with the error a bad line reports."""
    try:
        value = dt.datetime.fromisoformat(text)
    except (ValueError, TypeError):
        raise _RowError(f"{what} '{text}' is not an ISO 8601 time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(_UTC).isoformat(" ")[:-6]


def _check_text(**fields: str) -> None:
    for name in ("job_id", "cluster"):
        if not fields[name]:
            raise _RowError(f"{name} is empty")
    for name, value in fields.items():
        if len(value) > _MAX_LEN[name]:
            raise _RowError(f"{name} is longer than {_MAX_LEN[name]} characters")


# --- readers: each yields (line number, build, argument); build(argument) -> row or SKIP ---------

Row = tuple[int, Callable[[Any], tuple], Any]


def _fail(message: str) -> tuple:
    raise _RowError(message)


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def _dict_builder(r: _Resolver, default_source: str) -> Callable[[Any], tuple]:
    def build(fields: Any) -> tuple:
        if not isinstance(fields, dict):
            raise _RowError("a record must be a JSON object")
        unknown = sorted(set(fields) - set(COLUMNS))
        if unknown:
            raise _RowError(f"unknown field(s) {', '.join(unknown)}")
        missing = [c for c in REQUIRED if fields.get(c) in (None, "")]
        if missing:
            raise _RowError(f"missing {', '.join(missing)}")
        cluster = str(fields["cluster"]).strip()
        system = str(fields.get("system") or cluster).strip()
        rc = r.resource_class(
            system, str(fields["kind"]).strip(), str(fields.get("gpu_type") or "").strip()
        )
        return r.record(
            str(fields.get("source") or default_source).strip(),
            cluster,
            str(fields["job_id"]).strip(),
            str(fields.get("step") or "").strip(),
            str(fields["account"]).strip(),
            rc,
            str(fields["quantity"]).strip(),
            str(fields["start"]).strip(),
            str(fields["end"]).strip(),
            str(fields.get("user") or "").strip(),
        )

    return build


def _csv_records(path: Path, r: _Resolver, source: str) -> Iterator[Row]:
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        unknown = sorted(set(names) - set(COLUMNS))
        missing = sorted(set(REQUIRED) - set(names))
        if unknown or missing:
            problems = ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) + (
                [f"missing column(s) {', '.join(missing)}"] if missing else []
            )
            yield 1, _fail, "; ".join(problems) + f" (columns: {', '.join(COLUMNS)})"
            return
        idx = {name: i for i, name in enumerate(names)}
        width = len(names)
        get = idx.get
        i_src, i_sys, i_step, i_gpu, i_user = (
            get("source"),
            get("system"),
            get("step"),
            get("gpu_type"),
            get("user"),
        )
        i_cl, i_job, i_acc, i_kind, i_q, i_s, i_e = (
            idx[c] for c in ("cluster", "job_id", "account", "kind", "quantity", "start", "end")
        )
        class_cache: dict[tuple[str, str, str], ResourceClass] = {}
        record = r.record

        def build(row: list[str]) -> tuple:
            if len(row) != width:
                raise _RowError(f"{len(row)} fields, the header has {width}")
            cluster = row[i_cl]
            key = (
                row[i_sys] if i_sys is not None and row[i_sys] else cluster,
                row[i_kind],
                row[i_gpu] if i_gpu is not None else "",
            )
            rc = class_cache.get(key)
            if rc is None:
                rc = class_cache[key] = r.resource_class(*key)
            return record(
                row[i_src] if i_src is not None and row[i_src] else source,
                cluster,
                row[i_job],
                row[i_step] if i_step is not None else "",
                row[i_acc],
                rc,
                row[i_q],
                row[i_s],
                row[i_e],
                row[i_user] if i_user is not None else "",
            )

        for row in reader:
            if row:
                yield reader.line_num, build, row


def _json_records(path: Path, r: _Resolver, source: str) -> Iterator[Row]:
    with _open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            yield e.lineno, _fail, f"not valid JSON: {e.msg}"
            return
    items = data.get("records") if isinstance(data, dict) else data
    if not isinstance(items, list):
        yield 1, _fail, 'expected a list of records or {"records": [...]}'
        return
    build = _dict_builder(r, source)
    for n, item in enumerate(items, start=1):
        yield n, build, item


def _jsonl_records(path: Path, r: _Resolver, source: str) -> Iterator[Row]:
    build = _dict_builder(r, source)
    with _open_text(path) as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                item = json.loads(text)
            except json.JSONDecodeError as e:
                yield line, _fail, f"not valid JSON: {e.msg}"
                continue
            yield line, build, item


_UNIX_START = re.compile(r"UnixStartTime:\s*(-?\d+)")
_NO_START = "the trace's start time is unknown: no UnixStartTime header; set SwfOptions.start"
SKIP = ()  # what a builder returns for an SWF job that never ran


def _swf_records(path: Path, r: _Resolver, source: str, options: SwfOptions) -> Iterator[Row]:
    try:
        rc = r.resource_class(options.system, options.kind, options.gpu_type)
    except _RowError as e:
        yield 0, _fail, f"SWF options: {e}"
        return
    cluster = options.cluster or options.system
    t0 = options.start

    def build(f: list[str]) -> tuple:
        assert t0 is not None
        try:
            submit, wait, run, procs = float(f[1]), float(f[2]), float(f[3]), int(float(f[4]))
            if procs <= 0:
                procs = int(float(f[7]))
        except ValueError:
            raise _RowError("submit, wait, run time and processors must be numbers") from None
        if run <= 0 or procs <= 0:
            return SKIP
        account = options.users.get(f[11]) or options.groups.get(f[12]) or options.default_project
        if not account:
            raise _RowError(f"SWF user {f[11]} / group {f[12]} is not mapped to a project")
        start = t0 + dt.timedelta(seconds=submit + max(wait, 0.0))
        end = start + dt.timedelta(seconds=run)
        quantity = (Decimal(procs) * Decimal(str(run)) / Decimal(3600)).quantize(RECORD_QUANTUM)
        return r.record(
            source,
            cluster,
            f[0],
            "",
            account,
            rc,
            str(quantity),
            start.isoformat(),
            end.isoformat(),
            f"swf-user-{f[11]}",
        )

    with _open_text(path) as fh:
        for line, text in enumerate(fh, start=1):
            text = text.strip()
            if not text:
                continue
            if text.startswith(";"):
                m = _UNIX_START.search(text)
                if m and t0 is None:
                    t0 = dt.datetime.fromtimestamp(int(m.group(1)), tz=dt.UTC)
                continue
            fields = text.split()
            if len(fields) < 18:
                yield line, _fail, f"{len(fields)} fields, SWF has 18"
            elif t0 is None:
                yield line, _fail, _NO_START
                return
            else:
                yield line, build, fields


# --- writers ---------------------------------------------------------------------------------


def _table_and_columns() -> tuple[str, list[str]]:
    meta = UsageRecord._meta
    return meta.db_table, [meta.get_field(name).column for name in _DB_COLUMNS]


class _Writer:
    """Inserts batches, skipping rows whose idempotency key exists (no UPDATE, ever)."""

    def __init__(self) -> None:
        self.table, self.columns = _table_and_columns()
        self.vendor = connection.vendor
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        connection.ensure_connection()
        self.raw = connection.connection
        if self.vendor == "sqlite":
            self._prepare_sqlite(cols)
        elif self.vendor == "postgresql":
            self._prepare_postgresql(cols)
        self.inserted = 0

    def _prepare_sqlite(self, cols: str) -> None:
        # A bigger page cache keeps index pages in memory for inserts with random keys.
        with connection.cursor() as c:
            c.execute("PRAGMA cache_size = -262144")
        marks = ", ".join("?" * len(self.columns))
        self.sql = f"INSERT OR IGNORE INTO {self.table} ({cols}) VALUES ({marks})"

    def _prepare_postgresql(self, cols: str) -> None:
        with connection.cursor() as c:
            c.execute("DROP TABLE IF EXISTS pg_temp.usage_in")
            c.execute(f"CREATE TEMP TABLE usage_in AS SELECT {cols} FROM {self.table} WITH NO DATA")
            c.execute("ALTER TABLE usage_in ADD COLUMN ordinal bigserial")
        # Binary COPY: the server parses no text (numbers, times) for each row.
        self.copy_sql = f"COPY usage_in ({cols}) FROM STDIN (FORMAT BINARY)"
        self.copy_types = _PG_COPY_TYPES
        key = ", ".join(
            connection.ops.quote_name(UsageRecord._meta.get_field(n).column)
            for n in ("source", "cluster", "job_id", "step", "resource_class")
        )
        match = " AND ".join(f"u.{k} = i.{k}" for k in key.split(", "))
        # A plain insert of the rows whose key is new costs half of ON CONFLICT's speculative
        # insertion; within a batch the first row of a key wins, as it would with ON CONFLICT.
        self.insert_sql = (
            f"INSERT INTO {self.table} ({cols}) SELECT DISTINCT ON ({key}) {cols} "
            f"FROM usage_in i WHERE NOT EXISTS (SELECT 1 FROM {self.table} u WHERE {match}) "
            f"ORDER BY {key}, ordinal"
        )
        # A concurrent import may commit the same keys meanwhile: then this batch is redone
        # with ON CONFLICT, which waits for and skips them.
        self.conflict_sql = (
            f"INSERT INTO {self.table} ({cols}) SELECT {cols} FROM usage_in "
            f"ORDER BY ordinal ON CONFLICT DO NOTHING"
        )

    def submit(self, rows: list[tuple]) -> None:
        self.inserted += self._write(rows)

    def close(self) -> int:
        return self.inserted

    def _write(self, rows: list[tuple]) -> int:
        if self.vendor == "sqlite":
            return self._write_sqlite(rows)
        if self.vendor == "postgresql":
            return self._write_postgresql(rows)
        return self._write_orm(rows)

    def _write_sqlite(self, rows: list[tuple]) -> int:
        cur = self.raw.cursor()
        try:
            cur.executemany(self.sql, rows)
            return cur.rowcount
        finally:
            cur.close()

    def _write_postgresql(self, rows: list[tuple]) -> int:
        import psycopg

        with self.raw.cursor() as cur:
            with cur.copy(self.copy_sql) as copy:
                copy.set_types(self.copy_types)
                for row in rows:
                    copy.write_row(row)
            cur.execute("SAVEPOINT usage_batch")
            try:
                cur.execute(self.insert_sql)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT usage_batch")
                cur.execute(self.conflict_sql)
            inserted = cur.rowcount
            cur.execute("RELEASE SAVEPOINT usage_batch")
            cur.execute("TRUNCATE usage_in")
            return inserted

    def _write_orm(self, rows: list[tuple]) -> int:
        """Any other database: through the ORM, counting what was new."""
        foreign_keys = ("project", "resource_class", "allocation", "batch")
        names = [f"{n}_id" if n in foreign_keys else n for n in _DB_COLUMNS]
        before = UsageRecord.objects.count()
        UsageRecord.objects.bulk_create(
            [UsageRecord(**dict(zip(names, row, strict=True))) for row in rows],
            ignore_conflicts=True,
        )
        return UsageRecord.objects.count() - before


# The COPY types of the _DB_COLUMNS, in order.
_PG_COPY_TYPES = [
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "int8",
    "int8",
    "int8",
    "varchar",
    "timestamptz",
    "timestamptz",
    "date",
    "numeric",
    "numeric",
    "numeric",
    "int8",
]


# --- the service ---------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    if ext in ("ndjson", "jsonl"):
        return "jsonl"
    if ext in FORMATS:
        return ext
    raise ValidationError(
        f"cannot tell the format of {path.name}: give fmt= one of {', '.join(FORMATS)}"
    )


def _trace_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".swf"):
        name = name.removesuffix(suffix)
    return name


def import_usage(
    path: str | Path,
    fmt: str | None = None,
    *,
    source: str | None = None,
    progress: Progress | None = None,
    swf: SwfOptions | None = None,
    swf_mapping: str | Path | None = None,
    cluster: str | None = None,
) -> ImportResult:
    """Import a usage file (see docs/accounting.md) whole or not at all; return what happened.

    ``fmt``: csv, json, jsonl or swf (default: from the file name). ``source``: the default for
    records without a source column (default: the format name; for SWF ``swf:<file stem>``).
    SWF traces need ``swf`` options, or ``swf_mapping``, a JSON file with the same keys;
    ``cluster`` (SWF only) sets the system slug the trace ran on, overriding the options.
    Raises :class:`ImportRefused` if any line is bad.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ValidationError(f"unknown usage format '{fmt}': use one of {', '.join(FORMATS)}")
    if fmt == "swf":
        if swf is None and swf_mapping is not None:
            swf = SwfOptions.from_json(swf_mapping, system=cluster)
        if swf is None:
            raise ValidationError(
                "an SWF trace needs a mapping of SWF users/groups to projects and the resource "
                "class: SwfOptions, or a JSON mapping file (keys: system, kind, gpu_type, users, "
                "groups, default_project, start; see docs/accounting.md)"
            )
        if cluster:
            swf = dataclasses.replace(swf, system=cluster)
    default_source = source or (f"swf:{_trace_name(path)}"[:50] if fmt == "swf" else fmt)
    total = _count_lines(path) - (1 if fmt == "csv" else 0) if fmt != "json" else None

    def rows(r: _Resolver) -> Iterator[Row]:
        if fmt == "csv":
            return _csv_records(path, r, default_source)
        if fmt == "json":
            return _json_records(path, r, default_source)
        if fmt == "jsonl":
            return _jsonl_records(path, r, default_source)
        assert swf is not None
        return _swf_records(path, r, default_source, swf)

    return _run(rows, source=default_source, filename=str(path), total=total, progress=progress)


def import_records(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str,
    filename: str = "",
    progress: Progress | None = None,
) -> ImportResult:
    """Import records given as dicts with the JSON fields (for the Slurm bridge and tests)."""
    items = list(records)

    def rows(r: _Resolver) -> Iterator[Row]:
        build = _dict_builder(r, source)
        for n, item in enumerate(items, start=1):
            yield n, build, item

    return _run(rows, source=source, filename=filename, total=len(items), progress=progress)


@dataclass
class _Scan:
    """What validating a whole file found (besides the rows)."""

    errors: list[LineError] = field(default_factory=list)
    n_errors: int = 0
    read: int = 0
    skipped: int = 0
    unallocated: int = 0
    unallocated_examples: list[dict[str, Any]] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)


def _scan(
    rows: Iterator[Row], resolver: _Resolver, scan: _Scan
) -> Iterator[tuple[list[tuple] | None, int]]:
    """Validate every row; yield (batch, records read so far) to write, and (None, n) once at the
    first bad line, after which nothing more is yielded for writing but validation goes on."""
    pending: list[tuple] = []
    for line, build, arg in rows:
        try:
            rec = build(arg)
        except _RowError as e:
            scan.n_errors += 1
            if len(scan.errors) < MAX_REPORTED_ERRORS:
                scan.errors.append(LineError(line, str(e)))
            if scan.n_errors == 1:
                pending = []
                yield None, scan.read
            continue
        if rec is SKIP:
            scan.skipped += 1
            continue
        scan.read += 1
        if scan.n_errors:
            continue  # keep validating to report more errors, but write nothing
        pending.append(rec)
        if len(pending) >= BATCH_SIZE:
            yield pending, scan.read
            pending = []
    if pending and not scan.n_errors:
        yield pending, scan.read
    scan.unallocated = resolver.unallocated
    scan.unallocated_examples = resolver.unallocated_examples
    scan.touched = resolver.touched


def _scan_in_child(rows: Iterator[Row], resolver: _Resolver, out: Any) -> None:
    """The forked validator: sends batches through the pipe; never touches the database."""
    try:
        scan = _Scan()
        for batch, read in _scan(rows, resolver, scan):
            out.send(("rows", batch, read))
        out.send(("done", scan))
    except BaseException as e:  # reported to the parent, which raises it
        out.send(("crash", f"{type(e).__name__}: {e}"))
    finally:
        out.close()


def _scan_in_parallel(
    rows: Iterator[Row], resolver: _Resolver
) -> Iterator[tuple[list[tuple] | None, int]]:
    """Validate in a forked process while this one writes: uses the second core on big files."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_scan_in_child, args=(rows, resolver, send), daemon=True)
    child.start()
    send.close()
    try:
        while True:
            message = receive.recv()
            if message[0] == "rows":
                yield message[1], message[2]
            elif message[0] == "done":
                scan: _Scan = message[1]
                resolver.scan_result = scan
                return
            else:
                raise RuntimeError(f"usage validation failed: {message[1]}")
    finally:
        receive.close()
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


PARALLEL_MIN_LINES = 200_000  # below this the fork costs more than it saves


def _run(
    rows: Callable[[_Resolver], Iterator[Row]],
    *,
    source: str,
    filename: str,
    total: int | None,
    progress: Progress | None,
) -> ImportResult:
    began = time.perf_counter()
    expected = f"{total} record(s)" if total is not None else "size unknown"
    logger.info("usage import of %s (source %s, %s): started", filename or source, source, expected)
    with transaction.atomic():
        batch = ImportBatch.objects.create(source=source[:50], filename=filename[-500:])
        resolver = _Resolver(batch.pk)
        scan, new = _validate_and_write(rows(resolver), resolver, total, progress)
        if scan.n_errors:
            refused = ImportRefused(filename or source, scan.errors, scan.n_errors)
            logger.warning("usage import refused, nothing imported: %s", refused.message)
            raise refused
        if progress:
            progress(scan.read, total)
        read = scan.read
        batch.records_read, batch.records_new, batch.records_duplicate = read, new, read - new
        batch.save(update_fields=["records_read", "records_new", "records_duplicate"])
        events = balances.update_balances(sorted(scan.touched)) if new else []
    result = ImportResult(
        batch_id=batch.pk,
        source=batch.source,
        filename=batch.filename,
        read=read,
        new=new,
        duplicate=read - new,
        skipped=scan.skipped,
        unallocated=scan.unallocated,
        unallocated_examples=scan.unallocated_examples,
        balance_events=events,
        seconds=time.perf_counter() - began,
    )
    _log_imported(result)
    return result


def _validate_and_write(
    rows: Iterator[Row], resolver: _Resolver, total: int | None, progress: Progress | None
) -> tuple[_Scan, int]:
    """Validate every row, writing batches until the first bad line; return what validation
    found and how many rows were inserted (the caller rolls back if any line was bad)."""
    writer = _Writer()
    scan = _Scan()
    parallel = (
        total or 0
    ) >= PARALLEL_MIN_LINES and "fork" in multiprocessing.get_all_start_methods()
    batches = _scan_in_parallel(rows, resolver) if parallel else _scan(rows, resolver, scan)
    writing = True
    try:
        for pending, read in batches:
            if pending is None:
                writing = False
            elif writing:
                writer.submit(pending)
                if progress:
                    progress(read, total)
    finally:
        new = writer.close()
    return (resolver.scan_result if parallel else scan), new


def _log_imported(result: ImportResult) -> None:
    logger.info(
        "usage import of %s (batch %s): %d read, %d new, %d duplicate, %d skipped, "
        "%d not covered by an allocation (stored uncharged), %d balance event(s), in %.1f s",
        result.filename or result.source,
        result.batch_id,
        result.read,
        result.new,
        result.duplicate,
        result.skipped,
        result.unallocated,
        len(result.balance_events),
        result.seconds,
    )
