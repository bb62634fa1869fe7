"""Sector coordinators: order the sector's yearly capacity (price and commitment shown before
confirming), pass it on to the sector's projects, follow use and cost."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from regnekraft import access, formats
from regnekraft.allocation import orders, policy
from regnekraft.allocation.models import Allocation, OrderStatus, SectorOrderLine
from regnekraft.allocation.policy import PolicyViolation
from regnekraft.catalog.models import PriceCategory, ResourceClass

from .. import reports
from ..forms import OrderForm, SubAllocateForm, class_label
from ..tables import Cell, Column, Table
from .base import add_refusal, not_visible, page, requires
from .paging import paged


def _sector_organisations(request: HttpRequest):
    return access.visible_organisations(request.user).filter(
        sector__in=access.coordinated_sectors(request.user)
    )


@requires("portal:sector")
def overview(request: HttpRequest) -> HttpResponse:
    orders = (
        access.visible_orders(request.user)
        .select_related("organisation")
        .prefetch_related("lines__resource_class__system", "lines__sub_allocations")
    )
    order_table = Table(
        "orders",
        _("Orders"),
        [
            Column(_("Year")),
            Column(_("Sector")),
            Column(_("Organisation")),
            Column(_("Status")),
            Column(_("Resource")),
            Column(_("Ordered"), numeric=True),
            Column(_("Passed on"), numeric=True),
            Column(_("Unit"), kind="unit"),
            Column(_("Commitment"), kind="percent", decimals=0),
        ],
        empty_text=_("No orders yet."),
    )
    # one row per order line: the orders are paged (a page never splits an order)
    for o in paged(request, order_table, orders.order_by("-year", "organisation__name", "pk")):
        for line in o.lines.all():
            passed = sum((a.amount for a in line.sub_allocations.all() if a.is_live), Decimal(0))
            label = (
                Cell(
                    class_label(line.resource_class), reverse("portal:suballocate", args=[line.pk])
                )
                if o.status == OrderStatus.CONFIRMED
                else class_label(line.resource_class)
            )
            order_table.add(
                o.year,
                o.sector,
                o.organisation,
                Cell(o.get_status_display(), reverse("portal:order_review", args=[o.pk]))
                if o.status == OrderStatus.DRAFT
                else o.get_status_display(),
                label,
                line.amount,
                passed,
                line.resource_class.unit,
                100 * o.commitment_share,
            )
    projects = access.visible_projects(request.user).filter(
        organisation__sector__in=access.coordinated_sectors(request.user)
    )
    allocations = access.visible_allocations(request.user).filter(project__in=projects)
    use_table = Table(
        "sector_use",
        _("Use and cost per project"),
        [
            Column(_("Project")),
            Column(_("Organisation")),
            Column(_("Resource")),
            Column(_("Granted"), numeric=True),
            Column(_("Used"), numeric=True),
            Column(_("Charged"), kind="money"),
        ],
        empty_text=_("No allocations in your sector yet."),
    )
    shown = paged(
        request,
        use_table,
        allocations.select_related("project__organisation", "resource_class__system").order_by(
            "project__code", "-start", "pk"
        ),
    )
    used = reports.used_by_allocation(Allocation.objects.filter(pk__in=[a.pk for a in shown]))
    for a in shown:
        q, c = used.get(a.pk, (reports.ZERO, reports.ZERO))
        use_table.add(
            a.project.code, a.project.organisation, class_label(a.resource_class), a.amount, q, c
        )
    cost = access.visible_invoices(request.user).aggregate(total=Sum("total_nok"))["total"]
    return page(
        request,
        "portal/sector.html",
        {
            "title": _("Sector orders"),
            "sectors": access.coordinated_sectors(request.user),
            "invoiced": cost,
        },
        tables=[order_table, use_table],
    )


@requires("portal:sector")
def order_new(request: HttpRequest) -> HttpResponse:
    classes = ResourceClass.objects.filter(orderable=True).select_related("system")
    form = OrderForm(
        request.POST or None, organisations=_sector_organisations(request), classes=classes
    )
    if request.method == "POST" and form.is_valid():
        org = form.cleaned_data["organisation"]
        try:
            order = orders.save_order(
                request.user,
                organisation=org,
                year=form.cleaned_data["year"],
                commitment_share=form.cleaned_data["commitment_share"],
                lines=form.amounts(),
            )
        except (ValidationError, PermissionDenied) as exc:
            add_refusal(form, exc)
        else:
            return redirect("portal:order_review", order_id=order.pk)
    return page(request, "portal/order_form.html", {"title": _("Order capacity"), "form": form})


@requires("portal:sector")
def order_review(request: HttpRequest, order_id: int) -> HttpResponse:
    order = (
        access.visible_orders(request.user)
        .filter(pk=order_id)
        .select_related("organisation")
        .first()
    )
    if order is None:
        return not_visible(request)
    lines = list(order.lines.select_related("resource_class__system"))
    proposals = [
        policy.Proposal(
            line.resource_class, line.amount, order.start, order.end, order.organisation
        )
        for line in lines
    ]
    verdicts = policy.check(proposals) if order.status == OrderStatus.DRAFT else []
    if request.method == "POST" and order.status == OrderStatus.DRAFT:
        try:
            orders.confirm_order(request.user, order)
        except PolicyViolation as exc:
            verdicts = exc.violations
            messages.error(request, _("The order breaks the rules and was not confirmed."))
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Order for %(year)s confirmed.") % {"year": order.year})
            return redirect("portal:sector")
    found = orders.estimate(order)
    table = Table(
        "order_lines",
        _("Order lines with price"),
        [
            Column(_("Resource")),
            Column(_("Amount"), numeric=True),
            Column(_("Unit"), kind="unit"),
            Column(_("Unit price"), kind="money"),
            Column(_("Value"), kind="money"),
        ],
    )
    for line in found.lines:
        rc = line.resource_class
        table.add(class_label(rc), line.amount, rc.unit, line.unit_price, line.value)
    return page(
        request,
        "portal/order_review.html",
        {
            "title": _("Order %(year)s for %(org)s")
            % {"year": order.year, "org": order.organisation},
            "order": order,
            "verdicts": verdicts,
            "estimate": found,
            "category": PriceCategory(found.category).label,
        },
        tables=[table],
    )


@requires("portal:sector")
def suballocate(request: HttpRequest, line_id: int) -> HttpResponse:
    line = (
        SectorOrderLine.objects.filter(pk=line_id, order__in=access.visible_orders(request.user))
        .select_related("order", "resource_class__system")
        .first()
    )
    if line is None:
        return not_visible(request)
    projects = access.visible_projects(request.user).filter(organisation__sector=line.order.sector)
    form = SubAllocateForm(request.POST or None, projects=projects)
    verdicts = []
    if request.method == "POST" and form.is_valid():
        try:
            orders.sub_allocate(
                request.user, line, form.cleaned_data["project"], form.cleaned_data["amount"]
            )
        except PolicyViolation as exc:
            verdicts = exc.violations
        except (ValidationError, PermissionDenied) as exc:
            add_refusal(form, exc)
        else:
            messages.success(
                request,
                _("%(amount)s passed on to %(code)s.")
                % {
                    "amount": formats.quantity(
                        form.cleaned_data["amount"], line.resource_class.unit
                    ),
                    "code": form.cleaned_data["project"].code,
                },
            )
            return redirect("portal:sector")
    table = Table(
        "sub_allocations",
        _("Already passed on"),
        [
            Column(_("Project")),
            Column(_("Amount"), numeric=True),
            Column(_("Status")),
        ],
        empty_text=_("Nothing passed on yet."),
    )
    for a in paged(request, table, line.sub_allocations.select_related("project").order_by("pk")):
        table.add(a.project.code, a.amount, a.get_status_display())
    return page(
        request,
        "portal/form_page.html",
        {
            "title": _("Pass on capacity"),
            "intro": f"{line.order}: {class_label(line.resource_class)}, "
            f"{formats.quantity(line.amount, line.resource_class.unit)}",
            "form": form,
            "submit": _("Pass on"),
            "verdicts": verdicts,
        },
        tables=[table],
    )
