"""OIDC endpoints, outside the language prefix so the redirect URI registered at the provider
never changes with the language."""

from django.urls import path

from .oidc import CallbackView, InitView

urlpatterns = [
    path("authenticate/", InitView.as_view(), name="oidc_authentication_init"),
    path("callback/", CallbackView.as_view(), name="oidc_authentication_callback"),
]
