"""Usage records, balances and their threshold events, invoices."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from regnekraft.allocation.models import Allocation, SectorOrder
from regnekraft.audit.log import audited
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Organisation, Project


class ImportBatch(models.Model):
    """One import of a usage file or a Slurm ingest run."""

    source = models.CharField(max_length=50)
    filename = models.CharField(max_length=500, blank=True)
    started = models.DateTimeField(auto_now_add=True)
    records_read = models.PositiveIntegerField(default=0)
    records_new = models.PositiveIntegerField(default=0)
    records_duplicate = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} {self.filename} at {self.started:%Y-%m-%d %H:%M}"


class UsageRecord(models.Model):
    """A metered quantity of one resource class used by one project; rated when imported.

    The idempotency key (source, cluster, job_id, step) makes re-imports harmless.
    """

    source = models.CharField(max_length=50)
    cluster = models.CharField(max_length=50)
    job_id = models.CharField(max_length=64)
    step = models.CharField(max_length=32, default="", blank=True)
    # Only the indexes queries need: each index costs every insert of a bulk import. The
    # references are checked by the importer against the database in the import's transaction
    # and deletes are guarded by PROTECT in Django, so the database does not check them again
    # row by row (on PostgreSQL those checks were most of an import's cost). See docs/accounting.md.
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="usage", db_index=False, db_constraint=False
    )
    resource_class = models.ForeignKey(
        ResourceClass, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    allocation = models.ForeignKey(
        Allocation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage",
        db_index=False,
        db_constraint=False,
    )
    username = models.CharField(max_length=64, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    usage_date = models.DateField(
        help_text="local date of the end of use: picks the allocation and price list"
    )
    quantity = models.DecimalField(max_digits=16, decimal_places=4, help_text="in the class's unit")
    unit_price_nok = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal(0),
        help_text="price list price x tier multiplier on the usage date",
    )
    charge_nok = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        default=Decimal(0),
        help_text="rated at import; rounded to øre only on invoices",
    )
    batch = models.ForeignKey(
        ImportBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "cluster", "job_id", "step", "resource_class"],
                name="usage_idempotency_key",
            )
        ]
        # Pages, reports and invoices read the day sums (UsageDay), so the records keep only
        # what the idempotency key and the listings (a project's or an allocation's records,
        # newest first, paged by id) need: each index costs every insert of an import.
        indexes = [
            models.Index(fields=["project", "id"], name="usage_project_id_idx"),
            models.Index(fields=["allocation", "id"], name="usage_allocation_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.job_id}.{self.step} {self.project_id}: {self.quantity}"


class UsageDay(models.Model):
    """The use of one day, summed: what every page, report, balance and invoice reads.

    One open row per (project, allocation, resource class, cluster, usage date, unit price),
    kept by the importer in the import's own transaction (:mod:`.aggregates`), so reads cost
    the same whatever the number of records. An invoice takes the open rows it bills
    (``invoice`` set); use of the same day imported later goes to a new open row, which the
    next invoice bills as late use. Invariant: for every key, the records' sums equal the sums
    of its rows, billed and open (``regnekraft accounting rebuild-aggregates`` restores it).
    """

    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="usage_days",
        db_index=False,  # served by the (project, usage_date) index
        db_constraint=False,
    )
    allocation = models.ForeignKey(
        Allocation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_days",
        db_constraint=False,
    )
    resource_class = models.ForeignKey(
        ResourceClass, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    cluster = models.CharField(max_length=50)
    usage_date = models.DateField()
    unit_price_nok = models.DecimalField(max_digits=12, decimal_places=4)
    records = models.PositiveBigIntegerField()
    quantity = models.DecimalField(max_digits=20, decimal_places=4)
    charge_nok = models.DecimalField(max_digits=18, decimal_places=4)
    invoice = models.ForeignKey(
        "Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_days",
        db_constraint=False,
        help_text="the invoice that billed this use (consumption charging); empty: open",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "project",
                Coalesce("allocation", 0),
                "resource_class",
                "cluster",
                "usage_date",
                "unit_price_nok",
                condition=models.Q(invoice__isnull=True),
                name="usage_day_one_open_row",
            )
        ]
        indexes = [
            models.Index(fields=["usage_date"], name="usage_day_date_idx"),
            models.Index(fields=["project", "usage_date"], name="usage_day_project_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.usage_date} {self.project_id}/{self.resource_class_id}: {self.quantity}"


class BalanceEvent(models.Model):
    """A threshold crossed by an allocation's use: a warning, or the block at 100 %."""

    class Action(models.TextChoices):
        WARN = "warn", _("Warning")
        BLOCK = "block", _("Block")

    allocation = models.ForeignKey(
        Allocation, on_delete=models.CASCADE, related_name="balance_events"
    )
    threshold = models.DecimalField(max_digits=4, decimal_places=3)
    action = models.CharField(max_length=10, choices=Action.choices)
    used_share = models.DecimalField(max_digits=8, decimal_places=4)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["allocation", "threshold"], name="one_event_per_threshold"
            )
        ]
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.allocation}: {self.action} at {self.threshold:.0%}"


@audited
class Invoice(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="invoices"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    issued = models.DateTimeField(auto_now_add=True)
    total_nok = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["-period_start", "organisation__short_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "period_start", "period_end"], name="one_invoice_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.period_start}..{self.period_end}: {self.total_nok} NOK"


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        USAGE = "usage", _("Consumption: units used")
        UNIT = "unit", _("Unit price: allocated units, pro rata")
        SUBSCRIPTION = "subscription", _("Subscription: fixed fee for the allocation")
        WAIVER = "waiver", _("Category 0 waiver")
        TAKE_OR_PAY = "take_or_pay", _("Committed minimum of a sector order")

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.USAGE)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT)
    allocation = models.ForeignKey(
        Allocation, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    resource_class = models.ForeignKey(
        ResourceClass, null=True, blank=True, on_delete=models.PROTECT
    )
    sector_order = models.ForeignKey(SectorOrder, null=True, blank=True, on_delete=models.PROTECT)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=16, decimal_places=4)
    unit = models.CharField(max_length=30)
    unit_price_nok = models.DecimalField(max_digits=12, decimal_places=4)
    amount_nok = models.DecimalField(max_digits=14, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_nok} NOK"
