"""The service catalogue: everyone signed in reads it, operators keep it."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from regnekraft.accounting import pricelists, rating
from regnekraft.allocation import policy
from regnekraft.api.permissions import ServicesDecideWrites
from regnekraft.api.serializers.catalog import (
    CapacitySerializer,
    CatalogueEntrySerializer,
    PriceListSerializer,
    ResourceClassSerializer,
    SystemSerializer,
)
from regnekraft.api.serializers.common import DateRangeSerializer
from regnekraft.catalog import editing
from regnekraft.catalog.models import PriceCategory, PriceList, ResourceClass, System

from .base import ReadOnlyViewSet, WritableViewSet


class SystemViewSet(WritableViewSet):
    """Systems: national machines, university clusters, EuroHPC shares, cloud, co-located racks."""

    queryset = System.objects.all()
    serializer_class = SystemSerializer
    permission_classes = [ServicesDecideWrites]

    def perform_create(self, serializer):
        serializer.instance = editing.save_system(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = editing.save_system(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        editing.delete_system(self.request.user, instance)


PERIOD_PARAMS = [
    OpenApiParameter(
        "start", dt.date, description="first day of the period (default: 1 January this year)"
    ),
    OpenApiParameter(
        "end", dt.date, description="the day after the period (default: 1 January next year)"
    ),
]


def _this_year() -> tuple[dt.date, dt.date]:
    year = timezone.localdate().year
    return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)


class ResourceClassViewSet(WritableViewSet):
    """Separately accounted pools (CPU core-hours, GPU-hours per type, storage TB-months, nodes,
    support)."""

    queryset = ResourceClass.objects.select_related("system")
    serializer_class = ResourceClassSerializer
    permission_classes = [ServicesDecideWrites]

    def perform_create(self, serializer):
        serializer.instance = editing.save_resource_class(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = editing.save_resource_class(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        editing.delete_resource_class(self.request.user, instance)

    @extend_schema(parameters=PERIOD_PARAMS, responses=CapacitySerializer)
    @action(detail=True, methods=["get"])
    def capacity(self, request, pk=None):
        """Capacity of the class in a period and what the policy rules still leave free."""
        rc = self.get_object()
        default_start, default_end = _this_year()
        period = DateRangeSerializer(
            data={
                "start": request.query_params.get("start", default_start),
                "end": request.query_params.get("end", default_end),
            }
        )
        period.is_valid(raise_exception=True)
        start, end = period.validated_data["start"], period.validated_data["end"]
        figures = policy.remaining(rc, start, end)
        return Response(
            CapacitySerializer(
                {
                    "resource_class": rc.pk,
                    "start": start,
                    "end": end,
                    "unit": rc.unit,
                    **figures,
                }
            ).data
        )


class CatalogueViewSet(ReadOnlyViewSet):
    """The public service catalogue: orderable services of systems in service today."""

    serializer_class = CatalogueEntrySerializer

    def get_queryset(self):
        today = timezone.localdate()
        return (
            ResourceClass.objects.select_related("system")
            .filter(orderable=True, system__commissioned__lte=today)
            .exclude(system__decommissioned__lte=today)
        )

    @staticmethod
    def _annotate(entries: list[ResourceClass]) -> list[ResourceClass]:
        start, end = _this_year()
        today = timezone.localdate()
        book = rating.PriceBook()  # prices come from accounting, the one place they are looked up
        for rc in entries:
            rc.capacity_this_year = rc.capacity(start, end)
            rc.prices_today = {}
            for category in PriceCategory.values:
                try:
                    rc.prices_today[category] = book.unit_price(category, rc, today)
                except rating.NoPrice:
                    rc.prices_today[category] = None
        return entries

    def list(self, request, *args, **kwargs):
        entries = self._annotate(list(self.paginate_queryset(self.get_queryset())))
        return self.get_paginated_response(self.get_serializer(entries, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        [rc] = self._annotate([self.get_object()])
        return Response(self.get_serializer(rc).data)


class PriceListViewSet(WritableViewSet):
    """Price lists per user category (A, B, C, D, 0), valid from a date; prices per resource
    kind."""

    queryset = PriceList.objects.prefetch_related("prices")
    serializer_class = PriceListSerializer
    permission_classes = [ServicesDecideWrites]

    def perform_create(self, serializer):
        serializer.instance = pricelists.publish_price_list(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = pricelists.update_price_list(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        pricelists.delete_price_list(self.request.user, instance)
