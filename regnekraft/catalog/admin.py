from django import forms
from django.contrib import admin

from .models import Price, PriceList, ResourceClass, System


class ResourceClassInline(admin.TabularInline):
    model = ResourceClass
    extra = 0


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
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
    inlines = [ResourceClassInline]


@admin.register(ResourceClass)
class ResourceClassAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "kind",
        "gpu_type",
        "installed_units",
        "expected_availability",
        "orderable",
    )
    list_filter = ("kind", "system")


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0


class PriceListAdminForm(forms.ModelForm):
    class Meta:
        model = PriceList
        fields = "__all__"

    def clean(self):
        data = super().clean()
        day = data.get("valid_from")
        if day is not None:
            # the same rule as the API and the portal: no list reprices rated or invoiced
            # use, so a list that has priced some cannot change (its prices included)
            from regnekraft.accounting.rating import check_price_list_start

            check_price_list_start(
                day, existing=self.instance.valid_from if self.instance.pk else None
            )
        return data


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    form = PriceListAdminForm
    list_display = ("category", "name", "valid_from")
    list_filter = ("category",)
    inlines = [PriceInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None:
            from regnekraft.accounting.rating import has_priced_use

            if has_priced_use(obj.valid_from):
                return False
        return super().has_delete_permission(request, obj)
