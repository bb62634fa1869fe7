"""Operators' admin. Allocations made or changed here pass the same policy rules as the API and
CLI; orders, change requests, co-located equipment and external capacity are written by the
same services as there (allocation.orders, changes, colocation, external)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from regnekraft.audit.admin import ServiceWrites, adopt, editable, form_fields, refusal_text

from . import applications, calls, changes, colocation, external, grants, knobs, orders, policy
from .models import (
    Allocation,
    Application,
    ApplicationRequest,
    Call,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    PolicySettings,
    Review,
    SectorOrder,
    SectorOrderLine,
)

# What an action on several rows reports per row and goes on past.
ACTION_REFUSALS = (ValidationError, PermissionDenied, policy.PolicyViolation)


class AllocationForm(forms.ModelForm):
    """Shows the rules' refusal on the form before anything is saved."""

    class Meta:
        model = Allocation
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        wanted = Allocation(
            **{f: data.get(f, getattr(self.instance, f, None)) for f in grants.BY_HAND}
        )
        wanted.pk = self.instance.pk
        violations = policy.check([grants.proposal_for(wanted)])
        if violations:
            raise ValidationError([str(v) for v in violations])
        return data


@admin.register(Allocation)
class AllocationAdmin(ServiceWrites):
    """Grants by hand and adjustments (amount, period, status) through ``allocation.grants`` and
    the policy rules; a grant is revoked (status), never deleted, as use is billed against it."""

    form = AllocationForm
    refusals = (*ServiceWrites.refusals, policy.PolicyViolation)
    list_display = (
        "project",
        "resource_class",
        "amount",
        "start",
        "end",
        "source",
        "price_category",
        "status",
    )
    list_filter = ("source", "status", "price_category", "resource_class__system")
    search_fields = ("project__code",)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["decided_by"]
        return [f for f in editable(Allocation) if f not in grants.ADJUSTABLE]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            grants.adjust_allocation(
                request.user, obj, **form_fields(form, grants.ADJUSTABLE, True)
            )
        else:
            adopt(
                obj, grants.grant_by_hand(request.user, **form_fields(form, grants.BY_HAND, False))
            )


@admin.register(PolicySettings)
class PolicySettingsAdmin(ServiceWrites):
    list_display = (
        "overbooking_factor",
        "economic_cap_share",
        "research_protected_share",
        "min_grant_share",
    )

    def has_add_permission(self, request) -> bool:
        return not PolicySettings.objects.exists()  # one row

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        adopt(obj, knobs.set_policy(request.user, **form_fields(form, knobs.KNOBS, change)))


class ApplicationRequestInline(admin.TabularInline):
    model = ApplicationRequest
    extra = 0


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0


@admin.register(Call)
class CallAdmin(ServiceWrites):
    list_display = ("name", "opens", "closes", "period_start", "period_end", "status")

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, calls.CALL_FIELDS, change)
        adopt(obj, calls.save_call(request.user, obj if change else None, **fields))

    def delete_model(self, request, obj):
        calls.delete_call(request.user, obj)


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    """Applications are written by their PIs (portal, API); operators read them here and
    decide them with the actions, through the policy rules."""

    list_display = ("project", "call", "status", "score")
    list_filter = ("call", "status")
    inlines = [ApplicationRequestInline, ReviewInline]
    actions = ["grant_as_requested", "reject"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _decide(self, request, queryset, grant: bool) -> None:
        for app in queryset:
            granted = {r.resource_class_id: r.amount for r in app.requests.all()} if grant else {}
            try:
                applications.decide_application(request.user, app, granted)
            except ACTION_REFUSALS as exc:
                self.message_user(request, f"{app}: refused: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"{app}: {'granted' if grant else 'rejected'}")

    @admin.action(description="Grant as requested (through the policy rules)")
    def grant_as_requested(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        self._decide(request, queryset, False)


class SectorOrderLineInline(admin.TabularInline):
    model = SectorOrderLine
    extra = 0


@admin.register(SectorOrder)
class SectorOrderAdmin(ServiceWrites):
    """Orders are saved with their lines by orders.save_order (drafts only); confirming and
    cancelling are actions. An order is cancelled, never deleted: a confirmed one is a
    take-or-pay commitment."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    list_display = ("sector", "organisation", "year", "commitment_share", "status", "committed")
    readonly_fields = ("sector", "status", "ordered_by", "price_estimate")
    inlines = [SectorOrderLineInline]
    actions = ["confirm", "cancel"]

    @admin.display(description="take-or-pay commitment (NOK)")
    def committed(self, order: SectorOrder):
        return orders.estimate(order).committed

    @admin.display(description="price estimate")
    def price_estimate(self, order: SectorOrder) -> str:
        if order.pk is None:
            return "-"
        found = orders.estimate(order)
        missing = "" if found.complete else " (some lines have no price)"
        return (
            f"category {found.category}: {found.total} NOK, "
            f"committed {found.committed} NOK{missing}"
        )

    def save_model(self, request, obj, form, change):
        pass  # written with its lines in save_related

    def save_related(self, request, form, formsets, change):
        lines = {}
        for formset in formsets:
            for line in formset.forms:
                data = line.cleaned_data
                if data and not data.get("DELETE"):
                    lines[data["resource_class"]] = data["amount"]
            # The service wrote the lines; the admin's change message reads these.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        order = form.instance
        saved = orders.save_order(
            request.user,
            organisation=order.organisation,
            year=order.year,
            commitment_share=order.commitment_share,
            lines=lines,
            order=order if change else None,
        )
        adopt(order, saved)

    @admin.action(description="Confirm (through the policy rules)")
    def confirm(self, request, queryset):
        for order in queryset:
            try:
                orders.confirm_order(request.user, order)
                self.message_user(request, f"{order}: confirmed")
            except ACTION_REFUSALS as exc:
                self.message_user(
                    request, f"{order}: refused: {refusal_text(exc)}", level=messages.ERROR
                )

    @admin.action(description="Cancel (drafts only)")
    def cancel(self, request, queryset):
        for order in queryset:
            try:
                orders.cancel_order(request.user, order)
                self.message_user(request, f"{order}: cancelled")
            except ACTION_REFUSALS as exc:
                self.message_user(
                    request, f"{order}: refused: {refusal_text(exc)}", level=messages.ERROR
                )


CHANGE_FIELDS = ("allocation", "kind", "amount", "new_end", "reason")


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ServiceWrites):
    """Requests are made by changes.request_change and decided by the actions; a request made
    stays as it was asked (and is not deleted)."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    list_display = ("allocation", "kind", "amount", "new_end", "status")
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        done = ("status", "requested_by", "decision_note")
        return done if obj is None else (*CHANGE_FIELDS, *done)

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved = changes.request_change(
            request.user,
            obj.allocation,
            kind=obj.kind,
            amount=obj.amount,
            new_end=obj.new_end,
            reason=obj.reason,
        )
        adopt(obj, saved)

    def _decide(self, request, queryset, approve: bool) -> None:
        for change in queryset:
            try:
                changes.decide_change(request.user, change, approve)
            except ACTION_REFUSALS as exc:
                self.message_user(
                    request, f"{change}: refused: {refusal_text(exc)}", level=messages.ERROR
                )

    @admin.action(description="Approve (through the policy rules)")
    def approve(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        self._decide(request, queryset, False)


@admin.register(ColocatedEquipment)
class ColocatedEquipmentAdmin(ServiceWrites):
    list_display = ("system", "rack_units", "hosting_fee_nok_per_month", "contract_start")

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, colocation.EQUIPMENT_FIELDS, change)
        if change:
            colocation.update_equipment(request.user, obj, **fields)
        else:
            adopt(obj, colocation.register_equipment(request.user, **fields))

    def delete_model(self, request, obj):
        colocation.remove_equipment(request.user, obj)


@admin.register(ExternalCapacity)
class ExternalCapacityAdmin(ServiceWrites):
    list_display = ("organisation", "provider", "kind", "amount", "cost_nok", "start", "end")

    def save_model(self, request, obj, form, change):
        fields = form_fields(form, external.EXTERNAL_FIELDS, change)
        if change:
            external.update_external(request.user, obj, **fields)
        else:
            adopt(obj, external.record_external(request.user, **fields))

    def delete_model(self, request, obj):
        external.remove_external(request.user, obj)


admin.site.site_header = "Regnekraft operations"
