"""External capacity (model 4): what a sector buys elsewhere (cloud, EuroHPC), recorded for
the reports by operators or by the coordinator of the organisation's sector."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import is_operator, require_sector
from regnekraft.parties.models import Organisation

from .models import ExternalCapacity

EXTERNAL_FIELDS = (
    "organisation",
    "provider",
    "country",
    "kind",
    "amount",
    "cost_nok",
    "start",
    "end",
    "reference",
)


def require_recorder(actor: Any, organisation: Organisation) -> None:
    """Operators record for every organisation; a coordinator only for their sector's."""
    if is_operator(actor):
        return
    if not organisation.sector:
        raise PermissionDenied(
            "only an operator records external capacity for an organisation without a sector"
        )
    require_sector(actor, organisation.sector, action="record external capacity")


def _write(actor: Any, external: ExternalCapacity, fields: dict[str, Any]) -> ExternalCapacity:
    unknown = set(fields) - set(EXTERNAL_FIELDS)
    if unknown:
        raise ValidationError(
            _("Unknown external capacity fields: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    if "organisation" in fields:
        require_recorder(actor, fields["organisation"])
    for name, value in fields.items():
        setattr(external, name, value)
    if external.start and external.end and external.end <= external.start:
        raise ValidationError({"end": _("must be after start")})
    external.full_clean()
    external.save()
    return external


@transaction.atomic
def record_external(actor: Any, *, organisation: Organisation, **fields: Any) -> ExternalCapacity:
    return _write(actor, ExternalCapacity(), {"organisation": organisation, **fields})


@transaction.atomic
def update_external(actor: Any, external: ExternalCapacity, **fields: Any) -> ExternalCapacity:
    """Change a record; moving it to another organisation needs the right to record for both."""
    external = ExternalCapacity.objects.select_for_update().get(pk=external.pk)
    require_recorder(actor, external.organisation)
    return _write(actor, external, fields)


@transaction.atomic
def remove_external(actor: Any, external: ExternalCapacity) -> None:
    external = ExternalCapacity.objects.select_for_update().get(pk=external.pk)
    require_recorder(actor, external.organisation)
    external.delete()
