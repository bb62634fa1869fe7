"""Operators keep organisations, people, roles and projects here, through the same services
as the API (``parties.people``, ``parties.projects``)."""

from django.contrib import admin

from regnekraft.audit.admin import ServiceWrites, adopt, editable, form_fields

from . import people, projects
from .models import Organisation, Person, Project, Role


@admin.register(Organisation)
class OrganisationAdmin(ServiceWrites):
    list_display = ("short_name", "name", "kind", "sector", "is_sme", "is_bott", "country")
    list_filter = ("kind", "sector", "is_sme", "is_bott")
    search_fields = ("name", "short_name")

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, editable(Organisation), change)
        adopt(obj, people.save_organisation(request.user, obj if change else None, **fields))

    def delete_model(self, request, obj):
        people.delete_organisation(request.user, obj)


class RoleInline(admin.TabularInline):
    model = Role
    extra = 0


@admin.register(Person)
class PersonAdmin(ServiceWrites):
    list_display = ("name", "email", "organisation")
    search_fields = ("name", "email")
    inlines = [RoleInline]

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, editable(Person), change)
        adopt(obj, people.save_person(request.user, obj if change else None, **fields))

    def save_formset(self, request, form, formset, change):
        """Roles are granted and revoked through ``people`` (a changed role is both)."""
        for role_form in formset.forms:
            data, role = role_form.cleaned_data, role_form.instance
            if not data or not (role_form.has_changed() or data.get("DELETE")):
                continue
            if role.pk is not None:
                people.revoke_role(request.user, Role.objects.get(pk=role.pk))
            if not data.get("DELETE"):
                people.grant_role(request.user, form.instance, data["kind"], data.get("sector", ""))
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        people.delete_person(request.user, obj)


@admin.register(Project)
class ProjectAdmin(ServiceWrites):
    list_display = ("code", "title", "organisation", "pi", "purpose", "sensitivity")
    list_filter = ("purpose", "sensitivity", "organisation__kind")
    search_fields = ("code", "title")
    filter_horizontal = ("members",)

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, editable(Project), change)
        if change:
            projects.update_project(request.user, obj, **fields)
        else:
            adopt(obj, projects.create_project(request.user, **fields))

    def save_related(self, request, form, formsets, change):
        """Members through ``projects.add_member``/``remove_member`` (audited, PI excluded)."""
        project = Project.objects.get(pk=form.instance.pk)
        wanted = set(form.cleaned_data.get("members", []))
        current = set(project.members.all())
        for person in wanted - current:
            projects.add_member(request.user, project, person)
        for person in current - wanted:
            projects.remove_member(request.user, project, person)
