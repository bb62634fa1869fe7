"""``regnekraft worker`` runs the schedule and the queue; ``regnekraft schedule`` shows and
changes the schedule (regnekraft/ops, docs/operations.md)."""

from __future__ import annotations

import argparse
from typing import Any

from .output import actor, add_command, emit


def cmd_worker(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from regnekraft.ops.worker import Worker

    call_command("migrate", verbosity=0)
    worker = Worker(once=args.once, worker_id=args.worker_id)
    ran = worker.run()
    if args.once or args.json:
        emit(args, {"worker": worker.worker_id, "jobs_run": ran}, f"ran {ran} job(s)")
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    out = [f"{'name':<28} {'when':<14} {'on':<3} {'next run':<17} {'last run':<9}"]
    for r in rows:
        next_run = f"{r['next_run_at']:%Y-%m-%d %H:%M}" if r["next_run_at"] else "-"
        out.append(
            f"{r['name']:<28} {r['cron']:<14} {'yes' if r['enabled'] else 'no':<3} "
            f"{next_run:<17} {r['last_status'] or '-':<9}"
        )
    return "\n".join(out)


def cmd_schedule(args: argparse.Namespace) -> int:
    from regnekraft.ops import schedule
    from regnekraft.ops.models import JobRun, Schedule

    if args.action == "list":
        schedule.ensure_schedules()
        rows = []
        for s in Schedule.objects.all():
            last = JobRun.objects.filter(schedule=s).order_by("-started_at").first()
            rows.append({**schedule.describe(s), "last_status": last.status if last else None})
        emit(args, rows, _table)
        return 0
    if not args.name:
        raise SystemExit(f"error: schedule {args.action} needs the schedule's name")
    if not Schedule.objects.filter(name=args.name).exists():
        names = ", ".join(Schedule.objects.values_list("name", flat=True))
        raise SystemExit(f"error: no schedule {args.name!r}; the schedules are {names}")
    if args.action == "run":
        task_id = schedule.run_now(actor(args), args.name)
        emit(args, {"schedule": args.name, "task": task_id}, f"{args.name}: queued ({task_id})")
        return 0
    changed = schedule.change_schedule(actor(args), args.name, cron=args.cron, enabled=args.enabled)
    emit(args, schedule.describe(changed), lambda d: _table([{**d, "last_status": None}]))
    return 0


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "worker",
        cmd_worker,
        "run the scheduled jobs and the job queue (Slurm sync, thresholds, mail, invoices)",
    )
    p.add_argument(
        "--once", action="store_true", help="queue what is due, run every ready job, then exit"
    )
    p.add_argument(
        "--worker-id", help="this worker's name in the records (default: host:pid:random)"
    )

    s = add_command(subparsers, "schedule", cmd_schedule, "show or change the worker's schedule")
    s.add_argument(
        "action",
        choices=("list", "set", "run"),
        help="list: the schedules; set NAME: change one; run NAME: queue a run now",
    )
    s.add_argument("name", nargs="?", help="the schedule, e.g. balances or slurm-apply:betzy")
    s.add_argument("--cron", help="when, as a cron expression in Norwegian time: '*/15 * * * *'")
    on = s.add_mutually_exclusive_group()
    on.add_argument("--enable", dest="enabled", action="store_const", const=True, default=None)
    on.add_argument("--disable", dest="enabled", action="store_const", const=False)
