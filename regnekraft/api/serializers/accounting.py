"""Serializers for usage, balances, invoices and the audit log."""

from __future__ import annotations

from rest_framework import serializers

from regnekraft.accounting.models import Invoice, InvoiceLine, UsageRecord
from regnekraft.audit.models import AuditEntry


class UsageRecordSerializer(serializers.ModelSerializer):
    project_code = serializers.CharField(source="project.code", read_only=True)

    class Meta:
        model = UsageRecord
        fields = ["id", "source", "cluster", "job_id", "step", "project", "project_code", "resource_class",
                  "allocation", "username", "start", "end", "quantity", "charge_nok", "batch"]
        read_only_fields = fields


class UsageImportSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=50, help_text="the records' source, part of their idempotency key")
    records = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=100_000,
        help_text="usage records with the JSON fields of the usage format (docs/accounting.md)")


class UsageImportResultSerializer(serializers.Serializer):
    batch_id = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    filename = serializers.CharField()
    read = serializers.IntegerField()
    new = serializers.IntegerField()
    duplicate = serializers.IntegerField(help_text="records already imported before (idempotency key)")
    skipped = serializers.IntegerField()
    unallocated = serializers.IntegerField(help_text="records with no matching allocation")
    unallocated_examples = serializers.ListField(child=serializers.DictField())
    balance_events = serializers.ListField(child=serializers.DictField(), help_text="warnings and blocks recorded")
    seconds = serializers.FloatField()


class BalanceSerializer(serializers.Serializer):
    allocation = serializers.IntegerField()
    project = serializers.CharField()
    resource_class = serializers.CharField()
    unit = serializers.CharField()
    allocated = serializers.DecimalField(max_digits=20, decimal_places=4)
    used = serializers.DecimalField(max_digits=20, decimal_places=4)
    remaining = serializers.DecimalField(max_digits=20, decimal_places=4)
    used_share = serializers.DecimalField(max_digits=12, decimal_places=4)
    status = serializers.CharField(help_text="active, blocked (at 100 %), expired or revoked")


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ["id", "project", "sector_order", "description", "quantity", "unit", "unit_price_nok", "amount_nok"]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "organisation", "period_start", "period_end", "issued", "total_nok", "lines"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr",
                  "before", "after"]
        read_only_fields = fields
