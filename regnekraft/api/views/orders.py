"""Sector orders and sub-allocations, industry purchases, change requests, external capacity."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from regnekraft import access
from regnekraft.allocation import services
from regnekraft.allocation.models import (
    AllocationSource,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    OrderStatus,
)
from regnekraft.api.permissions import (
    OperatorWritesOnly,
    among,
    is_operator,
    require_person,
    require_role,
)
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
from regnekraft.parties.models import RoleKind

from .base import CreateReadViewSet, WritableViewSet


def require_sector(user, sector: str, *, action: str) -> None:
    """Operators act for every sector; a coordinator only for the sectors they coordinate."""
    if is_operator(user):
        return
    require_role(user, RoleKind.COORDINATOR, action=action)
    if sector not in access.coordinated_sectors(user):
        raise PermissionDenied(
            f"you coordinate {', '.join(access.coordinated_sectors(user)) or 'no sector'}, "
            f"not '{sector}'"
        )


class SectorOrderViewSet(WritableViewSet):
    """A sector's yearly order of capacity with its take-or-pay commitment. The coordinator creates it
    for their sector, changes it while it is a draft, and confirms it (the rules then apply)."""

    serializer_class = SectorOrderSerializer
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        return (
            access.visible_orders(self.request.user)
            .select_related("organisation")
            .prefetch_related("lines")
        )

    def perform_create(self, serializer):
        organisation = serializer.validated_data["organisation"]
        require_sector(self.request.user, organisation.sector, action="order capacity for a sector")
        serializer.save(ordered_by=access.person_of(self.request.user))

    def perform_update(self, serializer):
        order = serializer.instance
        require_sector(self.request.user, order.sector, action="change a sector order")
        organisation = serializer.validated_data.get("organisation", order.organisation)
        require_sector(self.request.user, organisation.sector, action="change a sector order")
        if order.status != OrderStatus.DRAFT:
            raise ValidationError(
                {"status": f"only a draft order can be changed; this one is {order.status}"}
            )
        serializer.save()

    @extend_schema(request=None, responses={200: SectorOrderSerializer, **DECISION_ERRORS})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm the order: its lines then hold capacity for the year, within the policy rules."""
        order = self.get_object()
        require_sector(request.user, order.sector, action="confirm a sector order")
        order = services.confirm_order(order)
        return Response(SectorOrderSerializer(order).data)

    @extend_schema(request=None, responses={200: SectorOrderSerializer, **DECISION_ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a draft order (a confirmed order is a commitment and stays)."""
        order = self.get_object()
        require_sector(request.user, order.sector, action="cancel a sector order")
        if order.status != OrderStatus.DRAFT:
            raise ValidationError(
                {"status": f"only a draft order can be cancelled; this one is {order.status}"}
            )
        order.status = OrderStatus.CANCELLED
        order.save(update_fields=["status"])
        return Response(SectorOrderSerializer(order).data)


class SubAllocationViewSet(CreateReadViewSet):
    """Sub-allocations: the coordinator passes part of a confirmed order line to a sector project."""

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
        if not among(access.visible_orders(request.user), line.order):
            raise ValidationError({"order_line": "no such order line among your sector's orders"})
        require_sector(request.user, line.order.sector, action="sub-allocate a sector order")
        if not among(access.visible_projects(request.user), data["project"]):
            raise ValidationError({"project": "no such project in your sector"})
        allocation = services.sub_allocate(
            line,
            data["project"],
            data["amount"],
            start=data.get("start"),
            end=data.get("end"),
            decided_by=request.user,
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
        require_role(request.user, RoleKind.INDUSTRY, RoleKind.OPERATOR, action="buy capacity")
        form = PurchaseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        project = data["project"]
        if not among(access.visible_projects(request.user), project):
            raise ValidationError({"project": "no such project among yours"})
        if not is_operator(request.user):
            person = require_person(request.user, action="buy capacity")
            if project.organisation_id != person.organisation_id:
                raise PermissionDenied(
                    f"you buy for {person.organisation}, not for {project.organisation}"
                )
        allocation = services.purchase(
            project,
            data["resource_class"],
            data["amount"],
            data["start"],
            data["end"],
            decided_by=request.user,
        )
        return Response(AllocationSerializer(allocation).data, status=status.HTTP_201_CREATED)


class ColocatedEquipmentViewSet(WritableViewSet):
    """Equipment an organisation owns and places at the shared operator (model 3). Operators register it;
    the owner's organisation sees it."""

    serializer_class = ColocatedEquipmentSerializer
    permission_classes = [OperatorWritesOnly]

    def get_queryset(self):
        return ColocatedEquipment.objects.filter(
            system__owner__in=access.visible_organisations(self.request.user)
        ).select_related("system")


class ColocationGrantViewSet(CreateReadViewSet):
    """An owner's use of its own co-located equipment (price category B, subscription). Operators grant
    it through services.grant_colocated; the rules refuse equipment of another owner (409 ownership)."""

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
        require_role(request.user, RoleKind.OPERATOR, action="grant use of co-located equipment")
        form = PurchaseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        allocation = services.grant_colocated(
            data["project"],
            data["resource_class"],
            data["amount"],
            data["start"],
            data["end"],
            decided_by=request.user,
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
        allocation = serializer.validated_data["allocation"]
        if not among(access.visible_allocations(self.request.user), allocation):
            raise ValidationError({"allocation": "no such allocation among yours"})
        person = access.person_of(self.request.user)
        if not is_operator(self.request.user) and (
            person is None or allocation.project.pi_id != person.pk
        ):
            raise PermissionDenied(
                f"only the PI of {allocation.project.code} may ask to change its allocation"
            )
        serializer.save(requested_by=person)

    @extend_schema(
        request=ChangeDecisionSerializer,
        responses={200: ChangeRequestSerializer, **DECISION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Approve (through the policy rules; 409 if one is broken) or reject. Operators only."""
        require_role(request.user, RoleKind.OPERATOR, action="decide change requests")
        change = self.get_object()
        form = ChangeDecisionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        change = services.decide_change(
            change,
            form.validated_data["approve"],
            note=form.validated_data["note"],
            decided_by=request.user,
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

    def _require_writer(self, organisation) -> None:
        if is_operator(self.request.user):
            return
        if not organisation.sector:
            raise PermissionDenied(
                "only an operator records external capacity for an organisation without a sector"
            )
        require_sector(self.request.user, organisation.sector, action="record external capacity")

    def perform_create(self, serializer):
        self._require_writer(serializer.validated_data["organisation"])
        serializer.save()

    def perform_update(self, serializer):
        self._require_writer(serializer.instance.organisation)
        self._require_writer(
            serializer.validated_data.get("organisation", serializer.instance.organisation)
        )
        serializer.save()

    def perform_destroy(self, instance):
        self._require_writer(instance.organisation)
        instance.delete()
