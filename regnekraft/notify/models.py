"""What is to be told to whom (one row per person and event), and how each person wants it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from regnekraft.audit.log import audited
from regnekraft.parties.models import Person

from .kinds import MANDATORY, Delivery, Kind


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    OFF = "off", _("Off (not sent)")


class Notification(models.Model):
    """One thing to tell one person. ``(recipient, kind, key)`` is unique, so finding the same
    event again never makes a second notification."""

    recipient = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=100, help_text="what the event is, stable: e.g. an id")
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivery = models.CharField(
        max_length=10,
        choices=[
            (Delivery.IMMEDIATE, Delivery.IMMEDIATE.label),
            (Delivery.DIGEST, Delivery.DIGEST.label),
        ],
        default=Delivery.IMMEDIATE,
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "key"], name="one_notification_per_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "delivery", "next_attempt_at"], name="notification_due_idx"
            ),
            models.Index(fields=["kind", "key"], name="notification_kind_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} to {self.recipient_id} ({self.status})"


@audited
class NotificationPreference(models.Model):
    """How one person wants one kind; without a row, the kind's default (``kinds``)."""

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    delivery = models.CharField(max_length=10, choices=Delivery.choices)

    class Meta:
        ordering = ["person", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["person", "kind"], name="one_preference_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.person}: {self.kind} {self.delivery}"

    def clean(self) -> None:
        if self.kind in MANDATORY and self.delivery == Delivery.OFF:
            raise ValidationError(
                {"delivery": _("%(kind)s cannot be turned off") % {"kind": Kind(self.kind).label}}
            )
