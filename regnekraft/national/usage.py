"""A year of job-level usage for the national data set, drawn with numpy from the decided
allocations, written as monthly CSV files in the importer's format (docs/accounting.md) and
imported month by month with :func:`regnekraft.accounting.importer.import_usage`.

The mix is heavy-tailed: most jobs are small and short, a few are large and long. CPU jobs
ask for 1 to 8,192 cores (half of them 4 or fewer), GPU jobs for 1 to 64 GPUs; run times are
log-normal (median about 25 minutes for CPU jobs, an hour for GPU jobs) and at most two weeks.
Each allocation gets jobs in proportion to its size (to the power 0.8, so small projects run
relatively many small jobs), and its jobs are scaled towards a use of 30-115 % of it. Storage
is one record per allocation and month (TB held).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from regnekraft.accounting.importer import COLUMNS, import_usage
from regnekraft.allocation.models import Allocation
from regnekraft.parties.models import Project

SOURCE = "national"
WINDOW = (dt.date(2025, 10, 1), dt.date(2026, 10, 1))
CPU_CORES = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192])
CPU_P = np.array(
    [0.26, 0.12, 0.12, 0.1, 0.09, 0.08, 0.08, 0.06, 0.04, 0.025, 0.012, 0.006, 0.004, 0.003]
)
GPU_COUNT = np.array([1, 2, 4, 8, 16, 32, 64])
GPU_P = np.array([0.5, 0.2, 0.15, 0.08, 0.04, 0.02, 0.01])
MAX_HOURS = 14 * 24
_EPOCH = dt.date(1970, 1, 1)
_STR = np.dtypes.StringDType()
_MARGIN = 3 * 3600  # job ends stay 3 h inside an allocation's days, whatever the time zone


def _day_seconds(day: dt.date) -> int:
    return (day - _EPOCH).days * 86400


def _allocations() -> list[dict[str, Any]]:
    """The allocations live during the usage year, in a stable order (not by primary key)."""
    rows = (
        Allocation.objects.live()
        .filter(start__lt=WINDOW[1], end__gt=WINDOW[0])
        .values(
            "pk",
            "project__code",
            "resource_class__system__slug",
            "resource_class__kind",
            "resource_class__gpu_type",
            "resource_class__installed_units",
            "start",
            "end",
            "amount",
        )
    )
    out = [
        {
            "pk": r["pk"],
            "code": r["project__code"],
            "system": r["resource_class__system__slug"],
            "kind": r["resource_class__kind"],
            "gpu": r["resource_class__gpu_type"],
            "units": float(r["resource_class__installed_units"]),
            "start": max(r["start"], WINDOW[0]),
            "end": min(r["end"], WINDOW[1]),
            "days": (r["end"] - r["start"]).days,
            "amount": float(r["amount"]),
        }
        for r in rows
    ]
    out.sort(key=lambda a: (a["code"], a["system"], a["kind"], a["start"], a["amount"]))
    return [a for a in out if (a["end"] - a["start"]).days >= 1]


def _participants(codes: list[str]) -> dict[str, list[str]]:
    """Each project's PI and members by user name, sorted."""
    people: dict[str, set[str]] = {c: set() for c in codes}
    for code, pi in Project.objects.filter(code__in=codes).values_list(
        "code", "pi__user__username"
    ):
        people[code].add(pi)
    members = Project.members.through.objects.filter(project__code__in=codes).values_list(
        "project__code", "person__user__username"
    )
    for code, username in members:
        people[code].add(username)
    return {c: sorted(u) or [c] for c, u in people.items()}


def _storage(allocs: list[dict], rng: np.random.Generator) -> list[tuple]:
    """One record per storage allocation and month: the TB it held (60-100 % of its rate)."""
    out = []
    for a in allocs:
        months = max(1.0, a["days"] / (365.25 / 12))
        month = dt.date(a["start"].year, a["start"].month, 1)
        while month < a["end"]:
            nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
            lo, hi = max(month, a["start"]), min(nxt, a["end"])
            if (hi - lo).days >= 1:
                held = a["amount"] / months * float(rng.uniform(0.6, 1.0))
                out.append(
                    (a, f"{a['code']}-{a['start']:%Y%m%d}-{month:%Y%m}", held,
                     _day_seconds(lo) + _MARGIN, _day_seconds(hi) - _MARGIN)
                )  # fmt: skip
            month = nxt
    return out


def _jobs(allocs: list[dict], n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` jobs over the compute allocations: which allocation, size, run time, end."""
    amount = np.array([a["amount"] for a in allocs])
    share = np.array([(a["end"] - a["start"]).days / max(1, a["days"]) for a in allocs])
    capacity_hours = np.array([a["units"] * 24 * (a["end"] - a["start"]).days for a in allocs])
    target = amount * share * rng.uniform(0.3, 1.15, size=len(allocs))
    weight = (target / capacity_hours) ** 0.8
    counts = rng.multinomial(n, weight / weight.sum())
    which = np.repeat(np.arange(len(allocs), dtype=np.int32), counts)
    gpu = np.array([a["kind"] == "gpu" for a in allocs])[which]
    units = np.array([a["units"] for a in allocs])[which]
    size = np.where(
        gpu,
        rng.choice(GPU_COUNT, size=n, p=GPU_P / GPU_P.sum()),
        rng.choice(CPU_CORES, size=n, p=CPU_P / CPU_P.sum()),
    ).astype(np.float64)
    size = np.minimum(size, np.maximum(1, np.floor(units / 8)))
    hours = np.where(
        gpu, rng.lognormal(np.log(1.0), 1.5, size=n), rng.lognormal(np.log(0.4), 1.6, size=n)
    )
    hours *= 1 + 0.08 * np.log2(size)  # bigger jobs run somewhat longer
    hours = np.clip(hours, 1 / 60, MAX_HOURS)
    # towards each allocation's target use, within limits
    used = np.bincount(which, weights=size * hours, minlength=len(allocs))
    factor = np.clip(target / np.maximum(used, 1e-9), 0.25, 4.0)
    hours = np.clip(hours * factor[which], 1 / 60, MAX_HOURS)
    seconds = np.maximum(60, np.round(hours * 3600)).astype(np.int64)
    lo = np.array([_day_seconds(a["start"]) + _MARGIN for a in allocs], dtype=np.int64)[which]
    hi = np.array([_day_seconds(a["end"]) - _MARGIN for a in allocs], dtype=np.int64)[which]
    end = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    pick = rng.random(n)
    order = np.argsort(end, kind="stable")
    return {
        "which": which[order],
        "size": size[order],
        "seconds": seconds[order],
        "end": end[order],
        "pick": pick[order],
    }


def _fmt_quantity(q: np.ndarray) -> np.ndarray:
    """Quantities with four decimals as strings (numpy's string ufuncs, no Python loop)."""
    q4 = np.round(q * 10_000).astype(np.int64)
    whole, frac = np.divmod(q4, 10_000)
    return _join(whole.astype(_STR), ".", np.strings.zfill(frac.astype(_STR), 4))


def _join(*parts: Any) -> np.ndarray:
    out = parts[0]
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out


def _times(seconds: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s", timezone="UTC")
    return text.astype(_STR)


def _month_key(seconds: np.ndarray) -> np.ndarray:
    return seconds.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)


def write_files(
    folder: Path, rng: np.random.Generator, records: int, bar: Any = None
) -> list[dict]:
    """Draw ``records`` usage records over the live allocations and write one CSV per month of
    the jobs' ends; returns [{"month", "path", "records"}] in month order."""
    allocs = _allocations()
    if not allocs:
        return []
    compute = [a for a in allocs if a["kind"] in ("cpu", "gpu")]
    storage = _storage([a for a in allocs if a["kind"] == "storage"], rng)
    n_jobs = max(0, records - len(storage))
    jobs = _jobs(compute, n_jobs, rng) if compute and n_jobs else None
    people = _participants(sorted({a["code"] for a in allocs}))
    stored: dict[int, list[str]] = {}
    for a, job, held, lo, hi in storage:
        q = str(_fmt_quantity(np.array([held]))[0])
        s, e = _times(np.array([lo, hi], dtype=np.int64)).tolist()
        user = people[a["code"]][0]
        row = f"{SOURCE},{a['system']},{job},,{a['code']},{a['system']},storage,,{q},{s},{e},{user}"
        stored.setdefault(int(_month_key(np.array([hi]))[0]), []).append(row)
    job_months = np.zeros(0, dtype=np.int64)
    if jobs is not None:
        # per cluster, job ids in order of their end, as a scheduler numbers them
        cluster = np.array([a["system"] for a in compute])[jobs["which"]]
        jobs["id"] = np.empty(len(cluster), dtype=np.int64)
        for name in np.unique(cluster):
            mask = cluster == name
            jobs["id"][mask] = 1_000_000 + np.arange(int(mask.sum()))
        job_months = _month_key(jobs["end"])  # sorted, as the jobs are by end
    out = []
    header = ",".join(COLUMNS)
    for m in sorted(set(job_months.tolist()) | set(stored)):
        label = str(np.datetime64(m, "M"))
        path = folder / f"national-usage-{label}.csv"
        lo, hi = np.searchsorted(job_months, [m, m + 1])
        with path.open("w", encoding="utf-8", newline="") as f:
            f.write(header + "\n")
            if hi > lo:
                part = {k: v[lo:hi] for k, v in jobs.items()} if jobs is not None else {}
                f.write("\n".join(_rows(compute, part, people)))
                f.write("\n")
            if stored.get(m):
                f.write("\n".join(stored[m]))
                f.write("\n")
        n = int(hi - lo) + len(stored.get(m, []))
        out.append({"month": label, "path": str(path), "records": n})
        if bar is not None:
            bar.step(n)
    return out


def _rows(compute: list[dict], jobs: dict[str, np.ndarray], people) -> list[str]:
    """The jobs' CSV lines, built column by column with numpy's string ufuncs."""
    fixed = np.array([f"{SOURCE},{a['system']}," for a in compute], dtype=_STR)  # then job id
    middle = np.array(
        [f",,{a['code']},{a['system']},{a['kind']},{a['gpu']}," for a in compute], dtype=_STR
    )
    names = [people[a["code"]] for a in compute]
    count = np.array([len(n) for n in names])
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    flat = np.array([u for n in names for u in n], dtype=_STR)
    w = jobs["which"]
    who = flat[offset[w] + (jobs["pick"] * count[w]).astype(np.int64)]
    line = _join(
        fixed[w],
        jobs["id"].astype(_STR),
        middle[w],
        _fmt_quantity(jobs["size"] * jobs["seconds"] / 3600),
        ",",
        _times(jobs["end"] - jobs["seconds"]),
        ",",
        _times(jobs["end"]),
        ",",
        who,
    )
    return line.tolist()


def generate_and_import(
    rng: np.random.Generator, bar: Any, usage_dir: str | Path | None, *, records: int
) -> dict:
    """The stages "usage files" and "usage import" of the build; returns what they did."""
    folder = Path(usage_dir) if usage_dir else Path(tempfile.mkdtemp(prefix="regnekraft-national-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with bar.stage("usage files", records, " records"):
            t = time.perf_counter()
            files = write_files(folder, rng, records, bar)
            generate_seconds = time.perf_counter() - t
        imported = unallocated = 0
        t = time.perf_counter()
        total = sum(f["records"] for f in files)
        with bar.stage("usage import", total, " records"):
            for f in files:
                base = imported
                if bar.bar is not None:
                    bar.bar.set_description(f"  usage import {f['month']}")
                result = import_usage(
                    f["path"],
                    "csv",
                    source=SOURCE,
                    progress=lambda done, _total, base=base: bar.to(base + done, total),
                )
                f["new"], f["seconds"] = result.new, round(result.seconds, 2)
                imported += result.new
                unallocated += result.unallocated
                bar.to(imported, total)
        import_seconds = time.perf_counter() - t
    finally:
        if not usage_dir:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "records": total,
        "imported": imported,
        "unallocated": unallocated,
        "months": [{k: v for k, v in f.items() if k != "path"} for f in files],
        "folder": str(folder) if usage_dir else None,
        "generate_seconds": round(generate_seconds, 2),
        "import_seconds": round(import_seconds, 2),
        "records_per_second": round(imported / import_seconds) if import_seconds else None,
    }
