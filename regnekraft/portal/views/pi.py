"""Principal investigators (and members): projects, applications, allocations, usage,
warnings, charges, members and change requests."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from regnekraft import access
from regnekraft.accounting.aggregates import use_and_charges
from regnekraft.allocation.applications import submit_application
from regnekraft.allocation.calls import require_open
from regnekraft.allocation.changes import request_change
from regnekraft.allocation.models import Allocation, Application, Call, CallStatus
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Person
from regnekraft.parties.projects import add_member, remove_member

from .. import reports
from ..forms import (
    ApplicationForm,
    ChangeRequestForm,
    MemberForm,
    allocation_label,
    class_label,
)
from ..reports import ZERO
from ..tables import Cell, Column, Table
from .base import add_refusal, int_param, not_visible, page, requires
from .paging import paged


def _allocation_table(request, allocations, table_id: str = "allocations") -> Table:
    return _allocations(request, allocations, table_id)[0]


def _allocations(request, allocations, table_id: str = "allocations") -> tuple[Table, list]:
    """The page of ``allocations`` as a table, and the allocations on it."""
    table = Table(
        table_id,
        _("Allocations"),
        [
            Column(_("Project")),
            Column(_("Resource")),
            Column(_("Granted"), numeric=True),
            Column(_("Used"), numeric=True),
            Column(_("Used share"), kind="percent", decimals=1),
            Column(_("Unit"), kind="unit"),
            Column(_("From")),
            Column(_("Until")),
            Column(_("Price category")),
            Column(_("Status")),
            Column(_("Charged"), kind="money"),
        ],
        empty_text=_("No allocations yet."),
    )
    shown = paged(
        request,
        table,
        allocations.select_related("project", "resource_class__system").order_by("-start", "-pk"),
    )
    used = use_and_charges([a.pk for a in shown])  # the ids are known: no query for them
    for a in shown:
        q, c = used.get(a.pk, (reports.ZERO, reports.ZERO))
        table.add(
            Cell(a.project.code, reverse("portal:project", args=[a.project.code])),
            class_label(a.resource_class),
            a.amount,
            q,
            (100 * q / a.amount) if a.amount else None,
            a.resource_class.unit,
            a.start,
            a.end,
            a.price_category,
            a.get_status_display(),
            c,
        )
    return table, shown


@requires("portal:pi")
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    projects = access.visible_projects(user).select_related("organisation", "pi")
    person = access.person_of(user)
    project_table = Table(
        "projects",
        _("Projects"),
        [
            Column(_("Code")),
            Column(_("Title")),
            Column(_("Organisation")),
            Column(_("My role")),
            Column(_("Purpose")),
        ],
        empty_text=_("You are not part of any project yet."),
    )
    shown_projects = paged(request, project_table, projects.order_by("code", "pk"))
    for p in shown_projects:
        mine = (
            _("Principal investigator") if p.pi_id == getattr(person, "pk", None) else _("Member")
        )
        project_table.add(
            Cell(p.code, reverse("portal:project", args=[p.code])),
            p.title,
            p.organisation,
            mine,
            p.get_purpose_display(),
        )
    # The page shows what hangs on the visible projects: their allocations and applications are
    # exactly what access.visible_allocations/visible_applications allow for them, so the project
    # list is evaluated once instead of rebuilding the access sub-queries for every table.
    if project_table.pager.number == 1 and not project_table.pager.next_url:  # type: ignore[attr-defined]
        project_ids = [p.pk for p in shown_projects]  # the first page holds them all
    else:
        project_ids = list(projects.values_list("pk", flat=True))
    allocations = Allocation.objects.filter(project_id__in=project_ids)
    applications = Application.objects.filter(project_id__in=project_ids).select_related(
        "call", "project"
    )
    app_table = Table(
        "applications",
        _("Applications"),
        [
            Column(_("Call")),
            Column(_("Project")),
            Column(_("Status")),
            Column(_("Submitted")),
        ],
        empty_text=_("No applications yet."),
    )
    for a in paged(request, app_table, applications.order_by("-submitted_at", "-pk")):
        app_table.add(a.call.name, a.project.code, a.get_status_display(), a.submitted_at.date())
    warn_table = Table(
        "warnings",
        _("Warnings"),
        [
            Column(_("When")),
            Column(_("Project")),
            Column(_("Resource")),
            Column(_("Threshold"), kind="percent"),
            Column(_("Action")),
            Column(_("Used share"), kind="percent", decimals=1),
        ],
        empty_text=_("No warnings."),
    )
    warnings = reports.warnings_for(project_ids)  # on the project ids already read
    for e in paged(request, warn_table, warnings.order_by("-at", "-pk")):
        warn_table.add(
            e.at.date(),
            e.allocation.project.code,
            class_label(e.allocation.resource_class),
            100 * e.threshold,
            e.get_action_display(),
            100 * e.used_share,
        )
    charge_table = Table(
        "charges",
        _("Charges per month"),
        [
            Column(_("Month")),
            Column(_("Project")),
            Column(_("Units used"), numeric=True),
            Column(_("Charged"), kind="money"),
        ],
        empty_text=_("No usage recorded yet."),
    )
    for r in paged(request, charge_table, reports.monthly_charges(project_ids)):
        charge_table.add(f"{r['month']:%Y-%m}", r["project__code"], r["q"], r["c"])
    invoice_table = Table(
        "invoices",
        _("Invoices"),
        [
            Column(_("Organisation")),
            Column(_("Period")),
            Column(_("Total"), kind="money"),
        ],
        empty_text=_("No invoices."),
    )
    invoices = (
        access.visible_invoices(user)
        .select_related("organisation")
        # the total of the lines of the visible projects, summed with the page's query
        .annotate(
            visible_total=Sum("lines__amount_nok", filter=Q(lines__project_id__in=project_ids))
        )
        .order_by("-period_start", "-pk")
    )
    for inv in paged(request, invoice_table, invoices):
        # a PI who is not the invoice's contact sees the total of their projects' lines
        whole = access.sees_whole_invoice(user, inv)
        total = inv.total_nok if whole else (inv.visible_total or ZERO)
        invoice_table.add(inv.organisation, f"{inv.period_start} – {inv.period_end}", total)
    tables = [
        project_table,
        _allocation_table(request, allocations),
        app_table,
        warn_table,
        charge_table,
        invoice_table,
    ]
    return page(request, "portal/pi_overview.html", {"title": _("My projects")}, tables=tables)


def _own_project(request: HttpRequest, code: str):
    return (
        access.visible_projects(request.user)
        .filter(code=code)
        .select_related("organisation", "pi")
        .first()
    )


@requires("portal:pi")
def project(request: HttpRequest, code: str) -> HttpResponse:
    proj = _own_project(request, code)
    if proj is None:
        return not_visible(request)
    person = access.person_of(request.user)
    is_pi = person is not None and proj.pi_id == person.pk
    form = MemberForm()
    if request.method == "POST":
        if not is_pi:
            return not_visible(request)
        if "remove" in request.POST:
            member = proj.members.filter(pk=int_param(request.POST.get("remove"))).first()
            if member is not None:
                remove_member(request.user, proj, member)
                messages.success(
                    request, _("%(name)s is no longer a member.") % {"name": member.name}
                )
            return redirect("portal:project", code=proj.code)
        form = MemberForm(request.POST)
        if form.is_valid():
            found = Person.objects.filter(email__iexact=form.cleaned_data["email"]).first()
            if found is None:
                form.add_error("email", _("No person with that e-mail address has an account."))
            else:
                try:
                    add_member(request.user, proj, found)
                except ValidationError as exc:
                    form.add_error("email", exc.messages)
                else:
                    messages.success(request, _("%(name)s is now a member.") % {"name": found.name})
                    return redirect("portal:project", code=proj.code)
    members = Table(
        "members",
        _("Members"),
        [Column(_("Name")), Column(_("E-mail")), Column(_("Slurm user"))],
        empty_text=_("No members besides the PI."),
    )
    member_list = paged(request, members, proj.members.order_by("name", "pk"))
    for m in member_list:
        members.add(m.name, m.email, m.slurm_username)
    allocations = access.visible_allocations(request.user).filter(project=proj)
    allocation_table, allocation_list = _allocations(request, allocations)
    ctx = {
        "title": f"{proj.code}: {proj.title}",
        "project": proj,
        "is_pi": is_pi,
        "form": form,
        "member_list": member_list,  # the members and allocations on this page of the tables
        "allocation_list": allocation_list,
    }
    return page(
        request,
        "portal/pi_project.html",
        ctx,
        tables=[members, allocation_table],
    )


@requires("portal:pi")
def change(request: HttpRequest, allocation_id: int) -> HttpResponse:
    allocation = (
        access.visible_allocations(request.user)
        .filter(pk=allocation_id)
        .select_related("project", "resource_class__system")
        .first()
    )
    person = access.person_of(request.user)
    if allocation is None or person is None or allocation.project.pi_id != person.pk:
        return not_visible(request)
    form = ChangeRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            request_change(
                request.user,
                allocation,
                kind=form.cleaned_data["kind"],
                amount=form.cleaned_data["amount"],
                new_end=form.cleaned_data["new_end"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, _("Your change request has been sent to the operators."))
            return redirect("portal:project", code=allocation.project.code)
    return page(
        request,
        "portal/form_page.html",
        {
            "title": _("Request a change"),
            "intro": allocation_label(allocation),
            "form": form,
            "submit": _("Send request"),
        },
    )


@requires("portal:pi_apply")
def apply_start(request: HttpRequest) -> HttpResponse:
    person = access.person_of(request.user)
    calls = list(Call.objects.filter(status=CallStatus.OPEN).order_by("closes"))
    projects = list(access.visible_projects(request.user).filter(pi=person))
    return page(
        request,
        "portal/pi_apply_start.html",
        {"title": _("Apply for resources"), "calls": calls, "projects": projects},
    )


@requires("portal:pi_apply")
def apply(request: HttpRequest, call_id: int, code: str) -> HttpResponse:
    person = access.person_of(request.user)
    call = Call.objects.filter(pk=call_id).first()
    proj = access.visible_projects(request.user).filter(code=code, pi=person).first()
    if call is None or proj is None:
        return not_visible(request)
    classes = ResourceClass.objects.filter(orderable=True).select_related("system")
    colleagues = Person.objects.filter(organisation=proj.organisation).exclude(pk=proj.pi_id)
    form = ApplicationForm(
        request.POST or None,
        classes=classes,
        colleagues=colleagues,
        initial={"members": list(proj.members.all())},
    )
    if request.method == "GET":
        try:  # a call that has closed says so, in the words the service refuses with
            require_open(call)
        except ValidationError as exc:
            add_refusal(form, exc)
    if request.method == "POST" and form.is_valid():
        try:
            submit_application(
                request.user,
                call,
                proj,
                justification=form.cleaned_data["justification"],
                support_hours=form.cleaned_data["support_hours"],
                requests=form.amounts(),
                members=form.cleaned_data["members"],
            )
        except ValidationError as exc:
            add_refusal(form, exc)
        else:
            messages.success(
                request,
                _("Application for %(code)s submitted in %(call)s.")
                % {"code": proj.code, "call": call.name},
            )
            return redirect("portal:pi")
    return page(
        request,
        "portal/pi_apply.html",
        {
            "title": _("Apply in %(call)s for %(code)s") % {"call": call.name, "code": proj.code},
            "call": call,
            "project": proj,
            "form": form,
        },
    )
