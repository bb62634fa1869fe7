from django.urls import path

from .views import (
    account,
    common,
    coordinator,
    dashboard,
    finance,
    industry,
    notifications,
    operator,
    ops,
    pi,
    reviewer,
)

app_name = "portal"
urlpatterns = [
    path("", common.home, name="home"),
    path("accounts/login/", common.LoginView.as_view(), name="login"),
    path("accounts/logout/", common.logout, name="logout"),
    path("accounts/password/", account.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/changed/",
        account.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/sent/", account.PasswordResetDoneView.as_view(), name="password_reset_done"
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        account.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("pi/", pi.overview, name="pi"),
    path("pi/apply/", pi.apply_start, name="pi_apply"),
    path("pi/apply/<int:call_id>/<str:code>/", pi.apply, name="pi_apply_form"),
    path("pi/projects/<str:code>/", pi.project, name="project"),
    path("pi/allocations/<int:allocation_id>/change/", pi.change, name="change_request"),
    path("reviews/", reviewer.assigned, name="reviews"),
    path("reviews/<int:review_id>/", reviewer.review, name="review"),
    path("sector/", coordinator.overview, name="sector"),
    path("sector/orders/new/", coordinator.order_new, name="order_new"),
    path("sector/orders/<int:order_id>/", coordinator.order_review, name="order_review"),
    path("sector/lines/<int:line_id>/", coordinator.suballocate, name="suballocate"),
    path("industry/", industry.overview, name="industry"),
    path("operator/catalogue/", operator.catalogue, name="catalogue"),
    path("operator/calls/", operator.calls, name="calls"),
    path("operator/calls/<int:call_id>/", operator.round_page, name="round"),
    path("operator/changes/", operator.changes, name="changes"),
    path("operator/sync/", operator.sync, name="sync"),
    path("operator/audit/", operator.audit, name="audit"),
    path("operator/operations/", ops.operations, name="operations"),
    path("operator/mails/", notifications.failures, name="notification_failures"),
    path("accounts/email/", notifications.preferences, name="notification_preferences"),
    path("finance/", finance.overview, name="finance"),
    path("finance/prices/new/", finance.new_price_list, name="price_list_new"),
    path("finance/invoices/<int:invoice_id>/", finance.invoice, name="invoice"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
]
