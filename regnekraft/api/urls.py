"""The REST API: /api/... (see docs/api.md)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from .views.accounting import (
    AuditEntryViewSet,
    BalanceViewSet,
    InvoiceViewSet,
    ReportViewSet,
    UsageRecordViewSet,
)
from .views.allocation import AllocationViewSet, ApplicationViewSet, CallViewSet, ReviewViewSet
from .views.auth import TokenView
from .views.catalog import CatalogueViewSet, PriceListViewSet, ResourceClassViewSet, SystemViewSet
from .views.operations import EconomicsView, PlanView, RoundSimulationView, SyncRunViewSet
from .views.ops import JobRunViewSet, ScheduleViewSet, WorkerViewSet
from .views.orders import (
    ChangeRequestViewSet,
    ColocatedEquipmentViewSet,
    ColocationGrantViewSet,
    ExternalCapacityViewSet,
    PurchaseViewSet,
    SectorOrderViewSet,
    SubAllocationViewSet,
)
from .views.parties import MeView, OrganisationViewSet, PersonViewSet, ProjectViewSet, RoleViewSet
from .views.policy import PolicyCheckView, PolicySettingsView


def _docs_csp(view):
    allow = {"script-src": [UNSAFE_INLINE], "worker-src": ["'self'", "blob:"]}
    return csp_update(allow)(csp_update(allow, REPORT_ONLY=True)(view))


router = DefaultRouter()
router.register("systems", SystemViewSet, basename="system")
router.register("resource-classes", ResourceClassViewSet, basename="resourceclass")
router.register("catalogue", CatalogueViewSet, basename="catalogue")
router.register("price-lists", PriceListViewSet, basename="pricelist")
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("people", PersonViewSet, basename="person")
router.register("roles", RoleViewSet, basename="role")
router.register("projects", ProjectViewSet, basename="project")
router.register("calls", CallViewSet, basename="call")
router.register("applications", ApplicationViewSet, basename="application")
router.register("reviews", ReviewViewSet, basename="review")
router.register("allocations", AllocationViewSet, basename="allocation")
router.register("sector-orders", SectorOrderViewSet, basename="sectororder")
router.register("sub-allocations", SubAllocationViewSet, basename="suballocation")
router.register("purchases", PurchaseViewSet, basename="purchase")
router.register("change-requests", ChangeRequestViewSet, basename="changerequest")
router.register("colocated-equipment", ColocatedEquipmentViewSet, basename="colocatedequipment")
router.register("colocation-grants", ColocationGrantViewSet, basename="colocationgrant")
router.register("external-capacity", ExternalCapacityViewSet, basename="externalcapacity")
router.register("usage", UsageRecordViewSet, basename="usage")
router.register("balances", BalanceViewSet, basename="balance")
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("reports", ReportViewSet, basename="report")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("slurm/runs", SyncRunViewSet, basename="syncrun")
router.register("job-runs", JobRunViewSet, basename="jobrun")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("workers", WorkerViewSet, basename="worker")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The two documentation pages each have one inline set-up script (and Redoc a blob:
    # worker): the Content-Security-Policy allows that on these two pages only.
    path("docs/", _docs_csp(SpectacularSwaggerView.as_view(url_name="schema")), name="api-docs"),
    path("redoc/", _docs_csp(SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
    path("token/", TokenView.as_view(), name="api-token"),
    path("me/", MeView.as_view(), name="api-me"),
    path("policy/settings/", PolicySettingsView.as_view(), name="policy-settings"),
    path("policy/check/", PolicyCheckView.as_view(), name="policy-check"),
    path("calls/<str:pk>/simulation/", RoundSimulationView.as_view(), name="call-simulation"),
    path("planning/plan/", PlanView.as_view(), name="planning-plan"),
    path("planning/economics/", EconomicsView.as_view(), name="planning-economics"),
    path("", include(router.urls)),
]
