"""Usage for the demo: the HPC2N trace replayed onto Betzy for the research projects, plus
synthetic daily GPU and CPU use for the sector and industry projects, so that balances cross
their warning thresholds. Imported through the ordinary importer (idempotent)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from regnekraft.accounting.importer import SwfOptions, import_records, import_usage
from regnekraft.allocation.models import Allocation
from regnekraft.parties.models import Project

OSLO = ZoneInfo("Europe/Oslo")
TRACE = "hpc2n-first3171.swf"
REPLAY_START = dt.datetime(2026, 10, 1, tzinfo=OSLO)


def _trace_users(path: Path) -> list[str]:
    users: set[str] = set()
    with path.open() as fh:
        for line in fh:
            fields = line.split()
            if fields and not line.startswith(";") and len(fields) >= 12:
                users.add(fields[11])
    return sorted(users, key=int)


def _daily(
    code: str, system: str, kind: str, share_of_rate: float, until: dt.date, gpu_type: str = ""
) -> list[dict]:
    """One record a day at ``share_of_rate`` of the allocation's daily rate, up to ``until``."""
    project = Project.objects.get(code=code)
    alloc = Allocation.objects.filter(
        project=project, resource_class__system__slug=system, resource_class__kind=kind
    ).first()
    if alloc is None:
        return []
    rate = alloc.amount / Decimal((alloc.end - alloc.start).days) * Decimal(str(share_of_rate))
    out = []
    day = alloc.start
    while day < min(until, alloc.end):
        start = dt.datetime.combine(day, dt.time(0), OSLO)
        out.append(
            {
                "source": "demo",
                "cluster": system,
                "job_id": f"{code}-{day:%Y%m%d}",
                "step": "",
                "account": code,
                "system": system,
                "kind": kind,
                "gpu_type": gpu_type,
                "quantity": str(rate.quantize(Decimal("0.0001"))),
                "start": start.isoformat(),
                "end": (start + dt.timedelta(hours=23, minutes=59)).isoformat(),
                "user": code,
            }
        )
        day += dt.timedelta(days=1)
    return out


def replay(traces: Path | None, *, until: dt.date, progress: bool = True) -> int:
    imported = 0
    research = list(
        Project.objects.filter(
            purpose="research_rd", allocations__resource_class__system__slug="betzy"
        )
        .distinct()
        .order_by("code")
    )
    trace = traces / TRACE if traces else None
    if trace is not None and trace.is_file() and research:
        users = _trace_users(trace)
        mapping = {u: research[i % len(research)].code for i, u in enumerate(users)}
        options = SwfOptions(
            system="betzy",
            kind="cpu",
            users=mapping,
            default_project=research[0].code,
            start=REPLAY_START,
            cluster="betzy",
        )
        result = import_usage(trace, "swf", source="demo-hpc2n", swf=options)
        imported += result.new
    elif progress:
        print(f"note: trace {trace} not found; the demo has no replayed research usage")
    records = (
        _daily("nb-llm", "olivia", "gpu", 0.93, until, "GH200")
        + _daily("fhi001", "tsd", "cpu", 0.6, until)
        + _daily("met-nwp", "met-rack", "cpu", 0.97, until)
        + _daily("fjv01", "betzy", "cpu", 1.4, until)
        + _daily("kripos01", "vern", "cpu", 0.5, until)
    )
    if research:
        records += _daily(
            research[1].code, "betzy", "cpu", 4.0, until
        )  # a project that runs out early
    imported += import_records(records, source="demo", filename="demo-synthetic").new
    return imported
