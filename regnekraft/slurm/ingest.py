"""Pull direction (Slurm -> platform): usage records from Slurm accounting.

``sacct`` is asked for every job that was eligible, running or ended in a time window,
with an explicit ``--format`` (or ``--json``), all users, and ``--duplicates`` so that
each run of a requeued or preempted job is its own record. Times come back as epoch
seconds (``SLURM_TIME_FORMAT=%s``).

A record is a plain dict; its ``key`` is the idempotency key the platform stores usage
under: ``slurm:<cluster>:<job id>:<step>:<attempt>``. ``step`` is ``""`` for the job
allocation (the line that is charged) and ``batch``/``extern``/``0``/... for steps (kept
for detail, never charged); ``attempt`` is the run's submit time, because a requeued job
keeps its job id but each run gets its own accounting row with a new submit time.

Ingesting the same window twice gives the same keys, so the caller's upsert makes a
second run harmless; the watermark (a ``state.WatermarkStore``: a database table, or a
file without a database) moves only after a run succeeded (and, when the usage is stored,
in the same transaction as the usage: ``regnekraft.accounting.slurm_usage``),
and each run starts ``overlap`` before it, so that records slurmctld delivers late to
slurmdbd (after an outage of slurmdbd) are still picked up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .spec import parse_tres
from .state import WatermarkStore

logger = logging.getLogger(__name__)

Runner = Callable[..., str]

SACCT_FIELDS = (
    "Cluster",
    "JobID",
    "JobIDRaw",
    "JobName",
    "Account",
    "User",
    "QOS",
    "Partition",
    "State",
    "Reason",
    "Submit",
    "Eligible",
    "Start",
    "End",
    "ElapsedRaw",
    "TimelimitRaw",
    "NCPUS",
    "NNodes",
    "NodeList",
    "AllocTRES",
    "ReqTRES",
    "ConsumedEnergyRaw",
    "ExitCode",
)
# States after which a run's numbers no longer change.
FINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "PREEMPTED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "REQUEUED",
        "REVOKED",
    }
)
OPEN_STATES = frozenset(
    {
        "RUNNING",
        "SUSPENDED",
        "COMPLETING",
        "RESIZING",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "SIGNALING",
        "STAGE_OUT",
    }
)
DEFAULT_OVERLAP_S = 6 * 3600
DEFAULT_FIRST_LOOKBACK_S = 7 * 24 * 3600


def _epoch(text: str | int | None) -> int | None:
    if text is None:
        return None
    if isinstance(text, int):
        return text or None
    text = text.strip()
    if text.isdigit():
        return int(text) or None
    return None  # "Unknown", "None", ""


def _int(text: str | int | None) -> int:
    if isinstance(text, int):
        return text
    text = (text or "").strip()
    return int(text) if text.isdigit() else 0


def _split_job_id(raw: str) -> tuple[str, str]:
    """``"42.batch"`` -> ``("42", "batch")``; ``"42"`` -> ``("42", "")``;
    heterogeneous ``"42+0.0"`` keeps ``42+0`` as the job part."""
    if "." in raw:
        job, step = raw.split(".", 1)
        return job, step
    return raw, ""


def make_record(
    *,
    cluster: str,
    job_id: str,
    step: str,
    display_id: str,
    account: str,
    user: str,
    qos: str,
    partition: str,
    state: str,
    reason: str,
    submit: int | None,
    eligible: int | None,
    start: int | None,
    end: int | None,
    elapsed_s: int,
    timelimit_min: int | None,
    ncpus: int,
    nnodes: int,
    nodes: str,
    alloc_tres: Mapping[str, int],
    req_tres: Mapping[str, int],
    energy_j: int | None,
    exit_code: str,
    name: str,
    project: str | None,
) -> dict[str, Any]:
    state_word = state.split()[0].upper() if state else ""
    attempt = submit or 0
    started = start is not None and elapsed_s > 0
    tres_seconds = {k: v * elapsed_s for k, v in alloc_tres.items()} if started else {}
    return {
        "key": f"slurm:{cluster}:{job_id}:{step}:{attempt}",
        "source": "slurm",
        "cluster": cluster,
        "job_id": job_id,
        "job_display_id": display_id,
        "step": step,
        "attempt": attempt,
        "name": name,
        "account": account,
        "project": project,
        "user": user,
        "qos": qos,
        "partition": partition,
        "state": state_word,
        "state_detail": state,
        "reason": reason,
        "final": state_word in FINAL_STATES,
        "submit": submit,
        "eligible": eligible,
        "start": start,
        "end": end,
        "elapsed_s": elapsed_s,
        "timelimit_min": timelimit_min,
        "ncpus": ncpus,
        "nnodes": nnodes,
        "nodes": nodes,
        "alloc_tres": dict(alloc_tres),
        "req_tres": dict(req_tres),
        "tres_seconds": tres_seconds,
        "cpu_hours": tres_seconds.get("cpu", 0) / 3600,
        "gpu_hours": tres_seconds.get("gres/gpu", 0) / 3600,
        # billing is in units of one CPU-hour's price (TRESBillingWeights), see docs/slurm.md
        "billing_hours": tres_seconds.get("billing", 0) / 3600,
        "energy_j": energy_j,
        "exit_code": exit_code,
        "chargeable": step == "" and started,
    }


def parse_parsable(
    text: str, account_map: Mapping[str, str] | None = None, fields: Sequence[str] = SACCT_FIELDS
) -> list[dict[str, Any]]:
    """Records from ``sacct --parsable2 --noheader --format=<fields>`` output."""
    return list(iter_parsable(text.splitlines(), account_map, fields))


def iter_parsable(
    lines: Iterable[str],
    account_map: Mapping[str, str] | None = None,
    fields: Sequence[str] = SACCT_FIELDS,
) -> Iterator[dict[str, Any]]:
    """Records one by one from the lines of ``sacct --parsable2 --noheader`` (as they come
    from the process, so memory does not grow with the window)."""
    # sacct prints each run's job line and then that run's steps. A step row carries no
    # user/QOS and its own submit time: take both from the run it follows.
    current: dict[str, dict[str, Any]] = {}
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        r = _parsable_record(line, account_map, fields)
        if r["step"] == "":
            current = {r["job_id"]: r}  # the steps follow their job line
        else:
            parent = current.get(r["job_id"])
            if parent:
                for key in ("user", "qos", "partition"):
                    r[key] = r[key] or parent[key]
                r["attempt"] = parent["attempt"]
                r["key"] = f"slurm:{r['cluster']}:{r['job_id']}:{r['step']}:{r['attempt']}"
        yield r


def _parsable_record(
    line: str, account_map: Mapping[str, str] | None, fields: Sequence[str]
) -> dict[str, Any]:
    parts = line.split("|")
    if len(parts) != len(fields):
        raise ValueError(f"sacct line has {len(parts)} fields, expected {len(fields)}: {line!r}")
    row = dict(zip(fields, parts, strict=True))
    job_id, step = _split_job_id(row["JobIDRaw"])
    energy = row["ConsumedEnergyRaw"].strip()
    return make_record(
        cluster=row["Cluster"],
        job_id=job_id,
        step=step,
        display_id=row["JobID"],
        account=row["Account"],
        user=row["User"],
        qos=row["QOS"],
        partition=row["Partition"],
        state=row["State"],
        reason=row["Reason"],
        submit=_epoch(row["Submit"]),
        eligible=_epoch(row["Eligible"]),
        start=_epoch(row["Start"]),
        end=_epoch(row["End"]),
        elapsed_s=_int(row["ElapsedRaw"]),
        timelimit_min=_int(row["TimelimitRaw"]) if row["TimelimitRaw"].isdigit() else None,
        ncpus=_int(row["NCPUS"]),
        nnodes=_int(row["NNodes"]),
        nodes=row["NodeList"],
        alloc_tres=parse_tres(row["AllocTRES"]),
        req_tres=parse_tres(row["ReqTRES"]),
        energy_j=int(energy) if energy.isdigit() else None,
        exit_code=row["ExitCode"],
        name=row["JobName"],
        project=(account_map or {}).get(row["Account"]),
    )


def _tres_list(items: Iterable[Mapping[str, Any]] | None) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in items or []:
        kind = str(item.get("type", "")).lower()
        name = item.get("name")
        key = f"{kind}/{name}" if name else kind
        if item.get("count") is None:
            continue  # e.g. energy when nothing measured it
        result[key] = int(item["count"])
    return result


def parse_json(text: str, account_map: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Records from ``sacct --json`` (data_parser v0.0.38 on Slurm 22.05); same shape as
    ``parse_parsable`` for the job lines and the steps."""
    data = json.loads(text)
    records = []
    for job in data.get("jobs", []):
        times = job.get("time", {})
        state = job.get("state", {}) or {}
        alloc = _tres_list((job.get("tres") or {}).get("allocated"))
        req = _tres_list((job.get("tres") or {}).get("requested"))
        cluster = job.get("cluster", "")
        job_id = str(job.get("job_id"))
        account = job.get("account") or (job.get("association") or {}).get("account", "")
        submit = _epoch(times.get("submission"))
        start = _epoch(times.get("start"))
        exit_code = job.get("exit_code")
        records.append(
            make_record(
                cluster=cluster,
                job_id=job_id,
                step="",
                display_id=_display_id(job),
                account=account,
                user=job.get("user", ""),
                qos=job.get("qos", ""),
                partition=job.get("partition", ""),
                state=str(state.get("current", "")),
                reason=str(state.get("reason", "")),
                submit=submit,
                eligible=_epoch(times.get("eligible")),
                start=start,
                end=_epoch(times.get("end")),
                elapsed_s=int(times.get("elapsed") or 0),
                timelimit_min=_limit_minutes(times.get("limit")),
                ncpus=int((job.get("required") or {}).get("CPUs") or alloc.get("cpu", 0)),
                nnodes=int(job.get("allocation_nodes") or 0),
                nodes=str(job.get("nodes", "")),
                alloc_tres=alloc,
                req_tres=req,
                energy_j=None,
                exit_code=_exit_code(exit_code),
                name=job.get("name", ""),
                project=(account_map or {}).get(account),
            )
        )
        for step in job.get("steps", []):
            step_id = str((step.get("step") or {}).get("id", ""))
            step_name = step_id.split(".", 1)[1] if "." in step_id else step_id
            stimes = step.get("time", {})
            stres = _tres_list((step.get("tres") or {}).get("allocated"))
            energy = (step.get("statistics") or {}).get("energy", {}).get("consumed")
            records.append(
                make_record(
                    cluster=cluster,
                    job_id=job_id,
                    step=step_name,
                    display_id=f"{job_id}.{step_name}",
                    account=account,
                    user=job.get("user", ""),
                    qos=job.get("qos", ""),
                    partition=job.get("partition", ""),
                    state=str(step.get("state", "")),
                    reason="",
                    submit=submit,
                    eligible=None,
                    start=_epoch(stimes.get("start")),
                    end=_epoch(stimes.get("end")),
                    elapsed_s=int(stimes.get("elapsed") or 0),
                    timelimit_min=None,
                    ncpus=stres.get("cpu", 0),
                    nnodes=int((step.get("nodes") or {}).get("count") or 0),
                    nodes=str((step.get("nodes") or {}).get("range", "")),
                    alloc_tres=stres,
                    req_tres={},
                    energy_j=int(energy) if isinstance(energy, int) else None,
                    exit_code=_exit_code(step.get("exit_code")),
                    name=str((step.get("step") or {}).get("name", "")),
                    project=(account_map or {}).get(account),
                )
            )
    return records


def _exit_code(value: Any) -> str:
    """``{"return_code": 0, "signal": {"signal_id": 9}}`` -> ``"0:9"`` like sacct prints."""
    if not isinstance(value, Mapping):
        return ""
    signal = value.get("signal")
    signal_id = signal.get("signal_id", 0) if isinstance(signal, Mapping) else 0
    return f"{value.get('return_code') or 0}:{signal_id or 0}"


def _display_id(job: Mapping[str, Any]) -> str:
    array = job.get("array") or {}
    if array.get("job_id") and array.get("task_id") is not None:
        return f"{array['job_id']}_{array['task_id']}"
    return str(job.get("job_id"))


def _limit_minutes(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, dict) and value.get("set") and not value.get("infinite"):
        return int(value.get("number", 0))
    return None


@dataclass
class IngestResult:
    cluster: str
    window_start: int
    window_end: int
    records: list[dict[str, Any]]
    unknown_accounts: dict[str, int] = field(default_factory=dict)
    pending_skipped: int = 0
    source_format: str = "parsable"

    @property
    def charged(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["chargeable"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "records": self.records,
            "unknown_accounts": self.unknown_accounts,
            "pending_skipped": self.pending_skipped,
            "format": self.source_format,
        }

    def render(self) -> str:
        lines = [
            f"[{self.cluster}] {len(self.records)} record(s), {len(self.charged)} chargeable, "
            f"window {_iso(self.window_start)} .. {_iso(self.window_end)}"
        ]
        for account, count in sorted(self.unknown_accounts.items()):
            lines.append(
                f"  unknown account {account!r}: {count} record(s) not mapped to a project"
            )
        return "\n".join(lines)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%dT%H:%M:%S")


def sacct_argv(cluster: str, start: int, end: int, use_json: bool = False) -> list[str]:
    argv = [
        "sacct",
        "--allusers",
        "--duplicates",
        f"--clusters={cluster}",
        f"--starttime={_iso(start)}",
        f"--endtime={_iso(end)}",
    ]
    if use_json:
        return [*argv, "--json"]
    return [*argv, "--parsable2", "--noheader", "--format=" + ",".join(SACCT_FIELDS)]


# sacct is read in windows of at most this long, one process each, its output parsed as it
# comes: a national centre's 100,000 jobs a window would be ~11 GB as one ``sacct --json``.
DEFAULT_WINDOW_S = 6 * 3600


def iter_window_records(
    run: Runner,
    cluster: str,
    start: int,
    end: int,
    account_map: Mapping[str, str] | None = None,
    use_json: bool = False,
    window_s: int = DEFAULT_WINDOW_S,
) -> Iterator[dict[str, Any]]:
    """Records for jobs active in ``[start, end]``, read window by window (``window_s``) and
    streamed. A job active in two windows comes once per window under the same key (the
    caller keeps the last). Raises ``SlurmdbdUnavailable`` (from the runner)."""
    # JSON carries epochs already (and sacct --json mis-reads -S/-E under SLURM_TIME_FORMAT).
    env = {} if use_json else {"SLURM_TIME_FORMAT": "%s"}
    stream = getattr(run, "stream", None)
    step = max(1, int(window_s))
    for lo in range(int(start), int(end), step) if end > start else [int(start)]:
        hi = min(int(end), lo + step)
        argv = sacct_argv(cluster, lo, hi, use_json)
        if use_json:
            yield from parse_json(run(argv, env=env), account_map)
        elif stream is not None:
            yield from iter_parsable(stream(argv, env=env), account_map)
        else:
            yield from iter_parsable(run(argv, env=env).splitlines(), account_map)


def ingest_window(
    run: Runner,
    cluster: str,
    start: int,
    end: int,
    account_map: Mapping[str, str] | None = None,
    use_json: bool = False,
    window_s: int = DEFAULT_WINDOW_S,
) -> IngestResult:
    """Usage records for jobs active in ``[start, end]`` (epoch seconds), one per key.

    Raises ``SlurmdbdUnavailable`` (from the runner) when accounting cannot be read."""
    by_key: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    for r in iter_window_records(run, cluster, start, end, account_map, use_json, window_s):
        if r["state"] == "PENDING":
            pending.add(r["key"])
            continue
        pending.discard(r["key"])
        by_key.pop(r["key"], None)  # the later window's row, in the later window's place
        by_key[r["key"]] = r
    records = list(by_key.values())
    unknown: dict[str, int] = {}
    if account_map is not None:
        for r in records:
            if r["step"] == "" and r["project"] is None:
                unknown[r["account"]] = unknown.get(r["account"], 0) + 1
    return IngestResult(
        cluster, start, end, records, unknown, len(pending), "json" if use_json else "parsable"
    )


def ingest(
    run: Runner,
    cluster: str,
    state: WatermarkStore,
    *,
    account_map: Mapping[str, str] | None = None,
    now: int | None = None,
    overlap_s: int = DEFAULT_OVERLAP_S,
    first_lookback_s: int = DEFAULT_FIRST_LOOKBACK_S,
    use_json: bool = False,
    reader: Callable[[int, int], IngestResult] | None = None,
    window_s: int = DEFAULT_WINDOW_S,
    advance: bool = True,
) -> IngestResult:
    """Ingest from the watermark (less ``overlap_s``) up to now, then move the watermark
    (unless not ``advance``: the caller moves it to ``result.window_end`` once it has stored
    the records, in the same transaction).

    On any error the watermark stays where it was (the error is recorded in the store) and
    the exception propagates: the next run covers the same time again.
    ``reader(start, end)`` replaces sacct (e.g. slurmrestd through ``rest_ingest_window``)."""
    now = int(now if now is not None else time.time())
    mark = state.watermark(cluster)
    start = (mark - overlap_s) if mark is not None else now - first_lookback_s
    logger.info("ingest on %s: reading %s .. %s", cluster, _iso(start), _iso(now))
    try:
        if reader is not None:
            result = reader(start, now)
        else:
            result = ingest_window(run, cluster, start, now, account_map, use_json, window_s)
    except Exception as exc:
        # whatever went wrong (Slurm, REST, parsing) is recorded for the operator, then raised
        logger.warning("ingest on %s failed, watermark left where it was: %s", cluster, exc)
        state.failed(cluster, str(exc), at=now)
        raise
    if advance:
        state.advance(
            cluster,
            now,
            at=now,
            records=len(result.records),
            unknown_accounts=result.unknown_accounts,
        )
    _log_ingested(result)
    return result


def _log_ingested(result: IngestResult) -> None:
    logger.info(
        "ingest on %s: %d record(s), %d chargeable, %d pending skipped; read up to %s",
        result.cluster,
        len(result.records),
        len(result.charged),
        result.pending_skipped,
        _iso(result.window_end),
    )
    if result.unknown_accounts:
        logger.warning(
            "ingest on %s: account(s) not mapped to a project: %s",
            result.cluster,
            ", ".join(
                f"{name} ({n} job(s))" for name, n in sorted(result.unknown_accounts.items())
            ),
        )
