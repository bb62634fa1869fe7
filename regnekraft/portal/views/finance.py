"""Finance: price lists, invoices and their lines, exports."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from regnekraft import access, formats
from regnekraft.accounting.models import InvoiceLine
from regnekraft.accounting.pricelists import publish_price_list
from regnekraft.accounting.rating import earliest_new_list_day
from regnekraft.catalog.models import Price

from ..forms import PriceListForm
from ..tables import Cell, Column, Table
from .base import add_refusal, not_visible, page, requires
from .paging import paged


@requires("portal:finance")
def overview(request: HttpRequest) -> HttpResponse:
    prices = Table(
        "prices",
        _("Price lists"),
        [
            Column(_("Category")),
            Column(_("List")),
            Column(_("Valid from")),
            Column(_("Resource")),
            Column(_("GPU type")),
            Column(_("Price per unit"), kind="money"),
            Column(_("Tier multipliers")),
            Column(_("Free allowance"), kind="money"),
        ],
        empty_text=_("No price lists."),
    )
    for p in paged(
        request,
        prices,
        Price.objects.select_related("price_list").order_by(
            "price_list__category", "-price_list__valid_from", "kind", "pk"
        ),
    ):
        pl = p.price_list
        multipliers = ", ".join(
            f"{k}: {formats.number(v)}" for k, v in sorted(pl.tier_multipliers.items())
        )
        prices.add(
            pl.category,
            pl.name,
            pl.valid_from,
            p.get_kind_display(),
            p.gpu_type,
            p.unit_price,
            multipliers,
            pl.free_allowance_nok,
        )
    invoices = Table(
        "invoices",
        _("Invoices"),
        [
            Column(_("Organisation")),
            Column(_("Kind")),
            Column(_("Period start")),
            Column(_("Period end")),
            Column(_("Issued")),
            Column(_("Total"), kind="money"),
        ],
        empty_text=_("No invoices."),
    )
    for inv in paged(
        request,
        invoices,
        access.visible_invoices(request.user)
        .select_related("organisation")
        .order_by("-period_start", "organisation__short_name", "-pk"),
    ):
        invoices.add(
            Cell(inv.organisation.short_name, reverse("portal:invoice", args=[inv.pk])),
            inv.organisation.get_kind_display(),
            inv.period_start,
            inv.period_end,
            inv.issued.date(),
            inv.total_nok,
        )
    return page(
        request,
        "portal/table_page.html",
        {
            "title": _("Prices and invoices"),
            "action_url": reverse("portal:price_list_new"),
            "action_label": _("New price list"),
        },
        tables=[prices, invoices],
    )


@requires("portal:finance")
def invoice(request: HttpRequest, invoice_id: int) -> HttpResponse:
    inv = (
        access.visible_invoices(request.user)
        .filter(pk=invoice_id)
        .select_related("organisation")
        .first()
    )
    if inv is None:
        return not_visible(request)
    lines = Table(
        "invoice_lines",
        _("Invoice lines"),
        [
            Column(_("Description")),
            Column(_("Project")),
            Column(_("Quantity"), numeric=True, decimals=None),
            Column(_("Unit"), kind="unit"),
            Column(_("Unit price"), kind="money"),
            Column(pgettext("money", "Amount"), kind="money"),
        ],
    )
    invoice_lines = InvoiceLine.objects.filter(invoice=inv).select_related("project")
    for line in paged(request, lines, invoice_lines.order_by("pk")):
        lines.add(
            line.description,
            line.project.code if line.project else "",
            line.quantity,
            line.unit,
            line.unit_price_nok,
            line.amount_nok,
        )
    return page(
        request,
        "portal/table_page.html",
        {
            "title": _("Invoice to %(org)s, %(start)s – %(end)s")
            % {
                "org": inv.organisation,
                "start": formats.date(inv.period_start),
                "end": formats.date(inv.period_end),
            },
            "intro": _("Total: %(total)s") % {"total": formats.money(inv.total_nok)},
        },
        tables=[lines],
    )


@requires("portal:finance")
def new_price_list(request: HttpRequest) -> HttpResponse:
    """Publish a price list that takes effect on a later day (what is rated keeps its price)."""
    earliest = earliest_new_list_day()
    form = PriceListForm(request.POST or None, initial={"valid_from": earliest})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            price_list = publish_price_list(
                request.user,
                category=data["category"],
                name=data["name"],
                valid_from=data["valid_from"],
                tier_multipliers={"1": data["tier_1"], "2": data["tier_2"], "3": data["tier_3"]},
                free_allowance_nok=data["free_allowance_nok"],
                source=data["source"],
                prices=[{"kind": k, "unit_price": v} for k, v in form.prices().items()],
            )
        except ValidationError as exc:
            add_refusal(form, exc)
        else:
            messages.success(
                request,
                _("Price list %(name)s (category %(category)s) takes effect on %(day)s.")
                % {
                    "name": price_list.name,
                    "category": price_list.category,
                    "day": formats.date(price_list.valid_from),
                },
            )
            return redirect("portal:finance")
    intro = (
        _(
            "Use up to %(day)s is already rated or invoiced and keeps its prices, so a new list "
            "takes effect on %(next)s at the earliest."
        )
        % {
            "day": formats.date(earliest - dt.timedelta(days=1)),
            "next": formats.date(earliest),
        }
        if earliest
        else _("Nothing is rated yet: a list may take effect on any day.")
    )
    return page(
        request,
        "portal/form_page.html",
        {
            "title": _("New price list"),
            "intro": intro,
            "form": form,
            "submit": _("Publish the price list"),
        },
    )
