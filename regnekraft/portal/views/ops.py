"""Operations (operators): the worker's schedule with its next and last run, every job run with
what it changed or why it failed, and the workers seen. Two writes on a schedule, both through
``regnekraft.ops.schedule``: run it now, and change when it runs or whether it runs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from regnekraft import formats
from regnekraft.ops.health import WORKER_SEEN_WITHIN, last_worker_seen, worker_alive
from regnekraft.ops.models import JobRun, Schedule, WorkerBeat
from regnekraft.ops.queries import is_alive, job_description, with_last_run

from ..tables import Column, Table
from .base import add_refusal, int_param, page, requires
from .paging import paged

RUNS_PER_PAGE = 25

# cron weekdays: 0 and 7 are Sunday; Django's WEEKDAYS: 0 is Monday
CRON_WEEKDAY = {0: 6, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6}


def _number(text: str, lo: int, hi: int) -> int | None:
    return int(text) if text.isdigit() and lo <= int(text) <= hi else None


def cron_in_words(cron: str) -> str:
    """The common cron expressions in words (Norwegian time); "" for the others, which the page
    shows only as the expression."""
    parts = cron.split()
    if len(parts) != 5:
        return ""
    minute, hour, day, month, weekday = parts
    if month != "*":
        return ""
    if (hour, day, weekday) == ("*", "*", "*"):
        if minute == "*":
            return _("every minute")
        if minute.startswith("*/") and _number(minute[2:], 1, 59):
            return _("every %(n)s minutes") % {"n": minute[2:]}
        m = _number(minute, 0, 59)
        if m is not None:
            if m == 0:
                return _("every hour, on the hour")
            return _("every hour, %(m)s minutes past") % {"m": m}
        return ""
    m = _number(minute, 0, 59)
    if m is None:
        return ""
    if hour.startswith("*/"):
        if (day, weekday) != ("*", "*") or not _number(hour[2:], 1, 23):
            return ""
        return _("every %(n)s hours, %(m)s minutes past") % {"n": hour[2:], "m": m}
    h = _number(hour, 0, 23)
    if h is None:
        return ""
    at = f"{h:02d}:{m:02d}"
    if (day, weekday) == ("*", "*"):
        return _("every day at %(time)s") % {"time": at}
    d = _number(day, 1, 31)
    if d is not None and weekday == "*":
        return _("on day %(day)s of every month at %(time)s") % {"day": d, "time": at}
    w = _number(weekday, 0, 7)
    if w is not None and day == "*":
        return _("every %(weekday)s at %(time)s") % {
            "weekday": str(WEEKDAYS[CRON_WEEKDAY[w]]).lower(),
            "time": at,
        }
    return ""


def duration_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """How long a run took, for people: "0.4 s", "12 s", "3 min 5 s", "2 h 1 min"."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 10:
        return _("%(s)s s") % {"s": formats.number(seconds, 1)}
    whole = int(round(seconds))
    if whole < 60:
        return _("%(s)s s") % {"s": whole}
    if whole < 3600:
        return _("%(m)s min %(s)s s") % {"m": whole // 60, "s": whole % 60}
    return _("%(h)s h %(m)s min") % {"h": whole // 3600, "m": whole % 3600 // 60}


def summary_items(summary: Any) -> list[tuple[str, str]]:
    """A run's summary (what it changed) as (term, value) pairs for a definition list."""
    if not isinstance(summary, dict):
        return [] if summary in (None, "", [], {}) else [(_("result"), _value(summary))]
    return [(str(key).replace("_", " ").replace("-", " "), _value(v)) for key, v in summary.items()]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return formats.number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def error_headline(error: str) -> str:
    """The last line of an error (a traceback's last line names what went wrong)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class ScheduleChangeForm(forms.Form):
    UNCHANGED, ON, OFF = "", "on", "off"

    schedule = forms.ModelChoiceField(
        queryset=Schedule.objects.order_by("name"),
        label=gettext_lazy("Schedule"),
        to_field_name="name",
    )
    cron = forms.CharField(
        label=gettext_lazy("When (cron expression)"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "Minute, hour, day of month, month and weekday, in Norwegian time, e.g. "
            "*/15 * * * * (every 15 minutes) or 0 7 * * * (07:00 every day). "
            "Leave empty to keep the time."
        ),
    )
    enabled = forms.ChoiceField(
        label=gettext_lazy("On or off"),
        required=False,
        choices=[
            (UNCHANGED, gettext_lazy("unchanged")),
            (ON, gettext_lazy("on")),
            (OFF, gettext_lazy("off")),
        ],
    )

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("cron") or "").strip() and not data.get("enabled"):
            raise ValidationError(_("Give a new time, or turn the schedule on or off."))
        return data


@dataclass
class ScheduleRow:
    schedule: Schedule
    description: str
    words: str
    last_status: str = ""
    last_status_label: str = ""
    last_started: dt.datetime | None = None
    last_duration: str = ""
    last_error: str = ""


@dataclass
class RunRow:
    run: JobRun
    duration: str
    changes: list[tuple[str, str]] = field(default_factory=list)
    error_headline: str = ""

    @property
    def failed(self) -> bool:
        return self.run.status in (JobRun.Status.FAILED, JobRun.Status.RETRYING)


STATUS_LABELS = dict(JobRun.Status.choices)


def _schedule_rows(request: HttpRequest, table: Table) -> list[ScheduleRow]:
    rows = []
    for s in paged(request, table, with_last_run(Schedule.objects.order_by("name", "pk"))):
        status = s.last_run_status or ""  # type: ignore[attr-defined]
        row = ScheduleRow(
            schedule=s,
            description=job_description(s.job),
            words=cron_in_words(s.cron),
            last_status=status,
            last_status_label=str(STATUS_LABELS.get(status, status)),
            last_started=s.last_run_started_at,  # type: ignore[attr-defined]
            last_duration=duration_text(
                s.last_run_started_at,  # type: ignore[attr-defined]
                s.last_run_finished_at,  # type: ignore[attr-defined]
            ),
            last_error=error_headline(s.last_run_error or ""),  # type: ignore[attr-defined]
        )
        rows.append(row)
        table.add(
            s.name,
            row.description,
            row.words,
            s.cron,
            s.enabled,
            timezone.localtime(s.next_run_at) if s.enabled else None,
            row.last_status_label or None,
            timezone.localtime(row.last_started) if row.last_started else None,
            row.last_duration,
        )
    return rows


def _run_rows(request: HttpRequest, table: Table, status: str, job: str) -> list[RunRow]:
    runs = JobRun.objects.select_related("schedule").order_by("-started_at", "-id")
    if status:
        runs = runs.filter(status=status)
    if job:
        runs = runs.filter(job=job)
    rows = []
    for r in paged(request, table, runs, per_page=RUNS_PER_PAGE):
        row = RunRow(
            run=r,
            duration=duration_text(r.started_at, r.finished_at),
            changes=summary_items(r.summary),
            error_headline=error_headline(r.error),
        )
        rows.append(row)
        table.add(
            timezone.localtime(r.started_at),
            r.job,
            r.schedule.name if r.schedule else "",
            r.attempt,
            r.worker,
            r.get_status_display(),
            row.duration,
            json.dumps(r.summary, ensure_ascii=False, sort_keys=True, default=str),
            r.error,
        )
    return rows


def _workers(request: HttpRequest, now: dt.datetime) -> Table:
    table = Table(
        "workers",
        _("Workers"),
        [
            Column(_("Worker")),
            Column(_("Host")),
            Column(_("Process")),
            Column(_("Started")),
            Column(_("Last seen")),
            Column(_("State")),
            Column(_("Running task")),
        ],
        empty_text=_("No worker has run on this server yet."),
    )
    for w in paged(request, table, WorkerBeat.objects.order_by("-seen_at", "worker_id")):
        if w.stopped_at is not None:
            state = _("stopped %(at)s") % {"at": _when(w.stopped_at)}
        elif is_alive(w, now):
            state = _("alive")
        else:
            state = _("not seen for more than %(minutes)s minutes") % {"minutes": _stale_minutes()}
        table.add(
            w.worker_id,
            w.host,
            str(w.pid),
            _when(w.started_at),
            _when(w.seen_at),
            state,
            w.current_task_id or None,
        )
    return table


def _when(at: dt.datetime) -> str:
    return formats.datetime(at)


def _stale_minutes() -> int:
    return int(WORKER_SEEN_WITHIN.total_seconds() // 60)


def _act(request: HttpRequest, form: ScheduleChangeForm) -> HttpResponse | None:
    """Handle a POST: "run now" or "change". Returns the redirect after a done write, None to
    show the page again (with the change form's refusal)."""
    action = request.POST.get("action")
    if action == "run":
        from regnekraft.ops.schedule import run_now

        schedule = Schedule.objects.filter(pk=int_param(request.POST.get("schedule"))).first()
        if schedule is None:
            messages.error(request, _("No such schedule; nothing was queued."))
            return redirect("portal:operations")
        before = schedule.pending_task_id
        try:
            queued = run_now(request.user, schedule.name)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return redirect("portal:operations")
        except KeyError as exc:  # a job this version no longer has (ops.jobs.job)
            messages.error(request, str(exc.args[0] if exc.args else exc))
            return redirect("portal:operations")
        task_id = queued if isinstance(queued, str) else queued.task_id
        if before and task_id == before:
            messages.success(
                request,
                _("%(name)s is already queued or running; it was not queued again.")
                % {"name": schedule.name},
            )
        else:
            messages.success(request, _("%(name)s is queued to run now.") % {"name": schedule.name})
        return redirect("portal:operations")
    if action == "change" and form.is_valid():
        from regnekraft.ops.schedule import change_schedule

        data = form.cleaned_data
        enabled = {form.ON: True, form.OFF: False}.get(data["enabled"])
        try:
            changed = change_schedule(
                request.user,
                data["schedule"].name,
                cron=data["cron"].strip() or None,
                enabled=enabled,
            )
        except ValidationError as exc:
            add_refusal(form, exc)
            return None
        facts = {"name": changed.name, "cron": changed.cron, "when": cron_in_words(changed.cron)}
        if changed.enabled:
            text = (
                _("%(name)s is on and runs %(when)s (%(cron)s).")
                if facts["when"]
                else _("%(name)s is on and runs at %(cron)s.")
            )
        else:
            text = _("%(name)s is off; when turned on it runs at %(cron)s.")
        messages.success(request, text % facts)
        return redirect("portal:operations")
    return None


@requires("portal:operations")
def operations(request: HttpRequest) -> HttpResponse:
    form = ScheduleChangeForm(request.POST if request.POST.get("action") == "change" else None)
    if request.method == "POST":
        done = _act(request, form)
        if done is not None:
            return done
    now = timezone.now()
    status = request.GET.get("status", "")
    if status not in STATUS_LABELS:
        status = ""
    job = request.GET.get("job", "")[:80]
    if "\x00" in job:  # PostgreSQL refuses NUL in text: a mangled filter is no filter
        job = ""
    schedules = Table(
        "schedules",
        _("Schedule"),
        [
            Column(_("Schedule")),
            Column(_("What it does")),
            Column(_("When")),
            Column(_("Cron expression")),
            Column(_("On")),
            Column(_("Next run")),
            Column(_("Last outcome")),
            Column(_("Last started")),
            Column(_("Duration")),
        ],
        empty_text=_("No schedules yet: the worker writes the defaults when it first runs."),
    )
    schedule_rows = _schedule_rows(request, schedules)
    runs = Table(
        "runs",
        _("Job runs, newest first"),
        [
            Column(_("Started")),
            Column(_("Job")),
            Column(_("Schedule")),
            Column(_("Attempt"), numeric=True),
            Column(_("Worker")),
            Column(_("Outcome")),
            Column(_("Duration")),
            Column(_("What changed")),
            Column(_("Error")),
        ],
        empty_text=_("No job has run yet."),
    )
    run_rows = _run_rows(request, runs, status, job)
    workers = _workers(request, now)
    return page(
        request,
        "portal/ops.html",
        {
            "title": _("Operations"),
            "alive": worker_alive(now),
            "last_seen": last_worker_seen(),
            "stale_minutes": _stale_minutes(),
            "schedule_rows": schedule_rows,
            "schedules": schedules,
            "run_rows": run_rows,
            "runs": runs,
            "workers": workers,
            "form": form,
            "statuses": JobRun.Status.choices,
            "status": status,
            "jobs": _job_names(schedule_rows, job),
            "job": job,
        },
        tables=[schedules, runs, workers],
    )


def _job_names(rows: list[ScheduleRow], chosen: str) -> list[str]:
    """The jobs to filter the runs by: those this version knows and those scheduled."""
    from regnekraft.ops import jobs

    names = set(getattr(jobs, "JOBS", {})) | {r.schedule.job for r in rows}
    return sorted(names | ({chosen} if chosen else set()))
