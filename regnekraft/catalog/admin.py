from django.contrib import admin

from .models import Price, PriceList, ResourceClass, System


class ResourceClassInline(admin.TabularInline):
    model = ResourceClass
    extra = 0


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "operator", "country", "security_zone", "availability_tier", "commissioned", "decommissioned")
    list_filter = ("kind", "security_zone", "availability_tier", "country")
    search_fields = ("name", "slug", "operator")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ResourceClassInline]


@admin.register(ResourceClass)
class ResourceClassAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "gpu_type", "installed_units", "expected_availability", "orderable")
    list_filter = ("kind", "system")


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    list_display = ("category", "name", "valid_from")
    list_filter = ("category",)
    inlines = [PriceInline]
