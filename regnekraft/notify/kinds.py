"""The kinds of notification: who gets them, how by default, and which may not be turned off.

A kind's subject, its templates (``notify/<kind>.txt`` and ``notify/<kind>.html``) and the
portal page it links to are declared here once; ``render`` and the preference page read them.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    # xgettext:no-python-format
    BALANCE_WARNING = "balance_warning", _("Balance warning (50 % and 80 % used)")
    # xgettext:no-python-format
    BALANCE_BLOCK = "balance_block", _("Allocation blocked (100 % used)")
    ALLOCATION_EXPIRING = "allocation_expiring", _("Allocation expiring (30 and 7 days)")
    APPLICATION_DECIDED = "application_decided", _("Application decided")
    CHANGE_DECIDED = "change_decided", _("Change request decided")
    REVIEWER_ASSIGNED = "reviewer_assigned", _("Assigned as reviewer")
    CALL_OPENED = "call_opened", _("Call opened")
    CALL_CLOSING = "call_closing", _("Call closing soon")
    ORDER_CONFIRMED = "order_confirmed", _("Sector order confirmed")
    INVOICE_ISSUED = "invoice_issued", _("Invoice issued")
    SLURM_FAILED = "slurm_failed", _("Slurm sync or ingest failed (operators)")


class Delivery(models.TextChoices):
    IMMEDIATE = "immediate", _("At once")
    DIGEST = "digest", _("Daily digest")
    OFF = "off", _("Off")


# Until a person chooses otherwise.
DEFAULT_DELIVERY: dict[str, str] = {
    Kind.BALANCE_WARNING: Delivery.IMMEDIATE,
    Kind.BALANCE_BLOCK: Delivery.IMMEDIATE,
    Kind.ALLOCATION_EXPIRING: Delivery.IMMEDIATE,
    Kind.APPLICATION_DECIDED: Delivery.IMMEDIATE,
    Kind.CHANGE_DECIDED: Delivery.IMMEDIATE,
    Kind.REVIEWER_ASSIGNED: Delivery.IMMEDIATE,
    Kind.CALL_OPENED: Delivery.DIGEST,
    Kind.CALL_CLOSING: Delivery.DIGEST,
    Kind.ORDER_CONFIRMED: Delivery.IMMEDIATE,
    Kind.INVOICE_ISSUED: Delivery.IMMEDIATE,
    Kind.SLURM_FAILED: Delivery.IMMEDIATE,
}

# A block stops a project's jobs and an invoice must be paid: these always reach the person.
MANDATORY: frozenset[str] = frozenset({Kind.BALANCE_BLOCK, Kind.INVOICE_ISSUED})

SUBJECTS = {
    Kind.BALANCE_WARNING: _("%(project)s has used %(threshold)s of its allocation on %(system)s"),
    Kind.BALANCE_BLOCK: _("%(project)s is blocked on %(system)s: the allocation is used up"),
    Kind.ALLOCATION_EXPIRING: _("%(project)s: the allocation on %(system)s ends in %(days)s days"),
    Kind.APPLICATION_DECIDED: _("%(project)s: your application to %(call)s is decided"),
    Kind.CHANGE_DECIDED: _("%(project)s: your change request is %(outcome)s"),
    Kind.REVIEWER_ASSIGNED: _("You are asked to review %(project)s in %(call)s"),
    Kind.CALL_OPENED: _("%(call)s is open for applications until %(closes)s"),
    Kind.CALL_CLOSING: _("%(call)s closes on %(closes)s"),
    Kind.ORDER_CONFIRMED: _("The %(year)s order for %(sector)s is confirmed"),
    Kind.INVOICE_ISSUED: _("Invoice %(invoice)s for %(organisation)s: %(total)s"),
    Kind.SLURM_FAILED: _("Regnekraft: %(job)s failed"),
}


def default_delivery(kind: str) -> str:
    return DEFAULT_DELIVERY.get(kind, Delivery.IMMEDIATE)


def allowed_deliveries(kind: str) -> list[str]:
    if kind in MANDATORY:
        return [Delivery.IMMEDIATE, Delivery.DIGEST]
    return [Delivery.IMMEDIATE, Delivery.DIGEST, Delivery.OFF]
