"""``regnekraft import-usage``, ``invoice`` and ``report``: metering, charging and reports."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from regnekraft.textout import table

from .output import actor, add_command, emit, iso_date

CAPACITY_COLUMNS = [
    "resource_class",
    "unit",
    "capacity",
    "committed",
    "used",
    "available",
    "utilisation",
]
ECONOMIC_COLUMNS = ["resource_class", "cap", "economic_committed", "economic_used", "within_cap"]


def _progress_bar(args: argparse.Namespace) -> tuple[Any, Callable[..., None]]:
    """A progress bar on stderr (none with ``--json``) and the importer's callback for it."""
    from tqdm import tqdm

    bar = (
        None if args.json else tqdm(unit=" records", desc=f"importing {args.file}", file=sys.stderr)
    )

    def progress(done: int, total: int | None = None) -> None:
        if bar is not None:
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    return bar, progress


def cmd_import_usage(args: argparse.Namespace) -> int:
    from regnekraft.accounting import runs

    bar, progress = _progress_bar(args)
    try:
        result = runs.import_usage(
            actor(args),
            args.file,
            fmt=args.format,
            source=args.source,
            progress=progress,
            swf_mapping=args.swf_mapping,
            cluster=args.cluster,
        )
    finally:
        if bar is not None:
            bar.close()
    data = result.as_dict() if hasattr(result, "as_dict") else vars(result)
    emit(args, data, lambda d: "\n".join(f"{k:20} {v}" for k, v in d.items()))
    return 0


def _invoices_text(d: list[dict]) -> str:
    return (
        "\n".join(
            f"{x['organisation']:14} {x['period']}  {x['total_nok']:>14,.2f} NOK"
            f"  ({x['lines']} lines)"
            for x in d
        )
        or "no invoices"
    )


def cmd_invoice(args: argparse.Namespace) -> int:
    from regnekraft.accounting import runs

    invoices = runs.issue_invoices(actor(args), args.start, args.end)
    data = [
        {
            "organisation": str(i.organisation),
            "period": f"{i.period_start}..{i.period_end}",
            "total_nok": i.total_nok,
            "lines": i.lines.count(),
        }
        for i in invoices
    ]
    emit(args, data, _invoices_text)
    return 0


def _cell(v: Any) -> str:
    if isinstance(v, Decimal):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}"
    return "" if v is None else str(v)


def _report_table(rows: list[dict], columns: list[str]) -> str:
    return table([[_cell(r.get(c)) for c in columns] for r in rows], columns, right=True)


def _report_text(args: argparse.Namespace, d: dict) -> str:
    year = args.start.year
    research = d["research_share"]
    return "\n".join(
        [
            f"Allocated vs used vs available, {args.start}..{args.end}",
            _report_table(d["capacity"], CAPACITY_COLUMNS),
            f"\nEconomic activity against the state-aid cap, {year}",
            _report_table(d["economic_share"], ECONOMIC_COLUMNS),
            f"\nResearch against its protected share, {year}",
            _report_table(research, list(research[0].keys())[:7] if research else []),
        ]
    )


def cmd_rebuild_usage_days(args: argparse.Namespace) -> int:
    from regnekraft.accounting import runs

    result = runs.rebuild_usage_days(actor(args))
    emit(
        args,
        result,
        lambda r: (
            f"usage day sums rebuilt from the records: {r['open_rows_before']} open "
            f"row(s) replaced by {r['open_rows_after']}; billed rows kept"
        ),
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from regnekraft.accounting import reports

    year = args.start.year
    data = {
        "period": {"start": args.start, "end": args.end},
        "capacity": reports.report_capacity(args.start, args.end),
        "by_group": reports.report_by_group(args.start, args.end),
        "economic_share": reports.report_economic_share(year),
        "research_share": reports.report_research_share(year),
    }
    emit(args, data, lambda d: _report_text(args, d))
    return 0


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "import-usage",
        cmd_import_usage,
        "import usage records (CSV, JSON or SWF); idempotent",
    )
    p.add_argument("file")
    p.add_argument(
        "--format", choices=["csv", "json", "jsonl", "swf"], help="default: from the file name"
    )
    p.add_argument("--source", help="source label for the idempotency key (default: the format)")
    p.add_argument(
        "--swf-mapping",
        metavar="JSON",
        help="SWF: file mapping SWF users/groups to projects and naming the system "
        "(docs/accounting.md)",
    )
    p.add_argument(
        "--cluster", help="SWF: the system slug the trace ran on (overrides the mapping's)"
    )

    p = add_command(subparsers, "invoice", cmd_invoice, "issue invoices for a period (idempotent)")
    p.add_argument("--start", type=iso_date, required=True)
    p.add_argument(
        "--end", type=iso_date, required=True, help="the day after the period's last day"
    )

    add_command(
        subparsers,
        "rebuild-usage-days",
        cmd_rebuild_usage_days,
        "recompute the day sums that pages and invoices read from the usage records",
    )

    p = add_command(
        subparsers,
        "report",
        cmd_report,
        "allocated vs used vs available; user groups; economic and research shares",
    )
    p.add_argument("--start", type=iso_date, required=True)
    p.add_argument("--end", type=iso_date, required=True)
