from django.contrib import admin

from .models import Organisation, Person, Project, Role


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("short_name", "name", "kind", "sector", "is_sme", "is_bott", "country")
    list_filter = ("kind", "sector", "is_sme", "is_bott")
    search_fields = ("name", "short_name")


class RoleInline(admin.TabularInline):
    model = Role
    extra = 0


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "organisation")
    search_fields = ("name", "email")
    inlines = [RoleInline]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "organisation", "pi", "purpose", "sensitivity")
    list_filter = ("purpose", "sensitivity", "organisation__kind")
    search_fields = ("code", "title")
    filter_horizontal = ("members",)
