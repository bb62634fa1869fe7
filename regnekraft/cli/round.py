"""``regnekraft round propose|decide|simulate``, ``decide`` and ``expire``: allocation rounds
and single decisions, all through the policy rules and the decision services."""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal
from typing import Any

from .output import actor, add_command, emit, iso_date, named_user


def _call(name: str) -> Any:
    from regnekraft.allocation.models import Call

    call = Call.objects.filter(name=name).first()
    if call is None:
        names = ", ".join(Call.objects.values_list("name", flat=True)) or "none"
        raise SystemExit(f"error: no call named {name!r} (calls: {names})")
    return call


def proposal_text(d: dict) -> str:
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


def whatif_text(call_name: str, d: dict) -> str:
    lines = [f"Round {call_name} replayed on {d['trace']}"]
    for sc in d["scenarios"]:
        lines.append(
            f"  {sc['name']:32} utilisation {sc['utilisation']:.1%}"
            f"  mean wait {sc['mean_wait'] / 3600:.2f} h"
            f"  p95 wait {sc['p95_wait'] / 3600:.2f} h"
            f"  mean bounded slowdown {sc['mean_bounded_slowdown']:.2f}"
        )
    return "\n".join(lines)


def _whatif(args: argparse.Namespace, call: Any) -> int:
    from regnekraft.allocation import whatif
    from regnekraft.traces import traces_dir

    trace = args.trace or str(traces_dir() / "hpc2n-first3171.swf")
    if args.store:
        run = whatif.store(call, trace, proposed=args.proposed, user=named_user(args))
        data = {
            "call": call.name,
            "trace": run.trace,
            "proposed": run.proposed,
            "scenarios": run.results,
            "stored": run.pk,
        }
    else:
        data = whatif.summary(call, trace, proposed=args.proposed)
    emit(args, data, lambda d: whatif_text(call.name, d))
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
            emit(args, data, proposal_text)
            return 3
        decided = rounds.decide_proposal(actor(args), proposal, force_reason=args.force or "")
        data["decided"] = {str(k): len(v) for k, v in decided.items()}
    emit(args, data, proposal_text)
    return 0


def grant_pair(text: str) -> tuple[int, Decimal]:
    try:
        rc, amount = text.split("=", 1)
        return int(rc), Decimal(amount)
    except (ValueError, ArithmeticError) as exc:  # no "=", not an int, not a decimal
        raise argparse.ArgumentTypeError(f"expected RESOURCE_CLASS_ID=UNITS, got {text!r}") from exc


def _decision_text(d: dict) -> str:
    granted = ", ".join(f"{x['amount']} on {x['resource_class']}" for x in d["allocations"])
    return f"application {d['application']} ({d['project']}): " + (granted or "rejected")


def cmd_decide(args: argparse.Namespace) -> int:
    from regnekraft.allocation import applications
    from regnekraft.allocation.models import Application

    app = Application.objects.filter(pk=args.application).first()
    if app is None:
        raise SystemExit(f"error: no application with id {args.application}")
    granted = dict(args.grant or [])
    allocations = applications.decide_application(actor(args), app, granted)
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
    emit(args, data, _decision_text)
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    from regnekraft.allocation.services import expire_allocations

    n = expire_allocations(args.today)
    emit(args, {"expired": n}, lambda d: f"{d['expired']} allocation(s) expired")
    return 0


def _register_round(subparsers: Any) -> None:
    p = add_command(
        subparsers,
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
        "--force",
        metavar="REASON",
        help="decide: a call still open or a draft, for this reason (recorded in the audit log)",
    )
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


def register(subparsers: Any) -> None:
    _register_round(subparsers)
    p = add_command(
        subparsers,
        "decide",
        cmd_decide,
        "decide one application by hand: grant units per resource class (through the rules)",
    )
    p.add_argument("application", type=int, help="the application's id")
    p.add_argument(
        "--grant",
        type=grant_pair,
        action="append",
        metavar="RC_ID=UNITS",
        help="units of one requested resource class; repeat; none rejects the application",
    )

    p = add_command(
        subparsers, "expire", cmd_expire, "mark allocations whose period has ended as expired"
    )
    p.add_argument("--today", type=iso_date, default=dt.date.today(), help="default: today")
