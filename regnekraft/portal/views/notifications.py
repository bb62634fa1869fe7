"""E-mail: each signed-in person's choices (per kind: at once, daily digest or off; and the
language), and for operators the mails that could not be delivered, with a retry."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from regnekraft import access
from regnekraft.notify import services
from regnekraft.notify.kinds import Delivery, Kind, allowed_deliveries
from regnekraft.notify.models import Notification, Status
from regnekraft.parties.models import RoleKind

from .base import add_refusal, int_param, page, refuse, requires

OPERATOR_KINDS = {Kind.SLURM_FAILED}


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(
        label=gettext_lazy("Language of your e-mails"), choices=settings.LANGUAGES
    )

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        for kind in kinds:
            self.fields[f"kind_{kind}"] = forms.ChoiceField(
                label=Kind(kind).label,
                choices=[(d, Delivery(d).label) for d in allowed_deliveries(kind)],
                widget=forms.RadioSelect,
            )

    def kind_fields(self):
        return [self[f"kind_{kind}"] for kind in self.kinds]


def preferences(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    person = access.person_of(request.user)
    if person is None:
        return refuse(request, _("E-mail settings belong to a person; your account has none."))
    kinds = [
        k
        for k in Kind.values
        if k not in OPERATOR_KINDS or access.has_role(request.user, RoleKind.OPERATOR)
    ]
    current = services.preferences_of(person)
    initial = {"language": person.language, **{f"kind_{k}": current[k] for k in kinds}}
    form = PreferencesForm(request.POST or None, kinds=kinds, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_settings(
                request.user,
                person,
                form.cleaned_data["language"],
                {kind: form.cleaned_data[f"kind_{kind}"] for kind in kinds},
            )
        except (ValidationError, PermissionDenied) as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, _("Your e-mail settings are saved."))
            return redirect("portal:notification_preferences")
    return page(
        request,
        "portal/notifications_preferences.html",
        {"title": _("E-mail settings"), "form": form, "person": person},
    )


@requires("portal:notification_failures")
def failures(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        pk = int_param(request.POST.get("notification"))
        n = Notification.objects.filter(pk=pk).first() if pk else None
        if n is None:
            messages.error(request, _("That mail no longer exists."))
        else:
            try:
                services.retry_now(request.user, n)
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                messages.error(request, text)
            else:
                messages.success(
                    request,
                    _("The mail to %(email)s is sent at the next run.")
                    % {"email": n.recipient.email},
                )
        return redirect("portal:notification_failures")
    troubled = (
        Notification.objects.filter(
            Q(status=Status.FAILED) | Q(status=Status.PENDING, attempts__gt=0)
        )
        .select_related("recipient")
        .order_by("status", "next_attempt_at", "pk")[:500]
    )
    return page(
        request,
        "portal/notifications_failures.html",
        {"title": _("Mails that could not be delivered"), "rows": list(troubled)},
    )
