from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from regnekraft.ops import views as ops_views

urlpatterns = [
    # Health checks (docs/operations.md): no sign-in, no language prefix, JSON.
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("api/", include("regnekraft.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("oidc/", include("regnekraft.portal.oidc_urls")),
]
urlpatterns += i18n_patterns(
    path("", include("regnekraft.portal.urls")), prefix_default_language=False
)
