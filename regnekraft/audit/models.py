from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One change to an audited object: who, when, what it was before and after."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text="user name or 'cli'/'system'"
    )
    action = models.CharField(max_length=20)  # create, update, delete
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        # The audit log pages by (at, id); filtered by object type it walks this index.
        indexes = [models.Index(fields=["object_type", "at"], name="audit_type_at_idx")]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type} "
            f"{self.object_repr}"
        )
