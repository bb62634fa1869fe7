"""Your account: change the password (signed in), or reset it through a link sent by e-mail.

Django's own views and forms, in the portal's look; the new password is written by
``regnekraft.parties.passwords.set_password`` (which also ends the API token)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from regnekraft.parties import passwords

from .. import nav
from .base import language_links


class _Portal:
    """Gives a Django auth view the portal's header (navigation, language links) and title."""

    title: Any = ""
    intro: Any = ""
    submit: Any = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)  # type: ignore[misc]
        request = self.request  # type: ignore[attr-defined]
        ctx.update(
            title=self.title,
            intro=self.intro,
            submit=self.submit,
            nav=nav.entries_for(request.user),
            languages=language_links(request),
        )
        return ctx


class _ThroughService:
    """``save`` of Django's password forms, through the service (the actor is the user: signed
    in, or holding the reset link the view has checked)."""

    user: Any

    def save(self, commit: bool = True) -> Any:
        return passwords.set_password(self.user, self.user, self.cleaned_data["new_password1"])


class PasswordChangeForm(_ThroughService, auth_forms.PasswordChangeForm):
    pass


class SetPasswordForm(_ThroughService, auth_forms.SetPasswordForm):
    pass


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Finds the account by its own or its person's e-mail address."""

    def get_users(self, email: str):
        return iter(passwords.users_with_email(email))

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        """To the address typed, which is the account's or its person's."""
        from_email, _to, *rest = args
        to = self.cleaned_data["email"]
        names = (subject_template_name, email_template_name)
        super().send_mail(*names, context, from_email, to, *rest, **kwargs)


class PasswordChangeView(_Portal, auth_views.PasswordChangeView):
    template_name = "portal/password_form.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("portal:password_change_done")
    title = gettext_lazy("Change password")
    submit = gettext_lazy("Change password")


class PasswordChangeDoneView(_Portal, auth_views.PasswordChangeDoneView):
    template_name = "portal/password_done.html"
    title = gettext_lazy("Password changed")
    intro = gettext_lazy(
        "Your password is changed. Your API token, if you had one, no longer works: get a new "
        "one with the new password."
    )


class PasswordResetView(_Portal, auth_views.PasswordResetView):
    template_name = "portal/password_form.html"
    form_class = PasswordResetForm
    email_template_name = "portal/password_reset_email.txt"
    subject_template_name = "portal/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")
    title = gettext_lazy("Reset password")
    intro = gettext_lazy(
        "Give the e-mail address of your Regnekraft account. We send a link there to choose a "
        "new password."
    )
    submit = gettext_lazy("Send the link")


class PasswordResetDoneView(_Portal, auth_views.PasswordResetDoneView):
    template_name = "portal/password_done.html"
    title = gettext_lazy("Check your e-mail")
    intro = gettext_lazy(
        "If an account has that address, a link to choose a new password is on its way. "
        "The link works for a few hours and only once."
    )


class PasswordResetConfirmView(_Portal, auth_views.PasswordResetConfirmView):
    template_name = "portal/password_form.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("portal:password_reset_complete")
    title = gettext_lazy("Choose a new password")
    submit = gettext_lazy("Set the password")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        if not ctx.get("validlink"):
            ctx["intro"] = _(
                "This link is not valid: it was used already, has expired or was copied "
                "wrongly. Ask for a new one."
            )
        return ctx


class PasswordResetCompleteView(_Portal, auth_views.PasswordResetCompleteView):
    template_name = "portal/password_done.html"
    title = gettext_lazy("Password set")
    intro = gettext_lazy("Your new password is set. Sign in with it.")
