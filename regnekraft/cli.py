"""The ``regnekraft`` command line. ``regnekraft --help`` lists the commands; each has ``--help``.

Every command that changes data goes through the same services and policy rules as the API
and the admin, acts as the user named by ``--as`` (default: 'cli') in the audit log, and
prints a machine-readable answer with ``--json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regnekraft.settings")
    import django

    django.setup()


def _print(args: argparse.Namespace, data: Any, text: Callable[[Any], str] | None = None) -> None:
    if getattr(args, "json", False) or text is None:
        from django.core.serializers.json import DjangoJSONEncoder

        print(json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
    else:
        print(text(data))


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _actor(args: argparse.Namespace):
    from django.contrib.auth import get_user_model

    name = getattr(args, "actor", None)
    if not name:
        return "cli"
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise SystemExit(f"error: --as {name!r}: no such user")
    return user


def _with_django(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        setup_django()
        from django.core.exceptions import ValidationError

        from regnekraft.allocation.policy import PolicyViolation
        from regnekraft.audit.context import acting_as

        try:
            with acting_as(_actor(args)):
                return func(args)
        except PolicyViolation as exc:
            found = exc.violations
            _print(
                args,
                {
                    "error": "policy",
                    "violations": [
                        {"rule": v.rule, "message": v.message, "numbers": v.numbers} for v in found
                    ],
                },
                lambda d: "refused by the policy rules:\n" + "\n".join(f"  - {v}" for v in found),
            )
            return 3
        except ValidationError as exc:
            messages = exc.messages
            _print(
                args,
                {"error": "invalid", "detail": messages},
                lambda d: "error: " + "; ".join(messages),
            )
            return 2

    return run


# --- demo and serve -----------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from regnekraft import demo

    summary = demo.build(fresh=not args.keep, traces=args.traces, progress=not args.json)
    summary["url"] = f"http://{args.host}:{args.port}/"
    _print(args, summary, demo.describe)
    if args.no_serve:
        return 0
    return _serve(args.host, args.port)


def _serve(host: str, port: int) -> int:
    from django.core.management import call_command

    print(
        f"Regnekraft is listening on http://{host}:{port}/  (admin: /admin/, API: /api/docs/)  Ctrl-C stops it."
    )
    call_command("runserver", f"{host}:{port}", use_reloader=False, verbosity=0)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return _serve(args.host, args.port)


def cmd_manage(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["regnekraft manage", *args.rest])
    return 0


# --- policy ---------------------------------------------------------------------------------

POLICY_KNOBS = (
    "overbooking_factor",
    "economic_cap_share",
    "research_protected_share",
    "min_grant_share",
)


def cmd_policy(args: argparse.Namespace) -> int:
    from regnekraft.allocation.models import PolicySettings

    s = PolicySettings.current()
    if args.action == "set":
        if args.key not in POLICY_KNOBS + ("security_partner_countries",):
            raise SystemExit(
                f"error: unknown policy setting {args.key!r}; choose from {', '.join(POLICY_KNOBS)}, security_partner_countries"
            )
        value: Any = (
            [c.strip().upper() for c in args.value.split(",")]
            if args.key == "security_partner_countries"
            else Decimal(args.value)
        )
        setattr(s, args.key, value)
        s.save()
    data = {
        k: getattr(s, k)
        for k in POLICY_KNOBS + ("security_partner_countries", "warning_thresholds")
    }
    _print(args, data, lambda d: "\n".join(f"{k:28} {v}" for k, v in d.items()))
    return 0


# --- allocation rounds ----------------------------------------------------------------------


def _call(name: str):
    from regnekraft.allocation.models import Call

    call = Call.objects.filter(name=name).first()
    if call is None:
        names = ", ".join(Call.objects.values_list("name", flat=True)) or "none"
        raise SystemExit(f"error: no call named {name!r} (calls: {names})")
    return call


def _proposal_text(d: dict) -> str:
    lines = [
        f"Call {d['call']}: {d['funded']} of {d['applications']} applications funded "
        f"({d['method']}, {d['status']}, {d['solve_seconds']} s)"
    ]
    for b in d["binding"]:
        lines.append(
            f"  binding: {b['rule']} on class {b['resource_class']} (limit {b['limit']:,.0f})"
        )
    for app, reasons in d["ineligible"].items():
        lines.append(f"  application {app}: lines not eligible: {'; '.join(reasons)}")
    lines.append(
        "  policy check of the proposal: "
        + ("passes" if not d["policy_violations"] else "; ".join(d["policy_violations"]))
    )
    return "\n".join(lines)


def _whatif(args: argparse.Namespace, call) -> int:
    from regnekraft.allocation import whatif
    from regnekraft.traces import traces_dir

    trace = args.trace or str(traces_dir() / "hpc2n-first3171.swf")
    if args.store:
        run = whatif.store(
            call, trace, proposed=args.proposed, user=_actor(args) if args.actor else None
        )
        data = {
            "call": call.name,
            "trace": run.trace,
            "proposed": run.proposed,
            "scenarios": run.results,
            "stored": run.pk,
        }
    else:
        data = whatif.summary(call, trace, proposed=args.proposed)

    def text(d: dict) -> str:
        lines = [f"Round {call.name} replayed on {d['trace']}"]
        for sc in d["scenarios"]:
            lines.append(
                f"  {sc['name']:32} utilisation {sc['utilisation']:.1%}  mean wait {sc['mean_wait'] / 3600:.2f} h"
                f"  p95 wait {sc['p95_wait'] / 3600:.2f} h  mean bounded slowdown {sc['mean_bounded_slowdown']:.2f}"
            )
        return "\n".join(lines)

    _print(args, data, text)
    return 0


def cmd_round(args: argparse.Namespace) -> int:
    from regnekraft.allocation import round as rounds

    call = _call(args.call)
    if args.action == "simulate":
        return _whatif(args, call)
    proposal = rounds.propose_round(call, time_limit=args.time_limit)
    data = proposal.as_dict()
    if args.action == "decide":
        if proposal.violations:
            _print(args, data, _proposal_text)
            return 3
        decided = rounds.decide_proposal(proposal, decided_by=_actor(args) if args.actor else None)
        data["decided"] = {str(k): len(v) for k, v in decided.items()}
    _print(args, data, _proposal_text)
    return 0


def _grant_pair(text: str) -> tuple[int, Decimal]:
    try:
        rc, amount = text.split("=", 1)
        return int(rc), Decimal(amount)
    except Exception as exc:
        raise argparse.ArgumentTypeError(f"expected RESOURCE_CLASS_ID=UNITS, got {text!r}") from exc


def cmd_decide(args: argparse.Namespace) -> int:
    from regnekraft.allocation import services
    from regnekraft.allocation.models import Application

    app = Application.objects.filter(pk=args.application).first()
    if app is None:
        raise SystemExit(f"error: no application with id {args.application}")
    granted = dict(args.grant or [])
    allocations = services.decide_application(
        app, granted, decided_by=None if isinstance(_actor(args), str) else _actor(args)
    )
    data = {
        "application": app.pk,
        "project": app.project.code,
        "allocations": [
            {
                "id": a.pk,
                "resource_class": str(a.resource_class),
                "amount": a.amount,
                "price_category": a.price_category,
            }
            for a in allocations
        ],
    }
    _print(
        args,
        data,
        lambda d: (
            f"application {d['application']} ({d['project']}): "
            + (
                ", ".join(f"{x['amount']} on {x['resource_class']}" for x in d["allocations"])
                or "rejected"
            )
        ),
    )
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    from regnekraft.allocation.services import expire_allocations

    n = expire_allocations(args.today)
    _print(args, {"expired": n}, lambda d: f"{d['expired']} allocation(s) expired")
    return 0


# --- accounting -----------------------------------------------------------------------------


def cmd_import_usage(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from regnekraft.accounting import importer

    bar = (
        None if args.json else tqdm(unit=" records", desc=f"importing {args.file}", file=sys.stderr)
    )

    def progress(done: int, total: int | None = None) -> None:
        if bar is not None:
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    try:
        result = importer.import_usage(
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
    _print(args, data, lambda d: "\n".join(f"{k:20} {v}" for k, v in d.items()))
    return 0


def cmd_invoice(args: argparse.Namespace) -> int:
    from regnekraft.accounting import invoicing

    invoices = invoicing.issue_invoices(args.start, args.end)
    data = [
        {
            "organisation": str(i.organisation),
            "period": f"{i.period_start}..{i.period_end}",
            "total_nok": i.total_nok,
            "lines": i.lines.count(),
        }
        for i in invoices
    ]
    _print(
        args,
        data,
        lambda d: (
            "\n".join(
                f"{x['organisation']:14} {x['period']}  {x['total_nok']:>14,.2f} NOK  ({x['lines']} lines)"
                for x in d
            )
            or "no invoices"
        ),
    )
    return 0


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, Decimal):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}"
        return "" if v is None else str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


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

    def text(d: dict) -> str:
        parts = [
            f"Allocated vs used vs available, {args.start}..{args.end}",
            _table(
                d["capacity"],
                [
                    "resource_class",
                    "unit",
                    "capacity",
                    "committed",
                    "used",
                    "available",
                    "utilisation",
                ],
            ),
            f"\nEconomic activity against the state-aid cap, {year}",
            _table(
                d["economic_share"],
                ["resource_class", "cap", "economic_committed", "economic_used", "within_cap"],
            ),
            f"\nResearch against its protected share, {year}",
            _table(
                d["research_share"],
                list(d["research_share"][0].keys())[:7] if d["research_share"] else [],
            ),
        ]
        return "\n".join(parts)

    _print(args, data, text)
    return 0


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regnekraft",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable, help: str, django: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument(
            "--as", dest="actor", metavar="USER", help="act as this user (audit log); default 'cli'"
        )
        p.set_defaults(func=_with_django(func) if django else func)
        return p

    p = add(
        "demo",
        cmd_demo,
        "fresh database, Norway's demo picture, a decided round, usage imported; then serve",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-serve", action="store_true", help="build the demo and exit")
    p.add_argument(
        "--keep", action="store_true", help="keep the existing database instead of starting afresh"
    )
    p.add_argument("--traces", help="folder with the workload traces (default: ../shared/traces)")

    p = add("serve", cmd_serve, "migrate the database and serve the portal, admin and API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser(
        "manage", help="run a Django management command (migrate, createsuperuser, ...)"
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_with_django(cmd_manage))

    p = add("policy", cmd_policy, "show or change the policy rules' settings (audited)")
    p.add_argument("action", choices=["show", "set"])
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")

    p = add(
        "round",
        cmd_round,
        "propose (optimiser) or decide a call's round; decisions pass the policy rules",
    )
    p.add_argument(
        "action",
        choices=["propose", "decide", "simulate"],
        help="simulate: replay a workload trace under the round's entitlements",
    )
    p.add_argument("call", help="the call's name, e.g. 2026.2")
    p.add_argument(
        "--time-limit", type=float, default=30.0, help="seconds for the MILP solver (default 30)"
    )
    p.add_argument(
        "--trace", help="simulate: SWF, Batsim JSON or CSV trace (default: the HPC2N trace)"
    )
    p.add_argument(
        "--proposed",
        action="store_true",
        help="simulate the optimiser's proposal, not the decisions",
    )
    p.add_argument(
        "--store",
        action="store_true",
        help="simulate: keep the result for the decision makers' dashboard",
    )

    p = add(
        "decide",
        cmd_decide,
        "decide one application by hand: grant units per resource class (through the rules)",
    )
    p.add_argument("application", type=int, help="the application's id")
    p.add_argument(
        "--grant",
        type=_grant_pair,
        action="append",
        metavar="RC_ID=UNITS",
        help="units of one requested resource class; repeat; none rejects the application",
    )

    p = add("expire", cmd_expire, "mark allocations whose period has ended as expired")
    p.add_argument("--today", type=_date, default=dt.date.today(), help="default: today")

    p = add("import-usage", cmd_import_usage, "import usage records (CSV, JSON or SWF); idempotent")
    p.add_argument("file")
    p.add_argument(
        "--format", choices=["csv", "json", "jsonl", "swf"], help="default: from the file name"
    )
    p.add_argument("--source", help="source label for the idempotency key (default: the format)")
    p.add_argument(
        "--swf-mapping",
        metavar="JSON",
        help="SWF: file mapping SWF users/groups to projects and naming the system (docs/accounting.md)",
    )
    p.add_argument(
        "--cluster", help="SWF: the system slug the trace ran on (overrides the mapping's)"
    )

    p = add("invoice", cmd_invoice, "issue invoices for a period (idempotent)")
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True, help="the day after the period's last day")

    p = add(
        "report",
        cmd_report,
        "allocated vs used vs available; user groups; economic and research shares",
    )
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True)

    for module in (
        "regnekraft.simulation.command",
        "regnekraft.planning.command",
        "regnekraft.slurm.command",
    ):
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        found.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
