"""Pages for everyone: the start page, sign-in and sign-out."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from regnekraft import access
from regnekraft.parties.models import RoleKind

from .. import oidc
from .base import language_links, page, role_names


def home(request: HttpRequest) -> HttpResponse:
    person = access.person_of(request.user)
    mine = access.roles(request.user)
    return page(
        request,
        "portal/home.html",
        {
            "title": _("Regnekraft"),
            "person": person,
            "role_text": role_names(mine) if mine else "",
            "no_roles": request.user.is_authenticated and not mine,
            "roles": [RoleKind(k).label for k in sorted(mine)],
        },
    )


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("portal:home")  # the start page in the language the person signed in with

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        from .. import nav

        ctx.update(
            title=_("Sign in"),
            nav=nav.entries_for(self.request.user),
            languages=language_links(self.request),
            oidc=oidc.configured(),
            oidc_label=oidc.provider_label(),
            oidc_next=ctx.get("next") or reverse("portal:home"),
        )
        return ctx


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    return auth_views.LogoutView.as_view(next_page="portal:home")(request)
