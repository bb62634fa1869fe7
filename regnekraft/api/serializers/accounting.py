"""Serializers for usage, balances, invoices and the audit log."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db import models
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from regnekraft import access
from regnekraft.accounting.models import Invoice, InvoiceLine, UsageRecord
from regnekraft.api.limits import USAGE_IMPORT_MAX_RECORDS
from regnekraft.audit.models import AuditEntry
from regnekraft.parties.models import Organisation

from .common import MAX_YEAR, MIN_YEAR


class UsageRecordSerializer(serializers.ModelSerializer):
    project_code = serializers.CharField(source="project.code", read_only=True)

    class Meta:
        model = UsageRecord
        fields = [
            "id",
            "source",
            "cluster",
            "job_id",
            "step",
            "project",
            "project_code",
            "resource_class",
            "allocation",
            "username",
            "start",
            "end",
            "quantity",
            "charge_nok",
            "batch",
        ]
        read_only_fields = fields


class UsageImportSerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=50, help_text="the records' source, part of their idempotency key"
    )
    records = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=USAGE_IMPORT_MAX_RECORDS,
        help_text="usage records with the JSON fields of the usage format (docs/accounting.md), "
        "up to 100,000 in a body of up to 64 MiB (413 beyond). The importer checks their "
        "contents (a NUL character is refused naming the record and field)",
    )


class UsageImportResultSerializer(serializers.Serializer):
    batch_id = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    filename = serializers.CharField()
    read = serializers.IntegerField()
    new = serializers.IntegerField()
    duplicate = serializers.IntegerField(
        help_text="records already imported before (idempotency key)"
    )
    skipped = serializers.IntegerField()
    unallocated = serializers.IntegerField(help_text="records with no matching allocation")
    unallocated_examples = serializers.ListField(child=serializers.DictField())
    balance_events = serializers.ListField(
        child=serializers.DictField(), help_text="warnings and blocks recorded"
    )
    seconds = serializers.FloatField()


class BalanceSerializer(serializers.Serializer):
    allocation = serializers.IntegerField()
    project = serializers.CharField()
    resource_class = serializers.CharField()
    unit = serializers.CharField()
    allocated = serializers.DecimalField(max_digits=None, decimal_places=4)
    used = serializers.DecimalField(max_digits=None, decimal_places=4)
    remaining = serializers.DecimalField(max_digits=None, decimal_places=4)
    used_share = serializers.DecimalField(max_digits=None, decimal_places=4)
    status = serializers.CharField(help_text="active, blocked (at 100 %), expired or revoked")


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "kind",
            "project",
            "allocation",
            "resource_class",
            "sector_order",
            "description",
            "quantity",
            "unit",
            "unit_price_nok",
            "amount_nok",
        ]
        read_only_fields = fields


# The attribute a list prefetches the invoice lines a partial viewer may see into
# (``access.visible_invoice_lines`` for the whole page at once).
VISIBLE_LINES = "lines_of_visible_projects"

# The line serializer's relations, written as the related row's id (as PrimaryKeyRelatedField).
_LINE_RELATIONS = ("project", "allocation", "resource_class", "sector_order")


def _line_writer() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A line as ``InvoiceLineSerializer`` writes it, from a ``.values()`` row: each field's own
    ``to_representation`` on the value (relations as their id, None as None), without the
    serializer's per-field attribute lookups and model instances (which cost more than the data
    for a page of a hundred invoices of seven lines)."""
    fields = InvoiceLineSerializer().fields
    plan = [
        (name, f"{name}_id", None)
        if name in _LINE_RELATIONS
        else (name, name, _decimal_writer(fields[name]) or fields[name].to_representation)
        for name in InvoiceLineSerializer.Meta.fields
    ]

    def write(row: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, key, convert in plan:
            value = row[key]
            out[name] = value if value is None or convert is None else convert(value)
        return out

    return write


def _decimal_writer(field: serializers.Field) -> Callable[[Decimal], str] | None:
    """``DecimalField.to_representation`` for a field written as a plain string (the API's
    setting): the same quantize, with the quantum and context made once instead of per value."""
    if not isinstance(field, serializers.DecimalField) or field.decimal_places is None:
        return None
    coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    if field.normalize_output or field.localize or not coerce:
        return None
    quantum = Decimal(".1") ** field.decimal_places
    context = decimal.getcontext().copy()
    if field.max_digits is not None:
        context.prec = field.max_digits
    rounding = field.rounding

    def write(value: Decimal) -> str:
        if not isinstance(value, Decimal):
            value = Decimal(str(value).strip())
        return f"{value.quantize(quantum, rounding=rounding, context=context):f}"

    return write


LINE_VALUES = [
    "invoice_id",
    *(f"{n}_id" if n in _LINE_RELATIONS else n for n in InvoiceLineSerializer.Meta.fields),
]


class InvoiceListSerializer(serializers.ListSerializer):
    """A page of invoices: the lines each viewer may see are read for the whole page in one
    ``.values()`` query (every line of an invoice the user sees whole, the lines of their own
    projects on the others) and written by :func:`_line_writer`."""

    def to_representation(self, data):
        invoices = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        child = self.child
        child.page_lines = _page_lines(child._user(), invoices)  # type: ignore[attr-defined]
        try:
            return [child.to_representation(invoice) for invoice in invoices]
        finally:
            child.page_lines = None  # type: ignore[attr-defined]


class _PageLines:
    def __init__(self) -> None:
        self.whole: set[int] = set()  # the invoices the user sees whole
        self.lines: dict[int, list[dict[str, Any]]] = {}
        self.totals: dict[int, Decimal] = {}  # of the lines shown


def _page_lines(user, invoices: list[Invoice]) -> _PageLines:
    page = _PageLines()
    if not invoices:
        return page
    whole = page.whole = {
        inv.pk for inv in invoices if user is None or access.sees_whole_invoice(user, inv)
    }
    partial = [inv.pk for inv in invoices if inv.pk not in whole]
    rule = Q(invoice_id__in=whole)
    if partial:
        rule |= Q(invoice_id__in=partial, project__in=access.visible_projects(user))
    write = _line_writer()
    for row in InvoiceLine.objects.filter(rule).order_by("invoice_id", "id").values(*LINE_VALUES):
        invoice_id = row["invoice_id"]
        page.lines.setdefault(invoice_id, []).append(write(row))
        page.totals[invoice_id] = page.totals.get(invoice_id, Decimal(0)) + row["amount_nok"]
    return page


class InvoiceSerializer(serializers.ModelSerializer):
    lines = serializers.SerializerMethodField(
        help_text="the invoice's lines; a PI sees only the lines of their own projects"
    )
    total_nok = serializers.SerializerMethodField(
        help_text="the invoice's total; for a PI the total of the lines they see"
    )
    whole = serializers.SerializerMethodField(
        help_text="false when only your projects' lines are shown (you are not an invoice contact)"
    )

    page_lines: _PageLines | None = None  # set by InvoiceListSerializer for a page

    def _user(self):
        request = self.context.get("request")
        return request.user if request is not None else None

    def _lines(self, invoice: Invoice):
        user = self._user()
        if user is None or access.sees_whole_invoice(user, invoice):
            return invoice.lines.all()
        if hasattr(invoice, VISIBLE_LINES):  # the list prefetched the lines this user may see
            return getattr(invoice, VISIBLE_LINES)
        return access.visible_invoice_lines(user, invoice)

    @cached_property
    def _line_serializer(self) -> InvoiceLineSerializer:
        # One for every invoice of a page: building a serializer's fields costs more than
        # rendering a hundred lines.
        return InvoiceLineSerializer()

    @extend_schema_field(InvoiceLineSerializer(many=True))
    def get_lines(self, invoice: Invoice) -> list:
        if self.page_lines is not None:
            return self.page_lines.lines.get(invoice.pk, [])
        render = self._line_serializer.to_representation
        return [render(line) for line in self._lines(invoice)]

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
    def get_total_nok(self, invoice: Invoice) -> str:
        user = self._user()
        if self.page_lines is not None:
            page = self.page_lines
            whole = invoice.pk in page.whole
            total = invoice.total_nok if whole else page.totals.get(invoice.pk, Decimal(0))
        elif user is None or access.sees_whole_invoice(user, invoice):
            total = invoice.total_nok
        elif hasattr(invoice, VISIBLE_LINES):
            total = sum((line.amount_nok for line in getattr(invoice, VISIBLE_LINES)), Decimal(0))
        else:
            total = access.visible_invoice_total(user, invoice)
        return f"{total:.2f}"

    def get_whole(self, invoice: Invoice) -> bool:
        if self.page_lines is not None:
            return invoice.pk in self.page_lines.whole
        user = self._user()
        return user is None or access.sees_whole_invoice(user, invoice)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "organisation",
            "period_start",
            "period_end",
            "issued",
            "total_nok",
            "whole",
            "lines",
        ]
        read_only_fields = fields
        list_serializer_class = InvoiceListSerializer


class IssueInvoicesSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="the day after the period")
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        allow_null=True,
        help_text="only this organisation; default: every organisation with something to charge",
    )

    def validate(self, attrs):
        if attrs["period_end"] <= attrs["period_start"]:
            raise serializers.ValidationError({"period_end": "must be after period_start"})
        if attrs["period_start"].year < MIN_YEAR or attrs["period_end"].year > MAX_YEAR:
            raise serializers.ValidationError(
                {"period_start": f"the period must lie within {MIN_YEAR}..{MAX_YEAR}"}
            )
        return attrs


class PreviewLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=None, decimal_places=4)
    unit = serializers.CharField()
    unit_price_nok = serializers.DecimalField(max_digits=None, decimal_places=4)
    amount_nok = serializers.DecimalField(max_digits=None, decimal_places=2)
    project = serializers.IntegerField(allow_null=True)
    allocation = serializers.IntegerField(allow_null=True)
    resource_class = serializers.IntegerField(allow_null=True)
    sector_order = serializers.IntegerField(allow_null=True)


class InvoicePreviewSerializer(serializers.Serializer):
    organisation = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    total_nok = serializers.DecimalField(max_digits=None, decimal_places=2)
    lines = PreviewLineSerializer(many=True)


def _figure(**kw) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=4, **kw)


class CapacityReportSerializer(serializers.Serializer):
    system = serializers.CharField()
    resource_class = serializers.CharField()
    kind = serializers.CharField()
    gpu_type = serializers.CharField(allow_blank=True)
    unit = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    capacity = _figure()
    committed = _figure(help_text="allocations and confirmed orders the rules count")
    allocated = _figure()
    ordered = _figure()
    used = _figure()
    used_unallocated = _figure()
    available = _figure(help_text="capacity x overbooking - committed")
    utilisation = _figure(allow_null=True, help_text="used / capacity")
    used_of_allocated = _figure(allow_null=True)


class GroupFiguresSerializer(serializers.Serializer):
    user_group = serializers.CharField(help_text="research, public or industry")
    kind = serializers.CharField()
    allocated = _figure()
    used = _figure()
    charged_nok = _figure()


class OrganisationFiguresSerializer(GroupFiguresSerializer):
    organisation = serializers.CharField()


class GroupReportSerializer(serializers.Serializer):
    groups = GroupFiguresSerializer(many=True)
    organisations = OrganisationFiguresSerializer(many=True)


class _YearOfClassSerializer(serializers.Serializer):
    """One resource class over one calendar year (the shared rules count per year)."""

    year = serializers.IntegerField()
    resource_class = serializers.CharField()
    unit = serializers.CharField()
    capacity = _figure()


class EconomicShareSerializer(_YearOfClassSerializer):
    cap_share = _figure()
    cap = _figure()
    economic_committed = _figure()
    economic_used = _figure()
    committed_share = _figure(allow_null=True)
    used_share = _figure(allow_null=True)
    within_cap = serializers.BooleanField()


class ResearchShareSerializer(_YearOfClassSerializer):
    protected_share = _figure()
    protected = _figure()
    research_committed = _figure()
    non_research_committed = _figure()
    research_used = _figure()
    total_used = _figure()
    research_committed_share = _figure(allow_null=True)
    research_used_share_of_use = _figure(allow_null=True)
    floor_kept = serializers.BooleanField()


class UnallocatedSerializer(serializers.Serializer):
    project = serializers.CharField()
    resource_class = serializers.CharField()
    quantity = _figure()
    records = serializers.IntegerField()


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
        ]
        read_only_fields = fields
