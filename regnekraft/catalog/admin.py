"""Operators keep the catalogue here; saves and deletes go through ``catalog.editing``.
(Price lists are accounting's: regnekraft/accounting/admin.py.)"""

from django.contrib import admin

from regnekraft.audit.admin import ServiceWrites, adopt, editable, form_fields

from . import editing
from .models import ResourceClass, System


@admin.register(System)
class SystemAdmin(ServiceWrites):
    list_display = (
        "name",
        "kind",
        "operator",
        "country",
        "security_zone",
        "availability_tier",
        "commissioned",
        "decommissioned",
    )
    list_filter = ("kind", "security_zone", "availability_tier", "country")
    search_fields = ("name", "slug", "operator")
    prepopulated_fields = {"slug": ("name",)}

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, editable(System), change)
        adopt(obj, editing.save_system(request.user, obj if change else None, **fields))

    def delete_model(self, request, obj):
        editing.delete_system(request.user, obj)


@admin.register(ResourceClass)
class ResourceClassAdmin(ServiceWrites):
    list_display = (
        "__str__",
        "kind",
        "gpu_type",
        "installed_units",
        "expected_availability",
        "orderable",
    )
    list_filter = ("kind", "system")

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, editable(ResourceClass), change)
        adopt(obj, editing.save_resource_class(request.user, obj if change else None, **fields))

    def delete_model(self, request, obj):
        editing.delete_resource_class(request.user, obj)
