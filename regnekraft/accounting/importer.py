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

import codecs
import csv
import ctypes
import dataclasses
import datetime as dt
import gzip
import io
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from regnekraft.allocation.models import Allocation
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Project

from . import aggregates, balances
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
    column: int | None = None  # JSON records and undecodable bytes: where on the line

    def __str__(self) -> str:
        column = "" if self.column is None else f", column {self.column}"
        return f"line {self.line}{column}: {self.message}"


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
        self._rated: dict[tuple[int, int, dt.date], tuple] = {}
        self._utc_hours: dict[tuple[str, dt.timedelta | None], str] = {}
        self._offsets: dict[dt.timedelta | None, str] = {}
        # SQLite and PostgreSQL take the rows as text (SQLite as it stores them, PostgreSQL as
        # CSV for COPY); other databases as Python values, through the ORM.
        self.vendor = connection.vendor
        self.text_rows = self.vendor in ("sqlite", "postgresql")
        self.utc_text = self.vendor == "sqlite"
        # what a batch is sent to the writer as (PostgreSQL: the COPY data, made by the forked
        # validator so the writer only passes it on)
        self.encode: Callable[[list[tuple]], Any] | None = (
            _csv_payload if self.vendor == "postgresql" else None
        )
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
        """Validate one record and return its row for the writer (SQLite and PostgreSQL: text;
        else Python values). Runs once per record: the common case stays on plain comparisons,
        and what depends only on (project, class, usage date) is looked up once (``_rated``)."""
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
        try:
            quantity = Decimal(quantity_text)
            valid = quantity.is_finite() and 0 <= quantity <= MAX_QUANTITY
        except (InvalidOperation, TypeError):
            valid = False
        if not valid:
            _quantity(quantity_text)  # raises, saying what is wrong
        zone = self.zone
        try:
            start = _fromisoformat(start_text)
            end = _fromisoformat(end_text)
        except (ValueError, TypeError):
            start, end = self._period(start_text, end_text)  # raises, naming the bad one
        if start.tzinfo is None:
            start = start.replace(tzinfo=zone)
        if end.tzinfo is None:  # local time: its date is the usage date
            end = end.replace(tzinfo=zone)
            day = end.date()
        else:
            day = end.astimezone(zone).date()
        if end < start or start.year < 1970 or end.year > 2200:
            self._period(start_text, end_text)  # raises, saying what is wrong
        rated = self._rated.get((project_id, rc.id, day))
        if rated is None:
            rated = self._rate_day(project_id, rc, day)
        allocation_id, unit_price, texts = rated
        if allocation_id is None:
            self._note_unallocated(account, rc, day, job_id)
            charge = _ZERO4
        else:
            charge = (quantity * unit_price).quantize(RECORD_QUANTUM, ROUND_HALF_UP)
            if charge >= MAX_CHARGE:
                raise _RowError(
                    f"charge {charge} NOK is larger than a record can hold ({MAX_CHARGE})"
                )
        quantity = quantity.quantize(RECORD_QUANTUM, ROUND_HALF_UP)
        if texts is not None:
            # SQLite keeps datetimes as UTC text, the way Django writes them; PostgreSQL reads
            # ISO 8601 with the offset.
            day_text, price_text = texts
            time_text = self._time_text
            return (
                source,
                cluster,
                job_id,
                step,
                project_id,
                rc.id,
                allocation_id,
                user,
                time_text(start_text, start),
                time_text(end_text, end),
                day_text,
                str(quantity),
                price_text,
                str(charge),
                self.batch_id,
            )
        return (
            source,
            cluster,
            job_id,
            step,
            project_id,
            rc.id,
            allocation_id,
            user,
            start,
            end,
            day,
            quantity,
            unit_price,
            charge,
            self.batch_id,
        )

    def _time_text(self, text: str, value: dt.datetime) -> str:
        """``value`` (parsed from ``text``) as the writer's text: SQLite's UTC text, or ISO 8601
        with the offset for PostgreSQL. Formatting a datetime costs more than the rest of a
        record, so the common forms (``YYYY-MM-DDTHH:MM:SS``, with ``Z``, an offset or none) are
        made from the text: the offset is added to a local time for PostgreSQL; for SQLite the
        UTC date and hour of each (local date and hour, offset) are worked out once."""
        n = len(text)
        if not (
            (n == 19 or (n == 20 and text[19] == "Z") or (n == 25 and text[19] in "+-"))
            and text[4] == "-"
            and text[7] == "-"
            and text[10] in "T "
            and text[13] == ":"
            and text[16] == ":"
            and (n != 25 or text[22] == ":")
        ):
            return _utc_text(value) if self.utc_text else str(value)
        offset = value.utcoffset()
        if self.utc_text:
            hour = self._utc_hours.get((text[:13], offset))
            if hour is None:
                if offset is None or offset.seconds % 3600:
                    return _utc_text(value)
                hour = _utc_text(value)[:13]
                self._utc_hours[(text[:13], offset)] = hour
            return hour + text[13:19]
        if n != 19:
            return text
        suffix = self._offsets.get(offset)
        if suffix is None:
            suffix = self._offsets[offset] = str(value)[19:]
        return text + suffix

    def _rate_day(
        self, project_id: int, rc: ResourceClass, day: dt.date
    ) -> tuple[int | None, Decimal, tuple[str, str] | None]:
        """(allocation, unit price, the texts of day and price for text rows) for the project's
        use of the class on ``day``; kept in ``_rated``."""
        allocation_id, unit_price, _ = self._rate(project_id, rc, _ZERO4, day)
        texts = (day.isoformat(), str(unit_price)) if self.text_rows else None
        rated = (allocation_id, unit_price, texts)
        self._rated[(project_id, rc.id, day)] = rated
        if allocation_id is not None:
            self.touched.add(allocation_id)
        return rated

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
_fromisoformat = dt.datetime.fromisoformat


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


# --- readers: each yields (where, build, argument); build(argument) -> row or SKIP -----------
# ``where`` is the line number, or (line, column) where a line holds more than one record.

Where = int | tuple[int, int]
Row = tuple[Where, Callable[[Any], tuple], Any]


def _fail(message: str) -> tuple:
    raise _RowError(message)


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _open_text(path: Path) -> TextIO:
    """The file as UTF-8 text (strict: a byte that is not UTF-8 raises UnicodeDecodeError, which
    each reader turns into :func:`_bad_utf8`)."""
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8", newline="")


# What reading a file can raise besides a bad line: bytes that are not UTF-8, a damaged gzip
# file. Each reader catches these and yields one error row for them (see _unreadable).
_UNREADABLE = (UnicodeDecodeError, OSError, EOFError, zlib.error)


def _unreadable(path: Path, error: BaseException) -> Row:
    """The error row for a file that cannot be read on: where its first byte that is not UTF-8
    is (line, column and the bytes), or what is wrong with the file."""
    if isinstance(error, UnicodeDecodeError):
        return _bad_utf8(path)
    return 0, _fail, f"cannot read {path.name}: {error}"


def _bad_utf8(path: Path) -> Row:
    with _open_binary(path) as f:
        for n, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                column = len(raw[: e.start].decode("utf-8")) + 1
                message = (
                    f"not UTF-8 text: byte(s) {raw[e.start : e.end].hex(' ')} cannot be "
                    f"decoded ({e.reason}); nothing after them was read. Save the file as UTF-8"
                )
                return (n, column), _fail, message
    return 0, _fail, "not UTF-8 text"  # the file changed while it was read


def _nul_message(name: str) -> str:
    return f"{name} contains a NUL character (\\x00), which no field may hold"


def _count_lines(path: Path) -> int | None:
    """The file's lines; None if it cannot be read to the end (its reader says why)."""
    n = 0
    try:
        with _open_binary(path) as f:
            while chunk := f.read(1 << 20):
                n += chunk.count(b"\n")
    except _UNREADABLE:
        return None
    return n


def _dict_builder(r: _Resolver, default_source: str) -> Callable[[Any], tuple]:
    def build(fields: Any) -> tuple:
        if not isinstance(fields, dict):
            raise _RowError("a record must be a JSON object")
        for name, value in fields.items():
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                raise _RowError(_nul_message(f"field {name!r}"))
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
        try:
            header = next(reader, None)
        except _UNREADABLE as e:
            yield _unreadable(path, e)
            return
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
            if "\x00" in "".join(row):
                bad = next(name for name, value in zip(names, row, strict=True) if "\x00" in value)
                raise _RowError(_nul_message(f"field {bad}"))
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

        try:
            for row in reader:
                if row:
                    yield reader.line_num, build, row
        except _UNREADABLE as e:
            yield _unreadable(path, e)


def _json_records(path: Path, r: _Resolver, source: str) -> Iterator[Row]:
    """A JSON list of records, or ``{"records": [...]}``, streamed: one record in memory at a
    time. Records are named by their number ("line 3" = the third record, as the API names
    them); JSON that is not valid by the line and column of the damage."""
    build = _dict_builder(r, source)
    with _open_binary(path) as raw:
        stream = _JsonStream(raw)
        try:
            for where, item in stream.records():
                yield where, build, item
        except _JsonSyntax as e:
            yield stream.where(e.pos), _fail, f"not valid JSON: {e.message}"
        except _UNREADABLE as e:
            yield _unreadable(path, e)


class _JsonSyntax(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_JSON_CHUNK = 1 << 20  # bytes read at a time
MAX_JSON_VALUE = 16 << 20  # characters one record (or any other value) may take


class _JsonStream:
    """A JSON document read a chunk at a time. The structure around the records (the list, the
    object holding it) is walked here; each record is decoded by the standard library's decoder
    (``raw_decode``, in C), so memory stays at about a chunk and a record whatever the file's
    size, and every position is known as a line and column."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.decode = codecs.getincrementaldecoder("utf-8")().decode
        self.decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0  # the next character to read, in buf
        self.eof = False
        self.base = 0  # characters of the file before buf[0]
        self.counted = 0  # newlines are counted in buf up to here
        self.line = 1  # the line at ``counted``
        self.line_start = 0  # where (in the file) that line starts

    def _more(self) -> None:
        """Read the next chunk, dropping what has been read."""
        chunk = self.raw.read(_JSON_CHUNK)
        text = self.decode(chunk, final=not chunk)
        self.eof = not chunk
        self._count(self.pos)
        self.base += self.pos
        self.counted -= self.pos
        self.buf = self.buf[self.pos :] + text
        self.pos = 0

    def _count(self, upto: int) -> None:
        if upto > self.counted:
            n = self.buf.count("\n", self.counted, upto)
            if n:
                self.line += n
                self.line_start = self.base + self.buf.rfind("\n", self.counted, upto) + 1
            self.counted = upto

    def where(self, pos: int) -> tuple[int, int]:
        """(line, column) of ``pos`` in buf, both from 1."""
        self._count(pos)
        return self.line, self.base + pos - self.line_start + 1

    def _error(self, message: str) -> _JsonSyntax:
        return _JsonSyntax(self.pos, message)

    def peek(self) -> str:
        """The next character that is not white space ("" at the end of the file)."""
        while True:
            match = _JSON_SPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self._more()

    def value(self) -> Any:
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self.eof or len(self.buf) - self.pos >= MAX_JSON_VALUE:
                    raise _JsonSyntax(e.pos, e.msg) from None
                self._more()  # the value may go on in the next chunk
                continue
            if end == len(self.buf) and not self.eof:
                self._more()  # a number at the end of the chunk may go on in the next
                continue
            self.pos = end
            return obj

    def records(self) -> Iterator[tuple[int, Any]]:
        """(number, record) of each record: records are named by their number, as in the API
        (docs/accounting.md); a damaged file by the line and column of the damage."""
        first = self.peek()
        if first == "[":
            yield from self._array()
        elif first == "{":
            yield from self._object()
        else:
            raise self._error('expected a list of records or {"records": [...]}')
        if self.peek():
            raise self._error("more data after the records")

    def _object(self) -> Iterator[tuple[int, Any]]:
        self.pos += 1
        found = False
        c = self.peek()
        while c != "}":
            if c != '"':
                raise self._error("expecting a property name in double quotes")
            key = self.value()
            if self.peek() != ":":
                raise self._error("expecting ':' after a property name")
            self.pos += 1
            if key != "records":
                self.peek()
                self.value()  # another property: read and left out
            elif self.peek() != "[" or found:
                raise self._error('"records" must be given once, as a list of records')
            else:
                found = True
                yield from self._array()
            c = self.peek()
            if c == "}":
                break
            if c != ",":
                raise self._error("expecting ',' or '}' after a property")
            self.pos += 1
            c = self.peek() or "end of file"
            if c == "}":
                raise self._error("expecting a property name after ','")
        self.pos += 1
        if not found:
            raise self._error('expected a list of records or {"records": [...]}')

    def _array(self) -> Iterator[tuple[int, Any]]:
        self.pos += 1
        if self.peek() == "]":
            self.pos += 1
            return
        n = 0
        while True:
            self.peek()
            n += 1
            yield n, self.value()
            c = self.peek()
            if c == "]":
                self.pos += 1
                return
            if c != ",":
                raise self._error(
                    "expecting ',' or ']' after a record" if c else "the file ends in the records"
                )
            self.pos += 1


def _jsonl_records(path: Path, r: _Resolver, source: str) -> Iterator[Row]:
    build = _dict_builder(r, source)
    with _open_text(path) as f:
        try:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    item = json.loads(text)
                except json.JSONDecodeError as e:
                    yield (line, e.colno), _fail, f"not valid JSON: {e.msg}"
                    continue
                yield line, build, item
        except _UNREADABLE as e:
            yield _unreadable(path, e)


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
        try:
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
                if "\x00" in text:
                    yield line, _fail, _nul_message("the line")
                elif len(fields) < 18:
                    yield line, _fail, f"{len(fields)} fields, SWF has 18"
                elif t0 is None:
                    yield line, _fail, _NO_START
                    return
                else:
                    yield line, build, fields
        except _UNREADABLE as e:
            yield _unreadable(path, e)


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
        # CSV made by the validator (_csv_payload): an empty text field is an empty string, an
        # empty allocation is NULL.
        text = ", ".join(
            connection.ops.quote_name(UsageRecord._meta.get_field(n).column)
            for n in ("source", "cluster", "job_id", "step", "username")
        )
        options = f"(FORMAT csv, FORCE_NOT_NULL ({text}))"
        self.copy_direct_sql = f"COPY {self.table} ({cols}) FROM STDIN {options}"
        self.copy_sql = f"COPY usage_in ({cols}) FROM STDIN {options}"
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
        # Batches are copied straight into the table while no key in them is stored yet: the
        # unique index checks each key as it inserts it, which costs nothing extra. The first
        # batch with a stored key (or one key twice) fails; it is rolled back to its savepoint
        # and written through the temporary table, which skips the known keys, as are the next
        # batches until `careful` of them in a row held no stored key (doubling at each failure,
        # so a file of re-imported records costs one failed batch, not one in two).
        self.direct = True
        self.careful = 0
        self.backoff = 1

    def submit(self, rows: list[tuple] | bytes) -> None:
        self.inserted += self._write(rows)

    def close(self) -> int:
        return self.inserted

    def _write(self, rows: list[tuple] | bytes) -> int:
        if self.vendor == "postgresql":
            return self._write_postgresql(rows)
        assert isinstance(rows, list)
        if self.vendor == "sqlite":
            return self._write_sqlite(rows)
        return self._write_orm(rows)

    def _write_sqlite(self, rows: list[tuple]) -> int:
        cur = self.raw.cursor()
        try:
            cur.executemany(self.sql, rows)
            return cur.rowcount
        finally:
            cur.close()

    def _write_postgresql(self, rows: list[tuple] | bytes) -> int:
        import psycopg

        payload = rows if isinstance(rows, bytes) else _csv_payload(rows)
        with self.raw.cursor() as cur:
            if self.direct:
                cur.execute("SAVEPOINT usage_batch")
                try:
                    with cur.copy(self.copy_direct_sql) as copy:
                        copy.write(payload)
                except psycopg.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT usage_batch")
                    cur.execute("RELEASE SAVEPOINT usage_batch")
                    self.direct = False
                    self.careful = self.backoff
                    self.backoff *= 2
                else:
                    inserted = cur.rowcount
                    cur.execute("RELEASE SAVEPOINT usage_batch")
                    return inserted
            with cur.copy(self.copy_sql) as copy:
                copy.write(payload)
            copied = cur.rowcount
            cur.execute("SAVEPOINT usage_batch")
            try:
                cur.execute(self.insert_sql)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT usage_batch")
                cur.execute(self.conflict_sql)
            inserted = cur.rowcount
            cur.execute("RELEASE SAVEPOINT usage_batch")
            cur.execute("TRUNCATE usage_in")
            if inserted == copied:  # no key of this batch was stored
                self.careful -= 1
                self.direct = self.careful <= 0
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


def _csv_payload(rows: list[tuple]) -> bytes:
    """Rows (text, as _Resolver.record makes them for PostgreSQL) as COPY's CSV, a line each,
    ended by CRLF. None (no allocation) is an empty unquoted field, which COPY reads as NULL
    (the text columns are FORCE_NOT_NULL, so an empty step or user stays an empty string).
    Only the text fields from the file (source, cluster, job, step, user) can hold a comma, a
    quote, CR or LF: a row where one does goes through the csv module, which quotes it; the
    rest are joined here, which is three times faster."""
    lines = []
    add = lines.append
    quoted = io.StringIO()
    write = csv.writer(quoted, lineterminator="\r\n").writerow
    for r in rows:
        text = r[0] + r[1] + r[2] + r[3] + r[7]
        if "," in text or '"' in text or "\n" in text or "\r" in text:
            quoted.seek(0)
            quoted.truncate()
            write(r)
            add(quoted.getvalue())
            continue
        add(
            f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]},{'' if r[6] is None else r[6]},{r[7]},"
            f"{r[8]},{r[9]},{r[10]},{r[11]},{r[12]},{r[13]},{r[14]}\r\n"
        )
    return "".join(lines).encode()


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
    lines = _count_lines(path) if fmt != "json" else None
    total = lines - (1 if fmt == "csv" else 0) if lines is not None else None

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


def _line_error(where: Where, message: str) -> LineError:
    if isinstance(where, tuple):
        return LineError(where[0], message, where[1])
    return LineError(where, message)


class _SeenKeys:
    """The idempotency keys of one file, to find a key given twice with two quantities: the file
    contradicts itself, and is refused naming both places. A key twice with the same quantity
    is a duplicate, as a key already stored is (the writers keep the first).

    Kept compactly, 24 bytes per record in three arrays (the hash of the key, the hash of the
    quantity, where it is), and compared once at the end by sorting, so a file of millions of
    records stays small in memory. A Decimal's hash is exact for the quantities a record holds;
    two different keys with the same 64-bit string hash and different quantities (odds of about
    one in 30 million for a file of a million records, and new on every run, as string hashes
    are seeded per process) would refuse the file naming two lines that differ."""

    def __init__(self) -> None:
        self.keys = array("q")
        self.quantities = array("q")
        self.places = array("q")  # line << 32 | column
        self.add_key = self.keys.append
        self.add_quantity = self.quantities.append
        self.add_place = self.places.append

    def add(self, where: Where, rec: tuple) -> None:
        # rec: the writer's row, _DB_COLUMNS order (key: 0-3 and 5; quantity: 11)
        self.add_key(hash((rec[0], rec[1], rec[2], rec[3], rec[5])))
        self.add_quantity(hash(rec[11]))
        self.add_place(where << 32 if where.__class__ is int else where[0] << 32 | where[1])

    def conflicts(self) -> list[tuple[Where, str]]:
        """(where, message) of each record whose key came before with another quantity."""
        import numpy as np

        if len(self.keys) < 2:
            return []
        keys = np.frombuffer(self.keys, dtype=np.int64)
        order = np.argsort(keys, kind="stable")  # stable: file order within a key
        keys = keys[order]
        repeated = keys[1:] == keys[:-1]
        if not repeated.any():
            return []
        starts = np.flatnonzero(np.concatenate(([True], ~repeated)))
        first = np.repeat(starts, np.diff(np.append(starts, len(keys))))
        quantities = np.frombuffer(self.quantities, dtype=np.int64)[order]
        places = np.frombuffer(self.places, dtype=np.int64)[order]
        found = []
        for i in np.flatnonzero(quantities != quantities[first]):
            place, earlier = int(places[i]), int(places[first[i]])
            at = f"line {earlier >> 32}" + (
                f", column {earlier & 0xFFFFFFFF}" if earlier & 0xFFFFFFFF else ""
            )
            message = (
                f"the same source, cluster, job id, step and resource class as on {at}, with "
                "another quantity: the file contradicts itself; keep one of the two"
            )
            column = place & 0xFFFFFFFF
            found.append(((place >> 32, column) if column else place >> 32, message))
        return sorted(found, key=lambda c: c[0] if isinstance(c[0], tuple) else (c[0], 0))


def _note_error(scan: _Scan, where: Where, message: str) -> None:
    scan.n_errors += 1
    if len(scan.errors) < MAX_REPORTED_ERRORS:
        scan.errors.append(_line_error(where, message))


def _scan(
    rows: Iterator[Row], resolver: _Resolver, scan: _Scan
) -> Iterator[tuple[list[tuple] | bytes | None, int]]:
    """Validate every row; yield (batch, records read so far) to write, and (None, n) once at the
    first bad line, after which nothing more is yielded for writing but validation goes on."""
    pending: list[tuple] = []
    seen = _SeenKeys()
    for where, build, arg in rows:
        try:
            rec = build(arg)
        except _RowError as e:
            _note_error(scan, where, str(e))
            if scan.n_errors == 1:
                pending = []
                yield None, scan.read
            continue
        if rec is SKIP:
            scan.skipped += 1
            continue
        scan.read += 1
        seen.add(where, rec)
        if scan.n_errors:
            continue  # keep validating to report more errors, but write nothing
        pending.append(rec)
        if len(pending) >= BATCH_SIZE:
            yield pending, scan.read
            pending = []
    for where, message in seen.conflicts():
        _note_error(scan, where, message)
    if pending and not scan.n_errors:
        yield pending, scan.read
    scan.unallocated = resolver.unallocated
    scan.unallocated_examples = resolver.unallocated_examples
    scan.touched = resolver.touched


# --- the forked validator --------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_INHERITED: list[Any] = []  # the parent's database connections, kept unclosed in the child


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process (SIGKILL) when the parent dies, even by ``kill -9``
    (Linux; elsewhere the child ends at its next send, on the broken pipe). The signal comes
    when the thread that forked ends: the import waits for the child in that thread."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            logger.warning("usage validator: prctl(PR_SET_PDEATHSIG) is not available")
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _no_database(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError(
        "the forked usage validator must not use the database: everything it needs is loaded "
        "before the fork (accounting/importer.py: _Resolver)"
    )


def _detach_from_database() -> None:
    """In the forked child: let go of the parent's database connections without closing them.

    Closing would act on the parent's session: psycopg's close sends the server a Terminate
    message on the socket both processes share, and SQLite would roll back the parent's open
    transaction. So the child's copy of a PostgreSQL socket is replaced by /dev/null (the
    parent's stays open, and when the parent dies the server sees the connection end and rolls
    the import back), the connection objects are kept alive until the child leaves through
    ``os._exit`` (so no finaliser runs), and using the database in the child raises."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for conn in connections.all(initialized_only=True):
            raw = conn.connection
            if raw is not None:
                _INHERITED.append(raw)
                if conn.vendor == "postgresql":
                    os.dup2(devnull, raw.fileno())
            conn.connection = None
            conn.connect = _no_database  # type: ignore[method-assign]
    finally:
        os.close(devnull)


def _scan_in_child(
    rows: Iterator[Row], resolver: _Resolver, out: Any, unused: Any, parent_pid: int
) -> None:
    """The forked validator: sends batches through the pipe; never touches the database; ends
    with its parent."""
    _die_with_parent(parent_pid)
    unused.close()  # the pipe's read end: with it closed here, a dead parent breaks the pipe
    _detach_from_database()
    try:
        scan = _Scan()
        encode = resolver.encode
        for batch, read in _scan(rows, resolver, scan):
            out.send(("rows", encode(batch) if encode and batch else batch, read))
        out.send(("done", scan))
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # the parent is gone: nobody to tell
    except BaseException as e:  # reported to the parent, which raises it
        try:
            out.send(("crash", f"{type(e).__name__}: {e}"))
        except OSError:
            os._exit(1)
    finally:
        out.close()


def _scan_in_parallel(
    rows: Iterator[Row], resolver: _Resolver
) -> Iterator[tuple[list[tuple] | bytes | None, int]]:
    """Validate in a forked process while this one writes: uses the second core on big files."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_scan_in_child, args=(rows, resolver, send, receive, os.getpid()), daemon=True
    )
    child.start()
    send.close()
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError:
                child.join(timeout=10)
                raise RuntimeError(
                    f"the usage validator (process {child.pid}) ended without an answer "
                    f"(exit code {child.exitcode})"
                ) from None
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
    for name, text in (("source", source), ("filename", filename)):
        if "\x00" in text:
            raise ValidationError({name: _nul_message(name)})
    expected = f"{total} record(s)" if total is not None else "size unknown"
    logger.info("usage import of %s (source %s, %s): started", filename or source, source, expected)
    with transaction.atomic():
        batch = ImportBatch.objects.create(source=source[:50], filename=filename[-500:])
        resolver = _Resolver(batch.pk)
        after = aggregates.last_record_id()
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
        if new:
            aggregates.add_imported(batch.pk, after)
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
