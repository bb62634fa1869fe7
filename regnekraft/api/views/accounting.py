"""Usage, balances and invoices (read, filtered by access), usage import and the audit log (operators)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft.accounting import balances as balance_book
from regnekraft.accounting import importer
from regnekraft.accounting.models import UsageRecord
from regnekraft.api.mixins import AtomicWrites
from regnekraft.api.permissions import OperatorOnly, require_role
from regnekraft.api.schema import WRITE_ERRORS, RegnekraftAutoSchema
from regnekraft.api.serializers.accounting import (
    AuditEntrySerializer,
    BalanceSerializer,
    InvoiceSerializer,
    UsageImportResultSerializer,
    UsageImportSerializer,
    UsageRecordSerializer,
)
from regnekraft.audit.models import AuditEntry
from regnekraft.parties import access
from regnekraft.parties.models import RoleKind

from .base import ReadOnlyViewSet

PROJECT_PARAM = OpenApiParameter("project", int, description="only this project (id)")


def _id_param(request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() else None


@extend_schema_view(list=extend_schema(parameters=[
    PROJECT_PARAM, OpenApiParameter("allocation", int, description="only usage charged to this allocation")]))
class UsageRecordViewSet(ReadOnlyViewSet):
    """Metered usage records of the projects you may see, rated at import."""

    serializer_class = UsageRecordSerializer

    def get_queryset(self):
        records = (UsageRecord.objects.filter(project__in=access.visible_projects(self.request.user))
                   .select_related("project").order_by("-end", "pk"))
        project, allocation = _id_param(self.request, "project"), _id_param(self.request, "allocation")
        if project is not None:
            records = records.filter(project_id=project)
        if allocation is not None:
            records = records.filter(allocation_id=allocation)
        return records

    @extend_schema(request=UsageImportSerializer, responses={200: UsageImportResultSerializer, **WRITE_ERRORS})
    @action(detail=False, methods=["post"], url_path="import", permission_classes=[OperatorOnly])
    def import_records(self, request):
        """Import usage records (operators). All or nothing: a bad record refuses the whole batch with its
        number; records already imported (same source, cluster, job id, step) are counted as duplicates."""
        require_role(request.user, RoleKind.OPERATOR, action="import usage")
        form = UsageImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = importer.import_records(form.validated_data["records"], source=form.validated_data["source"],
                                         filename="api")
        return Response(UsageImportResultSerializer(result.as_dict()).data)


class BalanceViewSet(AtomicWrites, viewsets.GenericViewSet):
    """Balance of each allocation you may see: allocated, used, remaining, used share, status."""

    schema = RegnekraftAutoSchema()
    serializer_class = BalanceSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        allocations = (access.visible_allocations(self.request.user)
                       .select_related("project", "resource_class__system"))
        project = _id_param(self.request, "project")
        if project is not None:
            allocations = allocations.filter(project_id=project)
        return allocations

    @extend_schema(parameters=[PROJECT_PARAM])
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        rows = [b.as_dict() for b in balance_book.balances(page)]
        return self.get_paginated_response(BalanceSerializer(rows, many=True).data)


class InvoiceViewSet(ReadOnlyViewSet):
    """Invoices with their lines: finance and operators see all; a coordinator their sector's; an
    industry customer or PI their own organisation's."""

    serializer_class = InvoiceSerializer

    def get_queryset(self):
        return access.visible_invoices(self.request.user).prefetch_related("lines")


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("object_type", str, description="e.g. allocation.Allocation"),
    OpenApiParameter("object_id", str, description="the object's primary key")]))
class AuditEntryViewSet(ReadOnlyViewSet):
    """The audit log (operators): who changed what, when, before and after."""

    serializer_class = AuditEntrySerializer
    permission_classes = [OperatorOnly]

    def get_queryset(self):
        entries = AuditEntry.objects.all()
        for name in ("object_type", "object_id"):
            value = self.request.query_params.get(name)
            if value:
                entries = entries.filter(**{name: value})
        return entries
