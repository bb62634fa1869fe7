"""Industry customers: the offer and market prices, buying within the economic-activity cap,
use and invoices."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from regnekraft import access, formats
from regnekraft.allocation import policy, purchases
from regnekraft.allocation.models import LEGAL_ECONOMIC_CAP, PolicySettings
from regnekraft.allocation.policy import PolicyViolation
from regnekraft.catalog.models import ResourceClass
from regnekraft.catalog.prices import PriceBook

from .. import reports
from ..forms import PurchaseForm, class_label
from ..tables import Column, Table
from .base import add_refusal, page, requires
from .paging import paged
from .pi import _allocation_table


def _own_projects(request: HttpRequest):
    person = access.person_of(request.user)
    return access.visible_projects(request.user).filter(organisation=person.organisation)


def _offer_table(today: dt.date) -> Table:
    table = Table(
        "offer",
        _("Offer and market prices (category C), this year"),
        [
            Column(_("Resource")),
            Column(_("Unit"), kind="unit"),
            Column(_("Price per unit"), kind="money"),
            Column(_("Capacity this year"), numeric=True),
            Column(_("Economic-activity room left"), numeric=True),
        ],
        empty_text=_("Nothing is on offer."),
    )
    classes = ResourceClass.objects.filter(orderable=True)
    book = PriceBook()
    for row in reports.class_rows(today.year, classes):
        rc = row["rc"]
        table.add(
            class_label(rc),
            rc.unit,
            purchases.market_price(rc, today, book),
            row["capacity"],
            min(row["economic_room"], row["free"]),
        )
    return table


@requires("portal:industry")
def overview(request: HttpRequest) -> HttpResponse:
    today = dt.date.today()
    settings = PolicySettings.current()
    projects = _own_projects(request)
    form = PurchaseForm(
        request.POST or None,
        projects=projects,
        classes=ResourceClass.objects.filter(orderable=True).select_related("system"),
    )
    verdicts: list = []
    quote = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        proposal = policy.Proposal.grant(
            d["project"], d["resource_class"], d["amount"], d["start"], d["end"]
        )
        quote = purchases.quote(d["resource_class"], d["amount"], d["start"])
        if request.POST.get("action") == "confirm":
            try:
                purchases.purchase(
                    request.user,
                    d["project"],
                    d["resource_class"],
                    d["amount"],
                    d["start"],
                    d["end"],
                )
            except PolicyViolation as exc:
                verdicts = exc.violations
            except (ValidationError, PermissionDenied) as exc:
                add_refusal(form, exc)
            else:
                messages.success(
                    request,
                    _("Bought %(amount)s for %(code)s.")
                    % {
                        "amount": formats.quantity(d["amount"], d["resource_class"].unit),
                        "code": d["project"].code,
                    },
                )
                return redirect("portal:industry")
        else:
            verdicts = policy.check([proposal], settings)
    allocations = access.visible_allocations(request.user).filter(project__in=projects)
    invoices = Table(
        "invoices",
        _("Invoices"),
        [
            Column(_("Period")),
            Column(_("Total"), kind="money"),
        ],
        empty_text=_("No invoices."),
    )
    for inv in paged(
        request, invoices, access.visible_invoices(request.user).order_by("-period_start", "-pk")
    ):
        invoices.add(
            f"{formats.date(inv.period_start)} – {formats.date(inv.period_end)}", inv.total_nok
        )
    return page(
        request,
        "portal/industry.html",
        {
            "title": _("Buy capacity"),
            "form": form,
            "verdicts": verdicts,
            "quote": quote,
            "checked": request.method == "POST" and form.is_valid(),
            "cap_share": settings.economic_cap_share * 100,
            "legal_cap": LEGAL_ECONOMIC_CAP * 100,
        },
        tables=[
            _offer_table(today),
            _allocation_table(request, allocations, "purchases"),
            invoices,
        ],
    )
