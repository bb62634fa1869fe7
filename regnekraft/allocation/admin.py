"""Operators' admin. Allocations made or changed here pass the same policy rules as the API and CLI."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from . import policy, services
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


def _proposal(obj: Allocation) -> policy.Proposal:
    return policy.Proposal.grant(
        obj.project,
        obj.resource_class,
        obj.amount,
        obj.start,
        obj.end,
        order_line=obj.order_line,
        replaces=obj if obj.pk else None,
    )


class AllocationForm(forms.ModelForm):
    class Meta:
        model = Allocation
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        obj = self.instance
        for name in ("project", "resource_class", "amount", "start", "end", "order_line"):
            if name in data:
                setattr(obj, name, data[name])
        violations = policy.check([_proposal(obj)])
        if violations:
            raise ValidationError([str(v) for v in violations])
        return data


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    form = AllocationForm
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

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            policy.enforce([_proposal(obj)])  # again, under the lock
            if obj.decided_by_id is None:
                obj.decided_by = request.user
            super().save_model(request, obj, form, change)


@admin.register(PolicySettings)
class PolicySettingsAdmin(admin.ModelAdmin):
    list_display = (
        "overbooking_factor",
        "economic_cap_share",
        "research_protected_share",
        "min_grant_share",
    )


class ApplicationRequestInline(admin.TabularInline):
    model = ApplicationRequest
    extra = 0


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("name", "opens", "closes", "period_start", "period_end", "status")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("project", "call", "status", "score")
    list_filter = ("call", "status")
    inlines = [ApplicationRequestInline, ReviewInline]
    actions = ["grant_as_requested", "reject"]

    @admin.action(description="Grant as requested (through the policy rules)")
    def grant_as_requested(self, request, queryset):
        for app in queryset:
            try:
                services.decide_application(
                    app,
                    {r.resource_class_id: r.amount for r in app.requests.all()},
                    decided_by=request.user,
                )
                self.message_user(request, f"{app}: granted")
            except (policy.PolicyViolation, ValidationError) as exc:
                self.message_user(request, f"{app}: refused: {exc}", level=messages.ERROR)

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        for app in queryset:
            services.decide_application(app, {}, decided_by=request.user)


class SectorOrderLineInline(admin.TabularInline):
    model = SectorOrderLine
    extra = 0


@admin.register(SectorOrder)
class SectorOrderAdmin(admin.ModelAdmin):
    list_display = ("sector", "organisation", "year", "commitment_share", "status")
    inlines = [SectorOrderLineInline]
    actions = ["confirm"]

    @admin.action(description="Confirm (through the policy rules)")
    def confirm(self, request, queryset):
        for order in queryset:
            try:
                services.confirm_order(order)
                self.message_user(request, f"{order}: confirmed")
            except (policy.PolicyViolation, ValidationError) as exc:
                self.message_user(request, f"{order}: refused: {exc}", level=messages.ERROR)


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ("allocation", "kind", "amount", "new_end", "status")
    actions = ["approve"]

    @admin.action(description="Approve (through the policy rules)")
    def approve(self, request, queryset):
        for change in queryset:
            try:
                services.decide_change(change, True, decided_by=request.user)
            except (policy.PolicyViolation, ValidationError) as exc:
                self.message_user(request, f"{change}: refused: {exc}", level=messages.ERROR)


admin.site.register(ColocatedEquipment)
admin.site.register(ExternalCapacity)
admin.site.site_header = "Regnekraft operations"
