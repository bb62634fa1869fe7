"""Sector orders and sub-allocations, industry purchases, change requests, external capacity."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from regnekraft import access
from regnekraft.allocation import changes, colocation, external, orders, purchases
from regnekraft.allocation.models import (
    AllocationSource,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.api.permissions import ServicesDecideWrites, require_visible
from regnekraft.api.schema import DECISION_ERRORS
from regnekraft.api.serializers.allocation import AllocationSerializer
from regnekraft.api.serializers.orders import (
    ChangeDecisionSerializer,
    ChangeRequestSerializer,
    ColocatedEquipmentSerializer,
    ExternalCapacitySerializer,
    PurchaseSerializer,
    SectorOrderSerializer,
    SubAllocationSerializer,
)

from .base import CreateReadViewSet, WritableViewSet

DEFAULT_COMMITMENT = SectorOrder._meta.get_field("commitment_share").get_default()


def _lines(lines: list[dict]) -> dict:
    return {line["resource_class"]: line["amount"] for line in lines}


class SectorOrderViewSet(WritableViewSet):
    """A sector's yearly order of capacity with its take-or-pay commitment. The coordinator
    creates it for their sector, changes it while it is a draft, and confirms it (the rules then
    apply): allocation.orders."""

    serializer_class = SectorOrderSerializer
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        return (
            access.visible_orders(self.request.user)
            .select_related("organisation")
            .prefetch_related(
                Prefetch(
                    "lines",
                    queryset=SectorOrderLine.objects.select_related("resource_class__system"),
                )
            )
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = orders.save_order(
            self.request.user,
            organisation=data["organisation"],
            year=data["year"],
            commitment_share=data.get("commitment_share", DEFAULT_COMMITMENT),
            lines=_lines(data["lines"]),
        )

    def perform_update(self, serializer):
        order, data = serializer.instance, serializer.validated_data
        serializer.instance = orders.save_order(
            self.request.user,
            organisation=data.get("organisation", order.organisation),
            year=data.get("year", order.year),
            commitment_share=data.get("commitment_share", order.commitment_share),
            lines=_lines(data["lines"])
            if "lines" in data
            else {line.resource_class: line.amount for line in order.lines.all()},
            order=order,
        )

    @extend_schema(request=None, responses={200: SectorOrderSerializer, **DECISION_ERRORS})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm the order: its lines then hold capacity for the year, within the policy rules."""
        order = orders.confirm_order(request.user, self.get_object())
        return Response(SectorOrderSerializer(order).data)

    @extend_schema(request=None, responses={200: SectorOrderSerializer, **DECISION_ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a draft order (a confirmed order is a commitment and stays)."""
        order = orders.cancel_order(request.user, self.get_object())
        return Response(SectorOrderSerializer(order).data)


class SubAllocationViewSet(CreateReadViewSet):
    """Sub-allocations: the coordinator passes part of a confirmed order line on to a project
    of the sector (allocation.orders.sub_allocate)."""

    serializer_class = AllocationSerializer

    def get_queryset(self):
        return (
            access.visible_allocations(self.request.user)
            .filter(source=AllocationSource.SECTOR_ORDER)
            .select_related("project", "resource_class__system")
        )

    @extend_schema(
        request=SubAllocationSerializer, responses={201: AllocationSerializer, **DECISION_ERRORS}
    )
    def create(self, request, *args, **kwargs):
        form = SubAllocationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        line = data["order_line"]
        require_visible(access.visible_orders(request.user), line.order, "order_line", line)
        require_visible(access.visible_projects(request.user), data["project"], "project")
        allocation = orders.sub_allocate(
            request.user,
            line,
            data["project"],
            data["amount"],
            start=data.get("start"),
            end=data.get("end"),
        )
        return Response(AllocationSerializer(allocation).data, status=status.HTTP_201_CREATED)


class PurchaseViewSet(CreateReadViewSet):
    """Industry buys capacity at market price, within the economic-activity cap."""

    serializer_class = AllocationSerializer

    def get_queryset(self):
        return (
            access.visible_allocations(self.request.user)
            .filter(source=AllocationSource.PURCHASE)
            .select_related("project", "resource_class__system")
        )

    @extend_schema(
        request=PurchaseSerializer, responses={201: AllocationSerializer, **DECISION_ERRORS}
    )
    def create(self, request, *args, **kwargs):
        form = PurchaseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        require_visible(access.visible_projects(request.user), data["project"], "project")
        allocation = purchases.purchase(
            request.user,
            data["project"],
            data["resource_class"],
            data["amount"],
            data["start"],
            data["end"],
        )
        return Response(AllocationSerializer(allocation).data, status=status.HTTP_201_CREATED)


class ColocatedEquipmentViewSet(WritableViewSet):
    """Equipment an organisation owns and places at the shared operator (model 3). Operators
    register it (allocation.colocation); the owner's organisation sees it."""

    serializer_class = ColocatedEquipmentSerializer
    permission_classes = [ServicesDecideWrites]

    def get_queryset(self):
        return ColocatedEquipment.objects.filter(
            system__owner__in=access.visible_organisations(self.request.user)
        ).select_related("system")

    def perform_create(self, serializer):
        serializer.instance = colocation.register_equipment(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = colocation.update_equipment(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        colocation.remove_equipment(self.request.user, instance)


class ColocationGrantViewSet(CreateReadViewSet):
    """An owner's use of its own co-located equipment (price category B, subscription).
    Operators grant it (allocation.colocation.grant_colocated); the rules refuse equipment of
    another owner (409 ownership)."""

    serializer_class = AllocationSerializer

    def get_queryset(self):
        return (
            access.visible_allocations(self.request.user)
            .filter(source=AllocationSource.COLOCATION)
            .select_related("project", "resource_class__system")
        )

    @extend_schema(
        request=PurchaseSerializer, responses={201: AllocationSerializer, **DECISION_ERRORS}
    )
    def create(self, request, *args, **kwargs):
        form = PurchaseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        allocation = colocation.grant_colocated(
            request.user,
            data["project"],
            data["resource_class"],
            data["amount"],
            data["start"],
            data["end"],
        )
        return Response(AllocationSerializer(allocation).data, status=status.HTTP_201_CREATED)


class ChangeRequestViewSet(CreateReadViewSet):
    """Change requests on an allocation (more, longer, renewal). The PI asks; an operator decides
    through the policy rules."""

    serializer_class = ChangeRequestSerializer

    def get_queryset(self):
        return ChangeRequest.objects.filter(
            allocation__in=access.visible_allocations(self.request.user)
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        require_visible(
            access.visible_allocations(self.request.user), data["allocation"], "allocation"
        )
        serializer.instance = changes.request_change(
            self.request.user,
            data["allocation"],
            kind=data["kind"],
            amount=data.get("amount"),
            new_end=data.get("new_end"),
            reason=data["reason"],
        )

    @extend_schema(
        request=ChangeDecisionSerializer,
        responses={200: ChangeRequestSerializer, **DECISION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Approve (through the policy rules; 409 if one is broken) or reject. Operators only."""
        change = self.get_object()
        form = ChangeDecisionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        change = changes.decide_change(
            request.user,
            change,
            form.validated_data["approve"],
            note=form.validated_data["note"],
        )
        return Response(ChangeRequestSerializer(change).data)


class ExternalCapacityViewSet(WritableViewSet):
    """Capacity a sector buys elsewhere (cloud, EuroHPC), recorded for reports. Operators, or the
    coordinator of the organisation's sector, record it."""

    serializer_class = ExternalCapacitySerializer

    def get_queryset(self):
        return ExternalCapacity.objects.filter(
            organisation__in=access.visible_organisations(self.request.user)
        )

    def perform_create(self, serializer):
        serializer.instance = external.record_external(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = external.update_external(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        external.remove_external(self.request.user, instance)
