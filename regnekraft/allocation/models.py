"""The four allocation models (000:4193-4310): calls, sector orders, co-location, external
capacity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from regnekraft.audit.log import audited
from regnekraft.catalog.models import ChargingModel, PriceCategory, ResourceClass
from regnekraft.parties.models import Organisation, Person, Project

# State-aid rules: economic activity uses at most 20 % of yearly capacity (000:1180-1188).
LEGAL_ECONOMIC_CAP = Decimal("0.20")

EEA_COUNTRIES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO"
).split()
DEFAULT_SECURITY_PARTNERS = (
    "NO SE DK FI IS DE NL FR GB US CA BE LU IT ES PT PL EE LV LT CZ SK"
).split()


def positive(value: Decimal) -> None:
    if value is None or value <= 0:
        raise ValidationError(_("must be greater than zero, got %(v)s"), params={"v": value})


@audited
class PolicySettings(models.Model):
    """The rules' knobs. One row; every change is audited."""

    overbooking_factor = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text="commitments per system, class and period may reach capacity x this factor",
    )
    economic_cap_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.050"),
        validators=[MinValueValidator(0), MaxValueValidator(LEGAL_ECONOMIC_CAP)],
        help_text=(
            "share of yearly capacity economic activity may use (board: 0.05; law: at most 0.20)"
        ),
    )
    research_protected_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.600"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="share of yearly capacity kept for research organisations",
    )
    security_partner_countries = models.JSONField(
        default=list,
        blank=True,
        help_text="countries outside Norway where open work may run (ISO codes)",
    )
    min_grant_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.300"),
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(1)],
        help_text=(
            "the optimiser grants an application nothing or at least this share of its request"
        ),
    )
    warning_thresholds = models.JSONField(
        default=list,
        blank=True,
        help_text="balance warnings at these used shares, e.g. [0.5, 0.8, 1.0]",
    )

    class Meta:
        verbose_name = verbose_name_plural = "policy settings"

    def __str__(self) -> str:
        return "Policy settings"

    def clean(self) -> None:
        if self.economic_cap_share is not None and self.economic_cap_share > LEGAL_ECONOMIC_CAP:
            # xgettext:no-python-format
            raise ValidationError({"economic_cap_share": _("cannot exceed the legal 20 % cap")})

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        if not self.security_partner_countries:
            self.security_partner_countries = list(DEFAULT_SECURITY_PARTNERS)
        if not self.warning_thresholds:
            self.warning_thresholds = [0.5, 0.8, 1.0]
        self.full_clean()
        super().save(*args, **kwargs)

    @property
    def economic_cap(self) -> Decimal:
        """The share economic activity may use: the board's knob, never above the legal cap."""
        return min(self.economic_cap_share, LEGAL_ECONOMIC_CAP)

    @classmethod
    def current(cls) -> PolicySettings:
        obj = cls.objects.filter(pk=1).first()
        if obj is None:
            obj = cls()
            obj.save()
        return obj


class CallStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open for applications")
    REVIEW = "review", _("In review")
    DECIDED = "decided", _("Decided")


@audited
class Call(models.Model):
    """A call for applications; by default two a year (000:952-958)."""

    name = models.CharField(max_length=100, unique=True)
    opens = models.DateField()
    closes = models.DateField()
    period_start = models.DateField(help_text="first day of the allocation period")
    period_end = models.DateField(help_text="day after the last day of the allocation period")
    status = models.CharField(max_length=10, choices=CallStatus.choices, default=CallStatus.DRAFT)

    class Meta:
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.closes < self.opens or self.period_end <= self.period_start:
            raise ValidationError(
                _("a call must close after it opens and its period must not be empty")
            )

    def check_status_change(self, new: str) -> None:
        """Operators move a call between draft, open and review; only a round decision
        (``services.decide_round``) makes it decided, and a decided call stays decided."""
        if new == self.status:
            return
        if self.status == CallStatus.DECIDED:
            raise ValidationError({"status": _("a decided call cannot change status")})
        if new == CallStatus.DECIDED:
            raise ValidationError(
                {"status": _("a call becomes decided only by deciding its round")}
            )


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    DECIDED = "decided", _("Decided")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Application(models.Model):
    call = models.ForeignKey(Call, on_delete=models.PROTECT, related_name="applications")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="applications")
    justification = models.TextField()
    support_hours = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text="advanced user support asked for (person-hours)",
    )
    extra_fields = models.JSONField(default=dict, blank=True, help_text="call-specific answers")
    status = models.CharField(
        max_length=10, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["call", "project__code"]
        constraints = [
            models.UniqueConstraint(fields=["call", "project"], name="one_application_per_call")
        ]

    def __str__(self) -> str:
        return f"{self.project.code} in {self.call.name}"

    def score(self) -> Decimal | None:
        """Mean over submitted reviews without a conflict of each review's mean score. A reviewer
        who takes part in the project (even one added after the assignment) does not count."""
        involved = self.project.participant_ids()
        reviews = [
            r
            for r in self.reviews.all()
            if r.submitted and not r.conflict_of_interest and r.reviewer_id not in involved
        ]
        means = [r.mean_score() for r in reviews if r.scores]
        if not means:
            return None
        return (sum(means, Decimal(0)) / len(means)).quantize(Decimal("0.001"))


class ApplicationRequest(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="requests")
    resource_class = models.ForeignKey(ResourceClass, on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=16, decimal_places=2, validators=[positive])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["application", "resource_class"], name="one_request_per_class"
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.resource_class.unit} on {self.resource_class}"


REVIEW_CRITERIA = ("excellence", "impact", "feasibility")
SCORE_MIN, SCORE_MAX = 1, 7


def validate_scores(scores: dict) -> None:
    unknown = set(scores) - set(REVIEW_CRITERIA)
    if unknown:
        raise ValidationError(
            _("unknown criteria: %(c)s"), params={"c": ", ".join(sorted(unknown))}
        )
    for criterion, value in scores.items():
        if not isinstance(value, int | float) or not SCORE_MIN <= value <= SCORE_MAX:
            raise ValidationError(
                _("score for %(c)s must be a number from %(lo)s to %(hi)s, got %(v)r"),
                params={"c": criterion, "lo": SCORE_MIN, "hi": SCORE_MAX, "v": value},
            )


class Review(models.Model):
    """A reviewer's assignment to an application, with conflict declaration and scores."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="reviews")
    conflict_of_interest = models.BooleanField(default=False)
    scores = models.JSONField(default=dict, blank=True, validators=[validate_scores])
    comment = models.TextField(blank=True)
    submitted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["application", "reviewer"], name="one_review_each")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.application}"

    def mean_score(self) -> Decimal:
        values = [Decimal(str(v)) for v in self.scores.values()]
        return sum(values, Decimal(0)) / len(values)


class OrderStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class SectorOrder(models.Model):
    """A sector's yearly order of capacity, with a take-or-pay usage commitment (000:8020-8022)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="sector_orders"
    )
    sector = models.CharField(max_length=100)
    year = models.PositiveSmallIntegerField()
    commitment_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.800"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="share of the order's value the sector pays even if unused",
    )
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    ordered_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-year", "sector"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "year"], name="one_order_per_org_year")
        ]

    def __str__(self) -> str:
        return f"{self.sector} {self.year} ({self.organisation})"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year + 1, 1, 1)


@audited
class SectorOrderLine(models.Model):
    order = models.ForeignKey(SectorOrder, on_delete=models.CASCADE, related_name="lines")
    resource_class = models.ForeignKey(ResourceClass, on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=16, decimal_places=2, validators=[positive])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "resource_class"], name="one_line_per_class")
        ]

    def __str__(self) -> str:
        return f"{self.order}: {self.amount} {self.resource_class.unit} on {self.resource_class}"


class AllocationSource(models.TextChoices):
    CALL = "call", _("Call decision")
    SECTOR_ORDER = "sector_order", _("Sub-allocation of a sector order")
    COLOCATION = "colocation", _("Co-located equipment")
    PURCHASE = "purchase", _("Purchase (industry)")
    CHANGE = "change", _("Change request or renewal")


class AllocationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    BLOCKED = "blocked", _("Blocked")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


class AllocationQuerySet(models.QuerySet):
    def live(self) -> AllocationQuerySet:
        """Allocations that hold capacity: every status but revoked (a blocked or expired grant
        was still committed for its period)."""
        return self.exclude(status=AllocationStatus.REVOKED)

    def overlapping(self, start: dt.date, end: dt.date) -> AllocationQuerySet:
        """Allocations whose period ``[start, end)`` meets ``[start, end)`` (ends are exclusive)."""
        return self.filter(start__lt=end, end__gt=start)

    def on(self, day: dt.date) -> AllocationQuerySet:
        """Allocations whose period contains ``day``."""
        return self.filter(start__lte=day, end__gt=day)


@audited
class Allocation(models.Model):
    """A decided grant of one resource class to one project for a period: what Slurm enforces."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="allocations")
    resource_class = models.ForeignKey(
        ResourceClass, on_delete=models.PROTECT, related_name="allocations"
    )
    amount = models.DecimalField(max_digits=16, decimal_places=2, validators=[positive])
    start = models.DateField()
    end = models.DateField(help_text="the day after the last day")
    source = models.CharField(max_length=20, choices=AllocationSource.choices)
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations"
    )
    order_line = models.ForeignKey(
        SectorOrderLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sub_allocations",
    )
    price_category = models.CharField(max_length=1, choices=PriceCategory.choices)
    charging_model = models.CharField(
        max_length=20, choices=ChargingModel.choices, default=ChargingModel.CONSUMPTION
    )
    status = models.CharField(
        max_length=10, choices=AllocationStatus.choices, default=AllocationStatus.ACTIVE
    )
    status_reason = models.CharField(max_length=200, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    objects = AllocationQuerySet.as_manager()

    class Meta:
        ordering = ["project__code", "resource_class_id", "start"]
        indexes = [models.Index(fields=["resource_class", "start", "end"])]

    def __str__(self) -> str:
        return (
            f"{self.project.code}: {self.amount} {self.resource_class.unit} on "
            f"{self.resource_class} {self.start}..{self.end}"
        )

    @property
    def is_economic(self) -> bool:
        return self.project.is_economic

    @property
    def is_live(self) -> bool:
        """Whether it holds capacity (the row form of ``Allocation.objects.live()``)."""
        return self.status != AllocationStatus.REVOKED


@audited
class ColocatedEquipment(models.Model):
    """Equipment an organisation owns and places at the shared operator (model 3)."""

    system = models.OneToOneField(
        "catalog.System",
        on_delete=models.PROTECT,
        related_name="colocation",
        help_text="the equipment as a system of kind 'colocated'; its owner is the system's owner",
    )
    rack_units = models.PositiveSmallIntegerField(default=42)
    hosting_fee_nok_per_month = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    contract_start = models.DateField()
    contract_end = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.system.owner}: {self.system}"

    def clean(self) -> None:
        if self.system_id and self.system.owner_id is None:
            raise ValidationError(
                {"system": _("co-located equipment must have an owner (set the system's owner)")}
            )


@audited
class ExternalCapacity(models.Model):
    """Capacity a sector buys elsewhere (cloud, EuroHPC), brokered and reported (model 4)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="external_capacity"
    )
    provider = models.CharField(max_length=100)
    country = models.CharField(max_length=2)
    kind = models.CharField(max_length=20, choices=ResourceClass._meta.get_field("kind").choices)
    amount = models.DecimalField(max_digits=16, decimal_places=2, validators=[positive])
    cost_nok = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    start = models.DateField()
    end = models.DateField()
    reference = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name_plural = "external capacity"

    def __str__(self) -> str:
        return f"{self.organisation} at {self.provider}: {self.amount} {self.kind}"


class ChangeKind(models.TextChoices):
    INCREASE = "increase", _("More of the same")
    EXTEND = "extend", _("Longer period")
    RENEW = "renew", _("Renewal for a new period")


class ChangeStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ChangeRequest(models.Model):
    allocation = models.ForeignKey(
        Allocation, on_delete=models.CASCADE, related_name="change_requests"
    )
    kind = models.CharField(max_length=10, choices=ChangeKind.choices)
    amount = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        validators=[positive],
        help_text="increase: extra units; renew: units for the new period; extend: ignored",
        null=True,
        blank=True,
    )
    new_end = models.DateField(null=True, blank=True, help_text="extend and renew: the new end day")
    reason = models.TextField()
    status = models.CharField(
        max_length=10, choices=ChangeStatus.choices, default=ChangeStatus.PENDING
    )
    requested_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL)
    decision_note = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} of {self.allocation}"

    def clean(self) -> None:
        if self.kind in (ChangeKind.EXTEND, ChangeKind.RENEW):
            if self.new_end is None:
                raise ValidationError({"new_end": _("an extension or renewal needs a new end")})
            if self.allocation_id and self.new_end <= self.allocation.end:
                raise ValidationError(
                    {
                        "new_end": _("the new end must be after the allocation's end, %(end)s")
                        % {"end": self.allocation.end}
                    }
                )
        if self.kind in (ChangeKind.INCREASE, ChangeKind.RENEW) and self.amount is None:
            raise ValidationError({"amount": _("an increase or renewal needs an amount")})


class SimulationRun(models.Model):
    """A call's round replayed on a workload trace in the policy simulator (``whatif``),
    kept so that decision makers see it on the dashboard without running it again."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="simulations")
    trace = models.CharField(max_length=200, help_text="the trace file's name in the traces folder")
    proposed = models.BooleanField(
        default=False, help_text="the optimiser's proposal, not the decisions"
    )
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    results = models.JSONField(
        help_text="per scenario: figures, and delivered share per project and user group"
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.call} on {self.trace} ({'proposed' if self.proposed else 'decided'})"
