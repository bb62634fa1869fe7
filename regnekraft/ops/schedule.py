"""The schedule: which jobs run when, queued by whichever worker looks first.

The defaults (:data:`DEFAULTS`, docs/operations.md) are written to the
:class:`~regnekraft.ops.models.Schedule` table the first time a worker runs; from then on the
table rules, and an operator changes it with :func:`change_schedule` (portal, API, admin,
``regnekraft schedule set``). Times are cron expressions in Norwegian time.

Several workers may look at once: :func:`queue_due` takes the due rows under a row lock
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock, taken at the start
of the transaction, serialises them), so a due run is queued once, and a schedule whose last
run is still queued or running is not queued again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from regnekraft.audit.log import note
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind

from .jobs import job
from .models import Schedule

logger = logging.getLogger(__name__)

OSLO = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True)
class Default:
    """A schedule the platform starts with. ``at_start``: the first run is due at once (a
    fresh installation checks its thresholds now, not at the next hour)."""

    name: str
    job: str
    cron: str
    arguments: dict[str, Any] = field(default_factory=dict)
    at_start: bool = True


DEFAULTS: tuple[Default, ...] = (
    Default("balances", "balances", "0 * * * *"),  # hourly
    Default("notifications", "notifications", "*/5 * * * *"),
    Default("digests", "digests", "0 7 * * *", at_start=False),  # 07:00 every day
    Default("usage-days", "usage-days", "30 2 * * *", at_start=False),  # 02:30 every night
    Default("month-end-invoices", "month-end-invoices", "0 6 1 * *", at_start=False),
    Default("housekeeping", "housekeeping", "0 4 * * 0", at_start=False),  # Sundays 04:00
)
SLURM_EVERY = "*/15 * * * *"


def slurm_defaults() -> list[Default]:
    """Apply and ingest every 15 minutes for each cluster in the Slurm connections file
    (docs/slurm.md); none without one."""
    from regnekraft.slurm.service import CONNECTIONS_FILE, default_state_dir

    path = Path(os.environ.get("REGNEKRAFT_SLURM_CONNECTIONS", ""))
    if not path.name:
        path = Path(default_state_dir()) / CONNECTIONS_FILE
    try:
        clusters = sorted(json.loads(path.read_text()))
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as exc:
        logger.error("cannot read the Slurm connections file %s: %s", path, exc)
        return []
    return [
        Default(f"slurm-{mode}:{cluster}", f"slurm-{mode}", SLURM_EVERY, {"cluster": cluster})
        for cluster in clusters
        for mode in ("apply", "ingest")
    ]


def next_time(cron: str, after: dt.datetime) -> dt.datetime:
    """The first time after ``after`` that ``cron`` names, in Norwegian time."""
    return croniter(cron, after.astimezone(OSLO)).get_next(dt.datetime)


def check_cron(cron: str) -> str:
    cron = " ".join(cron.split())
    if not croniter.is_valid(cron):
        raise ValidationError(
            {"cron": f"{cron!r} is not a cron expression (minute hour day month weekday)"}
        )
    return cron


def ensure_schedules(now: dt.datetime | None = None) -> int:
    """Write the default schedules that are missing; return how many were added."""
    now = now or timezone.now()
    have = set(Schedule.objects.values_list("name", flat=True))
    missing = [d for d in (*DEFAULTS, *slurm_defaults()) if d.name not in have]
    Schedule.objects.bulk_create(
        [
            Schedule(
                name=d.name,
                job=d.job,
                arguments=d.arguments,
                cron=d.cron,
                next_run_at=now if d.at_start else next_time(d.cron, now),
            )
            for d in missing
        ],
        ignore_conflicts=True,  # another worker wrote them first
    )
    return len(missing)


def _still_pending(task_id: str) -> bool:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(id=task_id, status__in=("READY", "RUNNING")).exists()


def queue_due(now: dt.datetime | None = None) -> list[str]:
    """Queue a run of every enabled schedule that is due; return the names queued."""
    from .tasks import enqueue

    now = now or timezone.now()
    queued = []
    with transaction.atomic():
        due = Schedule.objects.select_for_update(skip_locked=True).filter(
            enabled=True, next_run_at__lte=now
        )
        for schedule in due:
            schedule.next_run_at = next_time(schedule.cron, now)
            if schedule.pending_task_id and _still_pending(schedule.pending_task_id):
                logger.info("%s: the last run is still queued or running; skipped", schedule)
            else:
                try:
                    schedule.pending_task_id = enqueue(schedule.job, schedule.arguments, schedule)
                except KeyError as exc:  # a job this version no longer has: the others run
                    logger.error("schedule %s not queued: %s", schedule.name, exc.args[0])
                    schedule.save(update_fields=["next_run_at"])
                    continue
                schedule.last_enqueued_at = now
                queued.append(schedule.name)
            schedule.save(update_fields=["next_run_at", "pending_task_id", "last_enqueued_at"])
    return queued


def _operator(actor: Any, action: str) -> None:
    require_role(actor, RoleKind.OPERATOR, action=action)


@transaction.atomic
def run_now(actor: Any, name: str) -> str:
    """Queue a run of schedule ``name`` now (operators); returns the queued task's id, or the
    id of the run still queued or running."""
    _operator(actor, "run a scheduled job now")
    schedule = Schedule.objects.select_for_update().get(name=name)
    if schedule.pending_task_id and _still_pending(schedule.pending_task_id):
        return schedule.pending_task_id
    from .tasks import enqueue

    schedule.pending_task_id = enqueue(schedule.job, schedule.arguments, schedule)
    schedule.last_enqueued_at = timezone.now()
    schedule.save(update_fields=["pending_task_id", "last_enqueued_at"])
    note("run now", schedule, {"task": schedule.pending_task_id})
    return schedule.pending_task_id


@transaction.atomic
def change_schedule(
    actor: Any, name: str, *, cron: str | None = None, enabled: bool | None = None
) -> Schedule:
    """Change when a schedule runs, or turn it on or off (operators; audited)."""
    _operator(actor, "change the schedule")
    schedule = Schedule.objects.select_for_update().get(name=name)
    before = {"cron": schedule.cron, "enabled": schedule.enabled}
    if cron is not None:
        schedule.cron = check_cron(cron)
        schedule.next_run_at = next_time(schedule.cron, timezone.now())
    if enabled is not None:
        schedule.enabled = enabled
    schedule.changed_by_operator = True
    schedule.save()
    note("update", schedule, {"before": before, "cron": schedule.cron, "enabled": schedule.enabled})
    return schedule


def describe(schedule: Schedule) -> dict[str, Any]:
    """A schedule as the CLI and the API show it."""
    return {
        "name": schedule.name,
        "job": schedule.job,
        "description": job(schedule.job).description if schedule.job else "",
        "arguments": schedule.arguments,
        "cron": schedule.cron,
        "enabled": schedule.enabled,
        "next_run_at": schedule.next_run_at,
        "last_enqueued_at": schedule.last_enqueued_at,
    }
