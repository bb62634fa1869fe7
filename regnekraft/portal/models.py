"""What the portal itself stores: which OpenID Connect identity belongs to which account."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from regnekraft.audit.log import audited


@audited
class OidcIdentity(models.Model):
    """A provider's subject (``iss`` + ``sub``, stable for the person at that provider) linked
    to an account at its first sign-in by a verified e-mail address; later sign-ins match it
    by subject, whatever e-mail address the provider then gives (regnekraft/portal/oidc.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    linked = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_subject"),
            models.UniqueConstraint(fields=["issuer", "user"], name="oidc_identity_one_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
