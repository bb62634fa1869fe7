"""The policy rules' knobs (PolicySettings): operators change them, every change is audited."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind

from .models import PolicySettings

KNOBS = (
    "overbooking_factor",
    "economic_cap_share",
    "research_protected_share",
    "security_partner_countries",
    "min_grant_share",
    "warning_thresholds",
)

logger = logging.getLogger(__name__)


def _normalised(name: str, value: Any) -> Any:
    if name == "security_partner_countries":
        return sorted({str(c).strip().upper() for c in value})
    if name == "warning_thresholds":
        return sorted({float(v) for v in value})
    return value


@transaction.atomic
def set_policy(actor: Any, **changes: Any) -> PolicySettings:
    """Change some of :data:`KNOBS`; the model's validators keep each within its bounds (the
    economic cap never above the legal 20 %)."""
    require_role(actor, RoleKind.OPERATOR, action="change the policy rules")
    unknown = sorted(set(changes) - set(KNOBS))
    if unknown:
        raise ValidationError(
            _("Unknown policy setting %(names)s; the settings are %(knobs)s.")
            % {"names": ", ".join(unknown), "knobs": ", ".join(KNOBS)}
        )
    PolicySettings.current()
    settings = PolicySettings.objects.select_for_update().get(pk=1)
    for name, value in changes.items():
        setattr(settings, name, _normalised(name, value))
    settings.save()  # validates (full_clean) first
    logger.info("policy settings %s changed by %s", ", ".join(sorted(changes)), actor)
    return settings
