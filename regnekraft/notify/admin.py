"""Notifications are written by the worker (read-only here, with a retry action); preferences
are saved through ``preferences.set_preference`` so the same rules refuse the same choices."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from regnekraft.audit.admin import ReadOnlyAdmin, ServiceWrites, refusal_text

from . import services
from .models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "recipient", "delivery", "status", "attempts", "sent_at")
    list_filter = ("status", "delivery", "kind")
    search_fields = ("key", "recipient__name", "recipient__email", "last_error")
    date_hierarchy = "created_at"
    list_select_related = ("recipient",)
    actions = ["retry_now"]

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        done = 0
        for n in queryset:
            try:
                services.retry_now(request.user, n)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{n.pk}: {refusal_text(exc)}", level=messages.ERROR)
        self.message_user(request, f"{done} mail(s) queued again")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ServiceWrites):
    list_display = ("person", "kind", "delivery")
    list_filter = ("kind", "delivery")
    search_fields = ("person__name",)
    autocomplete_fields = ("person",)

    def save_model(self, request, obj, form, change):
        saved = services.set_preference(request.user, obj.person, obj.kind, obj.delivery)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        obj.delete()  # back to the kind's default
