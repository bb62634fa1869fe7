"""Portal forms. Amount fields are generated per resource class so a request, an order or a
round decision has one labelled field per class."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from regnekraft import formats
from regnekraft.allocation.models import (
    REVIEW_CRITERIA,
    SCORE_MAX,
    SCORE_MIN,
    Call,
    ChangeKind,
)
from regnekraft.catalog.models import PriceCategory, ResourceClass, ResourceKind
from regnekraft.parties.models import Organisation, Person, Project

CRITERION_LABELS = {
    "excellence": _("Scientific excellence"),
    "impact": _("Impact"),
    "feasibility": _("Feasibility"),
}


class DateInput(forms.DateInput):
    input_type = "date"


def class_label(rc: ResourceClass) -> str:
    gpu = f" {rc.gpu_type}" if rc.gpu_type else ""
    return f"{rc.system.name}: {rc.get_kind_display()}{gpu}"


def allocation_label(a) -> str:
    """An allocation as a reader sees it: ``nn1001k: 100 000 kjernetimer on Betzy: CPU, 1. jan.
    2027 – 1. jan. 2028`` in the active language."""
    return _("%(code)s: %(amount)s on %(what)s, %(start)s – %(end)s") % {
        "code": a.project.code,
        "amount": formats.quantity(a.amount, a.resource_class.unit),
        "what": class_label(a.resource_class),
        "start": formats.date(a.start),
        "end": formats.date(a.end),
    }


def amount_field_name(rc: ResourceClass) -> str:
    return f"rc_{rc.pk}"


class ClassAmountsMixin:
    """Adds one optional, non-negative amount field per resource class."""

    def add_amounts(
        self, classes: Iterable[ResourceClass], initial: dict[int, Decimal] | None = None
    ) -> None:
        self.amount_classes = list(classes)
        for rc in self.amount_classes:
            self.fields[amount_field_name(rc)] = forms.DecimalField(
                label=class_label(rc),
                required=False,
                min_value=0,
                decimal_places=2,
                max_digits=16,
                help_text=formats.unit_label(rc.unit),
                initial=(initial or {}).get(rc.pk),
            )

    def amounts(self) -> dict[ResourceClass, Decimal]:
        return {
            rc: self.cleaned_data[amount_field_name(rc)]
            for rc in self.amount_classes
            if self.cleaned_data.get(amount_field_name(rc))
        }

    def amount_fields(self) -> list[forms.BoundField]:
        return [self[amount_field_name(rc)] for rc in self.amount_classes]


class ApplicationForm(ClassAmountsMixin, forms.Form):
    justification = forms.CharField(
        label=_("Justification"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("What the resources are for and why this amount."),
    )
    support_hours = forms.DecimalField(
        label=_("Advanced user support (person-hours)"),
        min_value=0,
        initial=0,
        decimal_places=1,
        max_digits=8,
    )
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=Person.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, classes: Iterable[ResourceClass], colleagues, **kw) -> None:
        super().__init__(*args, **kw)
        self.fields["members"].queryset = colleagues
        self.add_amounts(classes)


class MemberForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address of the person to add"))


class ChangeRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of change"), choices=ChangeKind.choices)
    amount = forms.DecimalField(
        label=_("Amount"),
        required=False,
        min_value=0,
        decimal_places=2,
        max_digits=16,
        help_text=_("More of the same: extra units. Renewal: units for the new period."),
    )
    new_end = forms.DateField(
        label=_("New end date"),
        required=False,
        widget=DateInput,
        help_text=_("Longer period and renewal: the day after the last day."),
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 4}))

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind in (ChangeKind.INCREASE, ChangeKind.RENEW) and not data.get("amount"):
            self.add_error("amount", _("Give the amount for this kind of change."))
        if kind in (ChangeKind.EXTEND, ChangeKind.RENEW) and not data.get("new_end"):
            self.add_error("new_end", _("Give the new end date for this kind of change."))
        return data


class ReviewForm(forms.Form):
    conflict = forms.BooleanField(
        label=_("I have a conflict of interest with this application"), required=False
    )
    comment = forms.CharField(
        label=_("Comments to the committee"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        choices = [("", _("choose"))] + [(str(v), str(v)) for v in range(SCORE_MIN, SCORE_MAX + 1)]
        for criterion in REVIEW_CRITERIA:
            self.fields[f"score_{criterion}"] = forms.TypedChoiceField(
                label=CRITERION_LABELS[criterion],
                choices=choices,
                coerce=int,
                required=False,
                empty_value=None,
                help_text=_("%(lo)s (weak) to %(hi)s (excellent)")
                % {"lo": SCORE_MIN, "hi": SCORE_MAX},
            )

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("conflict"):
            for criterion in REVIEW_CRITERIA:
                if data.get(f"score_{criterion}") is None:
                    self.add_error(
                        f"score_{criterion}", _("Score every criterion, or declare a conflict.")
                    )
        return data

    def scores(self) -> dict[str, int]:
        return {
            c: self.cleaned_data[f"score_{c}"]
            for c in REVIEW_CRITERIA
            if self.cleaned_data.get(f"score_{c}") is not None
        }


class OrderForm(ClassAmountsMixin, forms.Form):
    organisation = forms.ModelChoiceField(
        label=_("Ordering organisation"), queryset=Organisation.objects.none()
    )
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    commitment_share = forms.DecimalField(
        label=_("Usage commitment (share paid even if unused)"),
        min_value=0,
        max_value=1,
        decimal_places=3,
        max_digits=4,
        initial=Decimal("0.800"),
    )

    def __init__(self, *args, organisations, classes: Iterable[ResourceClass], **kw) -> None:
        super().__init__(*args, **kw)
        self.fields["organisation"].queryset = organisations
        self.fields["year"].initial = dt.date.today().year + 1
        self.add_amounts(classes)


class SubAllocateForm(forms.Form):
    project = forms.ModelChoiceField(label=_("Project"), queryset=Project.objects.none())
    amount = forms.DecimalField(label=_("Amount"), min_value=0, decimal_places=2, max_digits=16)

    def __init__(self, *args, projects, **kw) -> None:
        super().__init__(*args, **kw)
        self.fields["project"].queryset = projects


class PurchaseForm(forms.Form):
    project = forms.ModelChoiceField(label=_("Project"), queryset=Project.objects.none())
    resource_class = forms.ModelChoiceField(
        label=_("Resource"), queryset=ResourceClass.objects.none()
    )
    amount = forms.DecimalField(label=_("Amount"), min_value=0, decimal_places=2, max_digits=16)
    start = forms.DateField(label=_("From"), widget=DateInput)
    end = forms.DateField(label=_("Until (the day after the last day)"), widget=DateInput)

    def __init__(self, *args, projects, classes, **kw) -> None:
        super().__init__(*args, **kw)
        self.fields["project"].queryset = projects
        self.fields["resource_class"].queryset = classes
        self.fields["resource_class"].label_from_instance = class_label

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", _("The end must be after the start."))
        return data


class CallForm(forms.ModelForm):
    class Meta:
        model = Call
        fields = ["name", "opens", "closes", "period_start", "period_end"]
        labels = {
            "name": _("Name"),
            "opens": _("Opens"),
            "closes": _("Closes"),
            "period_start": _("Allocation period starts"),
            "period_end": _("Allocation period ends"),
        }
        widgets = {f: DateInput for f in ["opens", "closes", "period_start", "period_end"]}


class ReviewerForm(forms.Form):
    reviewer = forms.ModelChoiceField(label=_("Reviewer"), queryset=Person.objects.none())

    def __init__(self, *args, reviewers, **kw) -> None:
        super().__init__(*args, **kw)
        self.fields["reviewer"].queryset = reviewers


class PriceListForm(forms.Form):
    """A new price list: one price per resource kind (empty: that kind has no price in it)."""

    category = forms.ChoiceField(label=_("Category"), choices=PriceCategory.choices)
    name = forms.CharField(label=_("Name"), max_length=100)
    valid_from = forms.DateField(label=_("Takes effect on"), widget=DateInput)
    tier_1 = forms.DecimalField(
        label=_("Multiplier, availability tier 1"),
        initial=Decimal("1"),
        min_value=Decimal("0.01"),
        max_digits=6,
        decimal_places=3,
    )
    tier_2 = forms.DecimalField(
        label=_("Multiplier, availability tier 2"),
        initial=Decimal("1.25"),
        min_value=Decimal("0.01"),
        max_digits=6,
        decimal_places=3,
    )
    tier_3 = forms.DecimalField(
        label=_("Multiplier, availability tier 3"),
        initial=Decimal("1.6"),
        min_value=Decimal("0.01"),
        max_digits=6,
        decimal_places=3,
    )
    free_allowance_nok = forms.DecimalField(
        label=_("Free allowance per organisation and year (NOK, category 0)"),
        initial=Decimal("0"),
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
    )
    source = forms.CharField(label=_("Source (decision, document)"), max_length=300, required=False)

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        for kind, label in ResourceKind.choices:
            self.fields[f"price_{kind}"] = forms.DecimalField(
                label=_("NOK per unit: %(kind)s") % {"kind": label},
                required=False,
                min_value=Decimal("0"),
                max_digits=12,
                decimal_places=4,
            )

    def price_fields(self) -> list[forms.BoundField]:
        return [self[f"price_{kind}"] for kind in ResourceKind.values]

    def prices(self) -> dict[str, Decimal]:
        return {
            kind: self.cleaned_data[f"price_{kind}"]
            for kind in ResourceKind.values
            if self.cleaned_data.get(f"price_{kind}") is not None
        }

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors and not self.prices():
            raise forms.ValidationError(_("Give at least one price."))
        return data
