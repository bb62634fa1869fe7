"""Admin base classes every app's admin builds on, and the audit log's own page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from .models import AuditEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records only the platform itself writes (audit entries, usage, invoices)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def refusal_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def form_fields(form: Any, names: Iterable[str], change: bool) -> dict[str, Any]:
    """What an admin form sets: every field for a new row, only the changed ones otherwise."""
    wanted = form.changed_data if change else form.cleaned_data
    allowed = set(names)
    return {name: form.cleaned_data[name] for name in wanted if name in allowed}


def editable(model: Any) -> list[str]:
    """The names of ``model``'s fields a form may set."""
    return [f.name for f in model._meta.fields if f.editable and not f.primary_key]


def adopt(obj: Any, saved: Any) -> None:
    """Let the admin go on with the row a service wrote (its id, for the log and redirect)."""
    obj.pk, obj._state.adding = saved.pk, False


class ServiceWrites(admin.ModelAdmin):
    """A page whose saves and deletes go through a domain service (``save_model`` and
    ``delete_model`` call it): a refused rule is an error message and writes nothing; a refused
    permission stays the admin's 403."""

    refusals: tuple[type[Exception], ...] = (ValidationError,)

    def _refused(self, request, exc: Exception) -> HttpResponseRedirect:
        self.message_user(request, f"Refused: {refusal_text(exc)}", level=messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except self.refusals as exc:
            return self._refused(request, exc)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method != "POST":
            return super().delete_view(request, object_id, extra_context)
        try:
            return super().delete_view(request, object_id, extra_context)
        except self.refusals as exc:
            return self._refused(request, exc)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("object_repr", "actor_label", "object_id")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
