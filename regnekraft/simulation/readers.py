"""Streaming trace readers: SWF (plain or gzip), Batsim JSON workloads, and CSV.

Each reader is an object with a ``header`` (a dict of what the file says about itself,
e.g. ``MaxProcs`` for SWF or ``nb_res`` for Batsim), ``skipped`` (lines skipped as
malformed when ``skip_malformed`` is true) and ``dropped`` (well-formed jobs that cannot
be simulated: unknown run time or no processors), and yields :class:`Job` objects in
file order when iterated. SWF and CSV are read line by line, so a trace of any length
costs constant memory until the simulator keeps its jobs.

A malformed line raises :class:`TraceError`, whose message names the file and line,
unless ``skip_malformed=True``, in which case it is counted in ``skipped``.

CSV format (one header line, then one job per line; column order is free):

=================  ========  ==================================================
column             required  meaning
=================  ========  ==================================================
job_id             yes       any text
submit_time        yes       seconds from the start of the trace
run_time           yes       seconds the job actually runs
requested_time     no        time limit in seconds (default: run_time)
cores              no        processors asked for (default 1)
nodes              no        explicit node count (overrides cores/gpus/memory)
gpus               no        GPUs asked for (default 0)
memory             no        memory in MB for the whole job (default 0)
user               no        user name
group              no        group (project/sector) name
qos                no        QOS tier name (default ``normal``)
economic           no        1/true if the job is economic activity
zone               no        open / shielded / graded (default open)
countries          no        allowed countries separated by ``;`` (default: any)
min_tier           no        lowest availability tier acceptable (1..3)
=================  ========  ==================================================
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import warnings

import numpy as np

from .columns import TraceColumns, columns_from_jobs
from .model import Job


class TraceError(ValueError):
    """A trace could not be read; the message names the file and line."""

    def __init__(self, path, line, message):
        self.path = str(path)
        self.line = line
        super().__init__(f"{path}:{line}: {message}")


def _open_binary(path):
    path = os.fspath(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _open_text(path):
    path = os.fspath(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _whole(text: str) -> int:
    """An SWF integer field: "12", "012", "12.0" and "1.2e1" are 12; "12.5" is an error."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise ValueError(f"{text!r} is not a whole number") from None
        return int(value)


class SWFReader:
    """Standard Workload Format reader (Parallel Workloads Archive), plain or gzip.

    Header lines (``; Key: value``) are collected in ``header``; ``max_procs`` and
    ``max_nodes`` read ``MaxProcs``/``MaxNodes``. The requested processors (field 8) are
    used when known, else the allocated ones (field 5). The requested time (field 9) is
    the wall-time limit; when it is unknown (-1) the run time is used, i.e. a perfect
    estimate. Jobs with an unknown run time or no processors are dropped and counted in
    ``dropped`` (they cannot be replayed). Ids, processor counts, users and groups are whole
    numbers: ``012`` and ``12.0`` read as 12, so user and group names are their numbers
    without padding, in this line reader and in :meth:`columns` alike.
    """

    format = "swf"

    def __init__(self, path, skip_malformed=False):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        self.skip_malformed = skip_malformed
        self.header: dict[str, str] = {}
        self.skipped = 0
        self.dropped = 0
        self.read_header()

    def read_header(self) -> dict[str, str]:
        """Read only the leading comment lines."""
        self.header = {}
        with _open_text(self.path) as fh:
            for line in fh:
                s = line.strip()
                if not s:
                    continue
                if not s.startswith(";"):
                    break
                body = s[1:].strip()
                if ":" in body:
                    k, v = body.split(":", 1)
                    k = k.strip()
                    if k and " " not in k and k not in self.header:
                        self.header[k] = v.strip()
        return self.header

    def _int_header(self, key):
        v = self.header.get(key)
        try:
            return int(float(v.split()[0])) if v else None
        except (ValueError, IndexError):
            return None

    @property
    def max_procs(self):
        return self._int_header("MaxProcs")

    @property
    def max_nodes(self):
        return self._int_header("MaxNodes")

    def __iter__(self):
        self.skipped = 0
        self.dropped = 0
        skip = self.skip_malformed
        path = self.path
        make = Job
        with _open_text(path) as fh:
            lineno = 0
            for line in fh:
                lineno += 1
                f = line.split()
                if not f or f[0][0] == ";":
                    continue
                try:
                    if len(f) < 18:
                        raise ValueError(f"expected 18 fields, found {len(f)}")
                    run = float(f[3])
                    procs = _whole(f[7])
                    if procs <= 0:
                        procs = _whole(f[4])
                    req = float(f[8])
                    mem = float(f[9])
                    submit = float(f[1])
                    jid = _whole(f[0])
                    user, group = str(_whole(f[11])), str(_whole(f[12]))
                except ValueError as exc:
                    if skip:
                        self.skipped += 1
                        continue
                    raise TraceError(path, lineno, f"malformed SWF line: {exc}") from None
                if run < 0 or procs <= 0 or submit < 0:
                    self.dropped += 1
                    continue
                job = make(
                    jid,
                    submit,
                    run,
                    req if req > 0 else run,
                    procs,
                    0,
                    mem * procs / 1024.0 if mem > 0 else 0.0,
                    0,
                    user,
                    group,
                )
                job.line = lineno
                yield job

    def columns(self) -> TraceColumns:
        """The whole trace as columns, parsed by NumPy's C reader, with the same jobs,
        drops and values as iterating. Anything unusual (a malformed line, fractional
        ids or counts, fewer than 18 fields) goes through the line reader instead, so
        errors name the line exactly as they do there."""
        if self.skip_malformed:
            return columns_from_jobs(self)
        try:
            with _open_binary(self.path) as fh:
                raw = fh.read()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty trace is handled below
                a = np.loadtxt(io.BytesIO(raw), comments=";", dtype=float, ndmin=2)
        except ValueError:
            return columns_from_jobs(self)
        if a.shape[0] == 0 or a.shape[1] < 18:
            return columns_from_jobs(self)
        whole = a[:, [0, 4, 7, 11, 12]]
        if not np.array_equal(whole, np.trunc(whole)):
            return columns_from_jobs(self)
        run, req, mem, submit = a[:, 3], a[:, 8], a[:, 9], a[:, 1]
        procs = np.where(a[:, 7] > 0, a[:, 7], a[:, 4]).astype(np.int64)
        keep = (run >= 0) & (procs > 0) & (submit >= 0)
        self.dropped = int(a.shape[0] - np.count_nonzero(keep))
        self.skipped = 0
        a, run, req, mem, submit, procs = (x[keep] for x in (a, run, req, mem, submit, procs))
        n = a.shape[0]
        return TraceColumns(
            ids=a[:, 0].astype(np.int64).tolist(),
            submit=submit,
            runtime=run,
            walltime=np.where(req > 0, req, run),
            cores=procs,
            gpus=np.zeros(n, np.int64),
            mem=np.where(mem > 0, mem * procs / 1024.0, 0.0),
            nodes=np.zeros(n, np.int64),
            user=a[:, 11].astype(np.int64),
            group=a[:, 12].astype(np.int64),
            economic=np.zeros(n, bool),
            zone=np.zeros(n, np.int8),
            min_tier=np.ones(n, np.int64),
        )


class BatsimReader:
    """Batsim JSON workload: ``nb_res`` and ``jobs`` with ``id``, ``subtime``, ``res``,
    ``walltime`` and ``profile``; the run time is the profile's ``delay``.

    JSON has no line structure to stream, so the file is parsed whole (these workloads
    are small); jobs are yielded sorted by submission time (ties by file order).
    """

    format = "batsim"

    def __init__(self, path, skip_malformed=False):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        self.skip_malformed = skip_malformed
        self.skipped = 0
        self.dropped = 0
        try:
            with _open_text(self.path) as fh:
                self._data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise TraceError(self.path, exc.lineno, f"invalid JSON: {exc.msg}") from None
        self.header = {k: v for k, v in self._data.items() if k not in ("jobs", "profiles")}
        if "jobs" not in self._data:
            raise TraceError(self.path, 1, "a Batsim workload needs a 'jobs' list")

    @property
    def max_procs(self):
        return self.header.get("nb_res")

    max_nodes = max_procs

    def __iter__(self):
        self.skipped = 0
        self.dropped = 0
        profiles = self._data.get("profiles", {})
        jobs = []
        for n, j in enumerate(self._data["jobs"]):
            try:
                prof = profiles[j["profile"]] if isinstance(j.get("profile"), str) else j["profile"]
                delay = prof.get("delay")
                if delay is None:
                    raise KeyError(f"profile {j['profile']!r} has no delay")
                res = int(j["res"])
                job = Job(
                    j["id"],
                    float(j["subtime"]),
                    float(delay),
                    float(j["walltime"]),
                    res,
                    0,
                    0.0,
                    res,
                    str(j.get("user", "")),
                    str(j.get("group", "")),
                )
            except (KeyError, TypeError, ValueError) as exc:
                if self.skip_malformed:
                    self.skipped += 1
                    continue
                raise TraceError(self.path, f"job {n}", f"malformed Batsim job: {exc}") from None
            job.line = n + 1
            jobs.append(job)
        jobs.sort(key=lambda jb: jb.submit)
        yield from jobs


_TRUE = {"1", "true", "yes", "y", "t"}


class CSVReader:
    """CSV workload in the documented format (see the module docstring)."""

    format = "csv"

    def __init__(self, path, skip_malformed=False):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        self.skip_malformed = skip_malformed
        self.skipped = 0
        self.dropped = 0
        with _open_text(self.path) as fh:
            first = fh.readline()
        cols = next(csv.reader([first]), [])
        self.header = {"columns": [c.strip() for c in cols]}
        missing = {"job_id", "submit_time", "run_time"} - set(self.header["columns"])
        if missing:
            raise TraceError(self.path, 1, f"CSV header lacks {', '.join(sorted(missing))}")

    max_procs = None
    max_nodes = None

    def __iter__(self):
        self.skipped = 0
        self.dropped = 0
        with _open_text(self.path) as fh:
            rd = csv.reader(fh)
            cols = [c.strip() for c in next(rd)]
            ix = {c: i for i, c in enumerate(cols)}
            ncol = len(cols)

            def get(row, name, default=""):
                i = ix.get(name)
                if i is None:
                    return default
                v = row[i].strip()
                return v if v != "" else default

            for lineno, row in enumerate(rd, start=2):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                try:
                    if len(row) != ncol:
                        raise ValueError(f"expected {ncol} columns, found {len(row)}")
                    run = float(get(row, "run_time"))
                    req = float(get(row, "requested_time", -1))
                    countries = get(row, "countries", "")
                    job = Job(
                        get(row, "job_id"),
                        float(get(row, "submit_time")),
                        run,
                        req if req > 0 else run,
                        int(float(get(row, "cores", 1))),
                        int(float(get(row, "gpus", 0))),
                        float(get(row, "memory", 0)),
                        int(float(get(row, "nodes", 0))),
                        get(row, "user"),
                        get(row, "group"),
                        get(row, "qos", "normal"),
                        get(row, "economic", "0").lower() in _TRUE,
                        get(row, "zone", "open"),
                        frozenset(c.strip() for c in countries.split(";") if c.strip()) or None,
                        int(float(get(row, "min_tier", 1))),
                    )
                    if job.zone not in ("open", "shielded", "graded"):
                        raise ValueError(f"unknown zone {job.zone!r}")
                    if run < 0 or job.submit < 0:
                        raise ValueError("negative time")
                except ValueError as exc:
                    if self.skip_malformed:
                        self.skipped += 1
                        continue
                    raise TraceError(self.path, lineno, f"malformed CSV line: {exc}") from None
                job.line = lineno
                yield job


def open_trace(path, fmt=None, skip_malformed=False):
    """Open a trace by format name or by its file name (``.swf``, ``.swf.gz``, ``.json``,
    ``.csv``, each optionally gzipped)."""
    p = os.fspath(path)
    if fmt is None:
        low = p.lower()
        if low.endswith(".gz"):
            low = low[:-3]
        if low.endswith(".json"):
            fmt = "batsim"
        elif low.endswith(".csv"):
            fmt = "csv"
        else:
            fmt = "swf"
    readers = {"swf": SWFReader, "batsim": BatsimReader, "json": BatsimReader, "csv": CSVReader}
    if fmt not in readers:
        raise ValueError(f"unknown trace format {fmt!r}")
    if not os.path.exists(p):
        raise FileNotFoundError(p)
    return readers[fmt](p, skip_malformed=skip_malformed)


def write_csv_trace(jobs, path):
    """Write jobs in the documented CSV format (used by tests and the synthetic generator)."""
    cols = [
        "job_id",
        "submit_time",
        "run_time",
        "requested_time",
        "cores",
        "nodes",
        "gpus",
        "memory",
        "user",
        "group",
        "qos",
        "economic",
        "zone",
        "countries",
        "min_tier",
    ]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for j in jobs:
            w.writerow(
                [
                    j.id,
                    repr(j.submit),
                    repr(j.runtime),
                    repr(j.walltime),
                    j.cores,
                    j.nodes,
                    j.gpus,
                    j.mem,
                    j.user,
                    j.group,
                    j.qos,
                    int(j.economic),
                    j.zone,
                    ";".join(sorted(j.countries)) if j.countries else "",
                    j.min_tier,
                ]
            )
