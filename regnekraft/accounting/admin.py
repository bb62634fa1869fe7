"""Operators and finance read usage, balances and invoices here; they are written only by the
importer and the invoice run (so the admin shows them read-only)."""

from django.contrib import admin

from regnekraft.audit.admin import ReadOnlyAdmin as ReadOnly

from .models import BalanceEvent, ImportBatch, Invoice, InvoiceLine, UsageRecord


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
