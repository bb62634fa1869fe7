"""Usage, balances and invoices (read, filtered by access), usage import and the audit log
(operators)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft import access
from regnekraft.accounting import balances as balance_book
from regnekraft.accounting import invoicing, reports, runs
from regnekraft.accounting.models import InvoiceLine, UsageRecord
from regnekraft.api.limits import usage_import_body
from regnekraft.api.mixins import AtomicWrites
from regnekraft.api.pagination import (
    AuditCursorPagination,
    BoundedLimitOffsetPagination,
    UsageCursorPagination,
)
from regnekraft.api.permissions import OperatorOnly
from regnekraft.api.schema import WRITE_ERRORS, RegnekraftAutoSchema
from regnekraft.api.serializers.accounting import (
    VISIBLE_LINES,
    AuditEntrySerializer,
    BalanceSerializer,
    CapacityReportSerializer,
    EconomicShareSerializer,
    GroupReportSerializer,
    InvoicePreviewSerializer,
    InvoiceSerializer,
    IssueInvoicesSerializer,
    ResearchShareSerializer,
    UnallocatedSerializer,
    UsageImportResultSerializer,
    UsageImportSerializer,
    UsageRecordSerializer,
)
from regnekraft.api.serializers.common import (
    MAX_YEAR,
    MIN_YEAR,
    DateRangeSerializer,
    id_param,
    text_param,
)
from regnekraft.audit.models import AuditEntry
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import Organisation, RoleKind

from .base import ReadOnlyViewSet
from .catalog import PERIOD_PARAMS

PROJECT_PARAM = OpenApiParameter("project", int, description="only this project (id)")


def _period(request) -> tuple[dt.date, dt.date]:
    year = timezone.localdate().year
    form = DateRangeSerializer(
        data={
            "start": request.query_params.get("start", dt.date(year, 1, 1)),
            "end": request.query_params.get("end", dt.date(year + 1, 1, 1)),
        }
    )
    form.is_valid(raise_exception=True)
    return form.validated_data["start"], form.validated_data["end"]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter(
                "allocation", int, description="only usage charged to this allocation"
            ),
        ]
    )
)
class UsageRecordViewSet(ReadOnlyViewSet):
    """Metered usage records of the projects you may see, rated at import; newest (last
    imported) first, paged by cursor (follow `next`)."""

    serializer_class = UsageRecordSerializer
    pagination_class = UsageCursorPagination

    def get_queryset(self):
        # The projects' codes in a second query for the page: a join lets SQLite's planner walk
        # the projects and sort every record instead of reading the usage-date index backwards.
        records = UsageRecord.objects.prefetch_related("project").order_by(
            *UsageCursorPagination.ordering
        )
        if not access.sees_all(self.request.user):
            records = records.filter(project__in=access.visible_projects(self.request.user))
        project, allocation = (
            id_param(self.request, "project"),
            id_param(self.request, "allocation"),
        )
        if project is not None:
            records = records.filter(project_id=project)
        if allocation is not None:
            records = records.filter(allocation_id=allocation)
        return records

    @extend_schema(
        request=UsageImportSerializer, responses={200: UsageImportResultSerializer, **WRITE_ERRORS}
    )
    @action(detail=False, methods=["post"], url_path="import", permission_classes=[OperatorOnly])
    def import_records(self, request):
        """Import usage records (operators). All or nothing: a bad record refuses the whole batch
        with its number; records already imported (same source, cluster, job id, step) are counted
        as duplicates."""
        form = UsageImportSerializer(data=usage_import_body(request))
        form.is_valid(raise_exception=True)
        result = runs.import_records(
            request.user,
            form.validated_data["records"],
            source=form.validated_data["source"],
            filename="api",
        )
        return Response(UsageImportResultSerializer(result.as_dict()).data)


class BalanceViewSet(AtomicWrites, viewsets.GenericViewSet):
    """Balance of each allocation you may see: allocated, used, remaining, used share, status."""

    schema = RegnekraftAutoSchema()
    pagination_class = BoundedLimitOffsetPagination
    serializer_class = BalanceSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        allocations = access.visible_allocations(self.request.user).select_related(
            "project", "resource_class__system"
        )
        project = id_param(self.request, "project")
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
    industry customer or PI their own organisation's. Finance issues them."""

    serializer_class = InvoiceSerializer

    def get_queryset(self):
        user = self.request.user
        invoices = access.visible_invoices(user).select_related("organisation")
        if self.action in ("list", "issue"):
            # many=True: InvoiceListSerializer reads the lines of the whole page in one query
            return invoices
        invoices = invoices.prefetch_related("lines")
        if access.has_role(user, RoleKind.OPERATOR, RoleKind.FINANCE):
            return invoices  # they see every invoice whole
        # Someone who sees only some of an invoice's lines (a PI): those lines, for the whole
        # page at once (serializers.accounting.InvoiceSerializer reads them).
        return invoices.prefetch_related(
            Prefetch(
                "lines",
                queryset=InvoiceLine.objects.filter(project__in=access.visible_projects(user)),
                to_attr=VISIBLE_LINES,
            )
        )

    @extend_schema(
        request=IssueInvoicesSerializer,
        responses={200: InvoiceSerializer(many=True), **WRITE_ERRORS},
    )
    @action(detail=False, methods=["post"])
    def issue(self, request):
        """Issue the period's invoices (finance or operators): one organisation's, or every
        organisation's with something to charge. Idempotent: an invoice already issued for the
        period is returned as it is; a period overlapping an issued invoice is refused (400)."""
        form = IssueInvoicesSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        issued = runs.issue_invoices(
            request.user,
            form.validated_data["period_start"],
            form.validated_data["period_end"],
            form.validated_data.get("organisation"),
        )
        # read back with their lines and organisations (a monthly run issues thousands), in the
        # order the run gave them
        order = {invoice.pk: i for i, invoice in enumerate(issued)}
        issued = sorted(self.get_queryset().filter(pk__in=order), key=lambda inv: order[inv.pk])
        return Response(InvoiceSerializer(issued, many=True, context={"request": request}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "organisation", int, required=True, description="the organisation (id)"
            ),
            *PERIOD_PARAMS,
        ],
        responses={200: InvoicePreviewSerializer},
    )
    @action(detail=False, methods=["get"])
    def preview(self, request):
        """The invoice an organisation would get for the period, computed now and not stored
        (finance or operators)."""
        require_role(request.user, RoleKind.FINANCE, RoleKind.OPERATOR, action="preview invoices")
        organisation_id = id_param(request, "organisation")
        if organisation_id is None:
            raise ValidationError({"organisation": "give the organisation's id"})
        organisation = get_object_or_404(Organisation, pk=organisation_id)
        start, end = _period(request)
        return Response(
            InvoicePreviewSerializer(invoicing.preview_invoice(organisation, start, end)).data
        )


REPORT_READERS = (RoleKind.OPERATOR, RoleKind.FINANCE, RoleKind.DECISION_MAKER)
YEAR_PARAM = OpenApiParameter("year", int, description="default: this year")


def _year(request) -> int:
    text = request.query_params.get("year", "")
    if not text:
        return timezone.localdate().year
    if (
        not (len(text) == 4 and text.isascii() and text.isdigit())
        or not MIN_YEAR <= int(text) <= MAX_YEAR
    ):
        raise ValidationError({"year": f"a year from {MIN_YEAR} to {MAX_YEAR}"})
    return int(text)


class ReportViewSet(AtomicWrites, viewsets.GenericViewSet):
    """Platform-wide reports (operators, finance, decision makers): allocated vs used vs available,
    by user group, economic-activity share against its cap, research share against its floor."""

    schema = RegnekraftAutoSchema()
    permission_classes = [IsAuthenticated]
    serializer_class = CapacityReportSerializer
    pagination_class = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        require_role(request.user, *REPORT_READERS, action="read platform reports")

    @extend_schema(
        parameters=[*PERIOD_PARAMS, OpenApiParameter("system", str, description="a system's slug")],
        responses={200: CapacityReportSerializer(many=True)},
    )
    @action(detail=False, methods=["get"])
    def capacity(self, request):
        """Per system and resource class: capacity, committed, allocated, ordered, used,
        available."""
        start, end = _period(request)
        rows = reports.report_capacity(start, end, system=text_param(request, "system") or None)
        return Response(CapacityReportSerializer(rows, many=True).data)

    @extend_schema(parameters=PERIOD_PARAMS, responses={200: GroupReportSerializer})
    @action(detail=False, methods=["get"])
    def groups(self, request):
        """Allocated, used and charged per user group and per organisation."""
        start, end = _period(request)
        return Response(GroupReportSerializer(reports.report_by_group(start, end)).data)

    @extend_schema(parameters=[YEAR_PARAM], responses={200: EconomicShareSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="economic-share")
    def economic_share(self, request):
        """Economic activity committed and used per class, against the state-aid cap."""
        return Response(
            EconomicShareSerializer(reports.report_economic_share(_year(request)), many=True).data
        )

    @extend_schema(parameters=[YEAR_PARAM], responses={200: ResearchShareSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="research-share")
    def research_share(self, request):
        """Research organisations' committed and used share per class, against the protected
        floor."""
        return Response(
            ResearchShareSerializer(reports.report_research_share(_year(request)), many=True).data
        )

    @extend_schema(parameters=PERIOD_PARAMS, responses={200: UnallocatedSerializer(many=True)})
    @action(
        detail=False,
        methods=["get"],
        pagination_class=BoundedLimitOffsetPagination,
        serializer_class=UnallocatedSerializer,
    )
    def unallocated(self, request):
        """Usage no allocation covered, per project and resource class (paged: one row per
        project and class can be thousands)."""
        start, end = _period(request)
        page = self.paginate_queryset(reports.report_unallocated(start, end))
        return self.get_paginated_response(UnallocatedSerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("object_type", str, description="e.g. allocation.Allocation"),
            OpenApiParameter("object_id", str, description="the object's primary key"),
        ]
    )
)
class AuditEntryViewSet(ReadOnlyViewSet):
    """The audit log (operators): who changed what, when, before and after; newest first, paged
    by cursor (follow `next`)."""

    serializer_class = AuditEntrySerializer
    permission_classes = [OperatorOnly]
    pagination_class = AuditCursorPagination

    def get_queryset(self):
        entries = AuditEntry.objects.order_by(*AuditCursorPagination.ordering)
        for name in ("object_type", "object_id"):
            value = text_param(self.request, name)
            if value:
                entries = entries.filter(**{name: value})
        return entries
