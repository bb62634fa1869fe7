"""The service catalogue: systems, their resource classes and what they can deliver."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from regnekraft.audit.log import audited

from .capacity import capacity_between


class SecurityZone(models.TextChoices):
    OPEN = "open", _("Open")
    SHIELDED = "shielded", _("Shielded / personal data")
    GRADED = "graded", _("Security-graded")


class AvailabilityTier(models.IntegerChoices):
    """Ordered: a system of tier N also meets every need below N (000:3796-3822)."""

    MODERATE = 1, _("Moderate-high (research)")
    HIGH = 2, _("High (administration R&D, AI training)")
    EXTREME = 3, _("Extremely high (AI inference, 24/7 critical services)")


class SystemKind(models.TextChoices):
    NATIONAL = "national", _("National system")
    UNIVERSITY = "university", _("University cluster")
    EUROHPC = "eurohpc", _("EuroHPC share")
    CLOUD = "cloud", _("Commercial cloud")
    STORAGE = "storage", _("Storage service")
    COLOCATED = "colocated", _("Co-located equipment")


class ResourceKind(models.TextChoices):
    CPU = "cpu", _("CPU core-hours")
    GPU = "gpu", _("GPU-hours")
    STORAGE = "storage", _("Storage TB-months")
    NODE = "node", _("Dedicated node-hours")
    SUPPORT = "support", _("Advanced user support person-hours")


UNIT_LABEL = {
    ResourceKind.CPU: "core-hours",
    ResourceKind.GPU: "GPU-hours",
    ResourceKind.STORAGE: "TB-months",
    ResourceKind.NODE: "node-hours",
    ResourceKind.SUPPORT: "person-hours",
}


@audited
class System(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True, help_text="also the Slurm cluster name")
    kind = models.CharField(max_length=20, choices=SystemKind.choices)
    operator = models.CharField(max_length=100)
    owner = models.ForeignKey(
        "parties.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="set for equipment an organisation owns and co-locates",
    )
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code, e.g. NO, FI")
    security_zone = models.CharField(
        max_length=20, choices=SecurityZone.choices, default=SecurityZone.OPEN
    )
    availability_tier = models.PositiveSmallIntegerField(
        choices=AvailabilityTier.choices, default=AvailabilityTier.MODERATE
    )
    commissioned = models.DateField()
    decommissioned = models.DateField(null=True, blank=True)
    power_kw = models.DecimalField(max_digits=10, decimal_places=1, default=Decimal("0"))
    pue = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.10"))
    description = models.TextField(blank=True)
    source = models.CharField(
        max_length=300, blank=True, help_text="where the public figures come from"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.commissioned and self.decommissioned and self.decommissioned <= self.commissioned:
            raise ValidationError({"decommissioned": _("must be after the commissioning date")})

    def in_service(self, day: dt.date) -> bool:
        return self.commissioned <= day and (
            self.decommissioned is None or day < self.decommissioned
        )


@audited
class ResourceClass(models.Model):
    """One separately accounted pool on a system (never interchangeable with another)."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="resource_classes")
    kind = models.CharField(max_length=20, choices=ResourceKind.choices)
    gpu_type = models.CharField(
        max_length=50, blank=True, help_text="for GPU-hours, e.g. A100, MI250X"
    )
    installed_units = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text="cores, GPUs, TB, nodes or person-hours per year (support)",
    )
    expected_availability = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.95"),
        validators=[MinValueValidator(0)],
        help_text="share of hours the units can actually be delivered",
    )
    public_description = models.CharField(max_length=300, blank=True)
    orderable = models.BooleanField(default=True, help_text="shown in the service catalogue")

    class Meta:
        ordering = ["system__name", "kind", "gpu_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "kind", "gpu_type"], name="one_class_per_kind"
            )
        ]

    def __str__(self) -> str:
        gpu = f" {self.gpu_type}" if self.gpu_type else ""
        return f"{self.system.slug}:{self.kind}{gpu}"

    @property
    def unit(self) -> str:
        return UNIT_LABEL[ResourceKind(self.kind)]

    def capacity(self, start: dt.date, end: dt.date) -> Decimal:
        """Deliverable units in [start, end), counting only days the system is in service."""
        return capacity_between(
            kind=self.kind,
            installed_units=self.installed_units,
            availability=self.expected_availability,
            start=start,
            end=end,
            commissioned=self.system.commissioned,
            decommissioned=self.system.decommissioned,
        )


class PriceCategory(models.TextChoices):
    """Sigma2's user categories (user contribution model v2.2)."""

    A = "A", _("A: non-commercial with an allocation (operating cost, cost-plus)")
    B = "B", _("B: dedicated or co-located resources (capital and operating cost)")
    C = "C", _("C: commercial research and industry (market price)")
    D = "D", _("D: EU applications (in-kind value)")
    ZERO = "0", _("0: small exploratory projects (free up to a limit)")


class ChargingModel(models.TextChoices):
    SUBSCRIPTION = "subscription", _("Subscription: fixed fee for the allocation period")
    UNIT_PRICE = "unit", _("Unit price: pay for the allocated units")
    CONSUMPTION = "consumption", _("Consumption: pay for the units used")


@audited
class PriceList(models.Model):
    """Prices for one user category, valid from a date until the next list of that category."""

    category = models.CharField(max_length=1, choices=PriceCategory.choices)
    name = models.CharField(max_length=100)
    valid_from = models.DateField()
    tier_multipliers = models.JSONField(
        default=dict,
        blank=True,
        help_text='price factor per availability tier, e.g. {"1": "1.0", "2": "1.25", "3": "1.6"}',
    )
    free_allowance_nok = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text="category 0: charges per organisation and year below this are waived",
    )
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["category", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "valid_from"], name="one_list_per_category_and_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.name} from {self.valid_from}"

    def multiplier(self, tier: int) -> Decimal:
        return Decimal(str(self.tier_multipliers.get(str(tier), "1")))


@audited
class Price(models.Model):
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="prices")
    kind = models.CharField(max_length=20, choices=ResourceKind.choices)
    gpu_type = models.CharField(max_length=50, blank=True, help_text="empty: any GPU type")
    unit_price = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        validators=[MinValueValidator(0)],
        help_text=(
            "NOK per unit (core-hour, GPU-hour, TB-month, node-hour, person-hour), VAT excluded"
        ),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["price_list", "kind", "gpu_type"], name="one_price_per_kind"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.price_list.category} {self.kind}"
            f"{' ' + self.gpu_type if self.gpu_type else ''}: {self.unit_price} NOK"
        )
