"""Platform operators: catalogue and capacities, calls, the round, change requests, cluster
sync status and the audit log."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from regnekraft import access, formats
from regnekraft.accounting.models import ImportBatch, UsageDay
from regnekraft.allocation.applications import decide_round
from regnekraft.allocation.calls import save_call, set_call_status
from regnekraft.allocation.changes import decide_change
from regnekraft.allocation.models import (
    AllocationStatus,
    Call,
    CallStatus,
    ChangeRequest,
    ChangeStatus,
)
from regnekraft.allocation.policy import PolicyViolation
from regnekraft.allocation.reviews import assign_reviewer
from regnekraft.audit.models import AuditEntry
from regnekraft.catalog.models import System
from regnekraft.parties.models import Person, RoleKind

from .. import reports, round_plan
from ..forms import CallForm, ReviewerForm, class_label
from ..tables import Cell, Column, Table
from .base import int_param, not_visible, page, requires, year_param
from .paging import PER_PAGE, paged


@requires("portal:catalogue")
def catalogue(request: HttpRequest) -> HttpResponse:
    year = year_param(request)
    systems = Table(
        "systems",
        _("Systems"),
        [
            Column(_("System")),
            Column(_("Kind")),
            Column(_("Country")),
            Column(_("Security zone")),
            Column(_("Availability tier"), numeric=True),
            Column(_("In service from")),
            Column(_("Until")),
        ],
    )
    for s in paged(request, systems, System.objects.order_by("name", "pk")):
        systems.add(
            s.name,
            s.get_kind_display(),
            s.country,
            s.get_security_zone_display(),
            s.availability_tier,
            s.commissioned,
            s.decommissioned,
        )
    classes = Table(
        "capacities",
        _("Capacity and commitments in %(year)s") % {"year": year},
        [
            Column(_("Resource")),
            Column(_("Unit"), kind="unit"),
            Column(_("Capacity"), numeric=True),
            Column(_("Committed"), numeric=True),
            Column(_("Free"), numeric=True),
            Column(_("Used"), numeric=True),
            Column(_("Economic-activity room"), numeric=True),
            Column(_("Non-research room"), numeric=True),
        ],
    )
    for row in reports.class_rows(year):
        classes.add(
            class_label(row["rc"]),
            row["rc"].unit,
            row["capacity"],
            row["committed"],
            row["free"],
            row["used"],
            row["economic_room"],
            row["non_research_room"],
        )
    return page(
        request,
        "portal/catalogue.html",
        {"title": _("Catalogue and capacities"), "year": year},
        tables=[systems, classes],
    )


@requires("portal:calls")
def calls(request: HttpRequest) -> HttpResponse:
    form = CallForm(request.POST or None)
    if request.method == "POST":
        if "status" in request.POST:
            call = Call.objects.filter(pk=int_param(request.POST.get("call"))).first()
            if call is not None and request.POST["status"] in (CallStatus.OPEN, CallStatus.REVIEW):
                try:
                    set_call_status(request.user, call, request.POST["status"])
                    messages.success(
                        request,
                        _("%(call)s is now: %(status)s.")
                        % {"call": call.name, "status": call.get_status_display()},
                    )
                except ValidationError as exc:
                    messages.error(request, "; ".join(exc.messages))
            return redirect("portal:calls")
        if form.is_valid():
            save_call(request.user, **form.cleaned_data)
            messages.success(request, _("Call created as a draft."))
            return redirect("portal:calls")
    table = Table(
        "calls",
        _("Calls"),
        [
            Column(_("Call")),
            Column(_("Opens")),
            Column(_("Closes")),
            Column(_("Period")),
            Column(_("Status")),
            Column(_("Applications"), numeric=True),
        ],
        empty_text=_("No calls yet."),
    )
    shown = paged(request, table, Call.objects.order_by("-period_start", "-pk"))
    counts = {
        c["call"]: c["n"]
        for c in access.visible_applications(request.user)
        .filter(call__in=[c.pk for c in shown])
        .values("call")
        .annotate(n=Count("id"))
        .order_by()
    }
    call_list = [{"call": c, "applications": counts.get(c.pk, 0)} for c in shown]
    for item in call_list:
        c = item["call"]
        table.add(
            Cell(c.name, reverse("portal:round", args=[c.pk])),
            c.opens,
            c.closes,
            f"{formats.date(c.period_start)} – {formats.date(c.period_end)}",
            c.get_status_display(),
            item["applications"],
        )
    return page(
        request,
        "portal/calls.html",
        {"title": _("Calls and rounds"), "form": form, "call_list": call_list},
        tables=[table],
    )


@requires("portal:calls")
def round_page(request: HttpRequest, call_id: int) -> HttpResponse:
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return not_visible(request)
    reviewers = Person.objects.filter(roles__kind=RoleKind.REVIEWER).distinct()
    if request.method == "POST" and request.POST.get("action") == "assign":
        form = ReviewerForm(request.POST, reviewers=reviewers)
        app = (
            access.visible_applications(request.user)
            .filter(pk=int_param(request.POST.get("application")), call=call)
            .first()
        )
        if app is not None and form.is_valid():
            try:
                assign_reviewer(request.user, app, form.cleaned_data["reviewer"])
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))
            else:
                messages.success(request, _("Reviewer assigned."))
        return redirect("portal:round", call_id=call.pk)
    view = round_plan.build(call, propose=request.method != "POST")
    verdicts: list = []
    checked = False
    if request.method == "POST" and call.status != CallStatus.DECIDED:
        grants, bad = round_plan.grants_from(view, request.POST)
        for line in view.lines:
            line.proposed = grants.get(line.application.pk, {}).get(line.resource_class.pk)
        if bad:
            messages.error(
                request, _("Some amounts are not numbers of zero or more; nothing was decided.")
            )
        elif request.POST.get("action") == "decide":
            try:
                decide_round(request.user, call, grants)
            except PolicyViolation as exc:
                verdicts = exc.violations
                messages.error(request, _("The grants break the rules; nothing was decided."))
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))
            else:
                messages.success(
                    request, _("The round of %(call)s is decided.") % {"call": call.name}
                )
                return redirect("portal:round", call_id=call.pk)
        else:
            verdicts = round_plan.verdicts(view, grants)
            checked = True
    decided = Table(
        "decided",
        _("Decided grants"),
        [
            Column(_("Project")),
            Column(_("Resource")),
            Column(_("Granted"), numeric=True),
            Column(_("Unit"), kind="unit"),
            Column(_("Price category")),
        ],
        empty_text=_("Nothing decided yet."),
    )
    for a in paged(
        request,
        decided,
        access.visible_allocations(request.user)
        .filter(application__call=call)
        .select_related("project", "resource_class__system")
        .order_by("project__code", "pk"),
    ):
        decided.add(
            a.project.code,
            class_label(a.resource_class),
            a.amount,
            a.resource_class.unit,
            a.price_category,
        )
    # the applications with their reviewers, a page at a time (the pager is shown above them)
    app_pages = Table("round_applications", _("Applications and reviewers"), [])
    apps = paged(
        request,
        app_pages,
        access.visible_applications(request.user)
        .filter(call=call)
        .select_related("project")
        .prefetch_related("reviews__reviewer")
        .order_by("project__code", "pk"),
    )
    return page(
        request,
        "portal/round.html",
        {
            "title": _("Round: %(call)s") % {"call": call.name},
            "call": call,
            "view": view,
            "verdicts": verdicts,
            "checked": checked,
            "editable": call.status != CallStatus.DECIDED,
            "applications": apps,
            "application_pages": app_pages,
            "reviewer_form": ReviewerForm(reviewers=reviewers),
            "optimiser_available": round_plan.optimiser is not None,
        },
        tables=[decided],
    )


@requires("portal:changes")
def changes(request: HttpRequest) -> HttpResponse:
    visible = ChangeRequest.objects.filter(allocation__in=access.visible_allocations(request.user))
    if request.method == "POST":
        change = visible.filter(pk=int_param(request.POST.get("change"))).first()
        if change is not None:
            approve = request.POST.get("decision") == "approve"
            try:
                decide_change(request.user, change, approve, note=request.POST.get("note", ""))
            except PolicyViolation as exc:
                messages.error(
                    request,
                    _("Not approved: %(why)s")
                    % {"why": "; ".join(v.message for v in exc.violations)},
                )
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))
            else:
                messages.success(request, _("Change request decided."))
        return redirect("portal:changes")
    # the oldest pending first, a bounded number: deciding them brings up the next
    pending = list(
        visible.filter(status=ChangeStatus.PENDING)
        .select_related("allocation__project", "allocation__resource_class__system", "requested_by")
        .order_by("created", "pk")[:PER_PAGE]
    )
    table = Table(
        "change_requests",
        _("All change requests"),
        [
            Column(_("Created")),
            Column(_("Project")),
            Column(_("Resource")),
            Column(_("Kind")),
            Column(_("Amount"), numeric=True),
            Column(_("New end")),
            Column(_("Status")),
            Column(_("Reason")),
        ],
        empty_text=_("No change requests."),
    )
    for c in paged(
        request,
        table,
        visible.select_related(
            "allocation__project", "allocation__resource_class__system"
        ).order_by("-created", "-pk"),
    ):
        table.add(
            c.created.date(),
            c.allocation.project.code,
            class_label(c.allocation.resource_class),
            c.get_kind_display(),
            c.amount,
            c.new_end,
            c.get_status_display(),
            c.reason,
        )
    return page(
        request,
        "portal/changes.html",
        {"title": _("Change requests"), "pending": pending},
        tables=[table],
    )


def _slurm_runs() -> dict:
    """The Slurm bridge's last run per cluster and mode, as it recorded them in the database."""
    from regnekraft.slurm.models import SyncRun

    runs: dict = {}
    for run in SyncRun.objects.order_by("at", "id"):
        runs.setdefault(run.cluster, {})[run.mode] = {
            "last_run": run.at.timestamp(),
            "changes": run.changes,
            "applied": run.applied,
            "error": run.error,
        }
    return runs


@requires("portal:sync")
def sync(request: HttpRequest) -> HttpResponse:
    allocations = access.visible_allocations(request.user)
    active = dict(
        allocations.filter(status=AllocationStatus.ACTIVE)
        .values_list("resource_class__system__slug")
        .annotate(n=Count("id"))
        .values_list("resource_class__system__slug", "n")
    )
    blocked = dict(
        allocations.filter(status="blocked")
        .values_list("resource_class__system__slug")
        .annotate(n=Count("id"))
        .values_list("resource_class__system__slug", "n")
    )
    usage = {
        r["cluster"]: r
        for r in UsageDay.objects.values("cluster").annotate(
            n=Sum("records"),
            last=Max("usage_date"),
            projects=Count("project", distinct=True, filter=Q(allocation__isnull=True)),
        )
    }
    table = Table(
        "sync",
        _("Clusters"),
        [
            Column(_("Cluster")),
            Column(_("Active allocations"), numeric=True),
            Column(_("Blocked"), numeric=True),
            Column(_("Usage records"), numeric=True),
            Column(_("Latest usage")),
            Column(_("Projects with usage outside any allocation"), numeric=True),
        ],
    )
    for s in System.objects.all():
        u = usage.get(s.slug, {})
        table.add(
            s.slug,
            active.get(s.slug, 0),
            blocked.get(s.slug, 0),
            u.get("n", 0),
            u.get("last"),
            u.get("projects", 0),
        )
    batches = Table(
        "imports",
        _("Latest usage imports"),
        [
            Column(_("Started")),
            Column(_("Source")),
            Column(_("File")),
            Column(_("Read"), numeric=True),
            Column(_("New"), numeric=True),
            Column(_("Duplicates"), numeric=True),
        ],
        empty_text=_("No imports yet."),
    )
    for b in ImportBatch.objects.order_by("-started")[:20]:
        batches.add(
            b.started, b.source, b.filename, b.records_read, b.records_new, b.records_duplicate
        )
    runs = Table(
        "slurm_runs",
        _("Last runs of the Slurm bridge"),
        [
            Column(_("Cluster")),
            Column(_("Mode")),
            Column(_("When")),
            Column(_("Changes"), numeric=True),
            Column(_("Applied"), numeric=True),
            Column(_("Error")),
        ],
        empty_text=_("The Slurm bridge has not run on this server yet."),
    )
    for cluster, modes in sorted(_slurm_runs().items()):
        for mode, run in sorted(modes.items()):
            when = dt.datetime.fromtimestamp(run.get("last_run") or 0, tz=dt.UTC)
            runs.add(
                cluster,
                mode,
                timezone.localtime(when),
                run.get("changes"),
                run.get("applied"),
                run.get("error") or "",
            )
    return page(
        request,
        "portal/table_page.html",
        {
            "title": _("Cluster sync"),
            "intro": _(
                "What the platform has pushed to each cluster and what usage has come back."
            ),
        },
        tables=[table, runs, batches],
    )


_FIGURE = r"(-?\d+(?:\.\d+)?)"
_STORED_QUANTITY = re.compile(
    _FIGURE + r" (core-hours|GPU-hours|TB-months|node-hours|person-hours)\b"
)
_STORED_MONEY = re.compile(_FIGURE + r" NOK\b")
_STORED_DAY = re.compile(r"\b(\d{4}-\d\d-\d\d)\b")
_STORED_PERIOD = re.compile(r"\b(\d{4}-\d\d-\d\d)\.\.(\d{4}-\d\d-\d\d)\b")


def readable_repr(text: str) -> str:
    """An audit entry's stored description (the object's ``str`` when it was written, so in
    English and with raw figures) with its quantities, amounts and days in the reader's
    format: ``100000.00 core-hours`` reads ``100 000 kjernetimer``, ``2027-01-01`` ``1. jan.
    2027``."""

    def day(iso: str) -> str:
        try:
            return formats.date(dt.date.fromisoformat(iso))
        except ValueError:
            return iso

    text = _STORED_PERIOD.sub(lambda m: f"{day(m[1])} – {day(m[2])}", text)
    text = _STORED_DAY.sub(lambda m: day(m[1]), text)
    text = _STORED_QUANTITY.sub(lambda m: formats.quantity(m[1], m[2]), text)
    return _STORED_MONEY.sub(lambda m: formats.money(m[1]), text)


@requires("portal:audit")
def audit(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("type", "")
    entries = AuditEntry.objects.all()
    if kind:
        entries = entries.filter(object_type=kind)
    table = Table(
        "audit",
        _("Latest changes"),
        [
            Column(_("When")),
            Column(_("Who")),
            Column(_("Action")),
            Column(_("Type")),
            Column(_("Object")),
        ],
        empty_text=_("No changes recorded."),
    )
    for e in paged(request, table, entries.order_by("-at", "-id")):
        table.add(e.at, e.actor_label, e.action, e.object_type, readable_repr(e.object_repr))
    types = list(
        AuditEntry.objects.values_list("object_type", flat=True).distinct().order_by("object_type")
    )
    return page(
        request,
        "portal/audit.html",
        {"title": _("Audit log"), "types": types, "type": kind},
        tables=[table],
    )
