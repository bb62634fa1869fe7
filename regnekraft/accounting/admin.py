"""Operators and finance read usage, balances and invoices here; they are written only by the
importer and the invoice run (so the admin shows them read-only)."""

from django import forms
from django.contrib import admin

from regnekraft.audit.admin import ReadOnlyAdmin as ReadOnly
from regnekraft.audit.admin import ServiceWrites, adopt, form_fields
from regnekraft.catalog.models import Price, PriceList

from . import pricelists
from .models import BalanceEvent, ImportBatch, Invoice, InvoiceLine, UsageRecord
from .rating import check_price_list_start, has_priced_use


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnly):
    list_display = (
        "cluster",
        "job_id",
        "step",
        "project",
        "resource_class",
        "quantity",
        "charge_nok",
        "usage_date",
    )
    list_filter = ("cluster", "source", "resource_class__kind")
    search_fields = ("job_id", "project__code", "username")
    date_hierarchy = "usage_date"
    list_select_related = ("project", "resource_class__system")


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnly):
    list_display = (
        "started",
        "source",
        "filename",
        "records_read",
        "records_new",
        "records_duplicate",
    )


@admin.register(BalanceEvent)
class BalanceEventAdmin(ReadOnly):
    list_display = ("at", "allocation", "threshold", "action", "used_share")
    list_filter = ("action",)


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ("description", "quantity", "unit", "unit_price_nok", "amount_nok")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(ReadOnly):
    list_display = ("organisation", "period_start", "period_end", "total_nok", "issued")
    list_filter = ("period_start", "organisation__kind")
    inlines = [InvoiceLineInline]


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0


class PriceListAdminForm(forms.ModelForm):
    class Meta:
        model = PriceList
        fields = "__all__"

    def clean(self):
        data = super().clean()
        day = data.get("valid_from")
        if day is not None:  # refused here already, so the prices below are not half-saved
            check_price_list_start(
                day, existing=self.instance.valid_from if self.instance.pk else None
            )
        return data


@admin.register(PriceList)
class PriceListAdmin(ServiceWrites):
    """Price lists through ``accounting.pricelists``: a list that priced rated or invoiced use
    can be neither changed nor deleted."""

    form = PriceListAdminForm
    list_display = ("category", "name", "valid_from")
    list_filter = ("category",)
    inlines = [PriceInline]

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, pricelists.LIST_FIELDS, change)
        if change:
            pricelists.update_price_list(request.user, obj, **fields)
        else:
            adopt(obj, pricelists.publish_price_list(request.user, **fields))

    def save_formset(self, request, form, formset, change):
        prices = [
            {
                "kind": f.cleaned_data["kind"],
                "gpu_type": f.cleaned_data.get("gpu_type", ""),
                "unit_price": f.cleaned_data["unit_price"],
            }
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        pricelists.update_price_list(request.user, form.instance, prices=prices)
        # the admin's change message reads these; the service has replaced the prices
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        pricelists.delete_price_list(request.user, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and has_priced_use(obj.valid_from):
            return False
        return super().has_delete_permission(request, obj)
