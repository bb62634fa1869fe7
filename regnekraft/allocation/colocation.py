"""Co-location (model 3): operators register the equipment an organisation owns and places at
the shared operator, and grant the owner's projects use of it (category B, subscription; the
ownership rule refuses another owner's equipment)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.actors import require_role, user_of
from regnekraft.parties.models import Project, RoleKind

from . import services
from .models import Allocation, ColocatedEquipment

EQUIPMENT_FIELDS = (
    "system",
    "rack_units",
    "hosting_fee_nok_per_month",
    "contract_start",
    "contract_end",
)


def _write(equipment: ColocatedEquipment, fields: dict[str, Any]) -> ColocatedEquipment:
    unknown = set(fields) - set(EQUIPMENT_FIELDS)
    if unknown:
        raise ValidationError(
            _("Unknown equipment fields: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    for name, value in fields.items():
        setattr(equipment, name, value)
    start, end = equipment.contract_start, equipment.contract_end
    if start and end and end <= start:
        raise ValidationError({"contract_end": _("must be after contract_start")})
    equipment.full_clean()
    equipment.save()
    return equipment


@transaction.atomic
def register_equipment(actor: Any, **fields: Any) -> ColocatedEquipment:
    """Register a system (of kind 'colocated', with an owner) as co-located equipment."""
    require_role(actor, RoleKind.OPERATOR, action="register co-located equipment")
    return _write(ColocatedEquipment(), fields)


@transaction.atomic
def update_equipment(
    actor: Any, equipment: ColocatedEquipment, **fields: Any
) -> ColocatedEquipment:
    require_role(actor, RoleKind.OPERATOR, action="change co-located equipment")
    equipment = ColocatedEquipment.objects.select_for_update().get(pk=equipment.pk)
    return _write(equipment, fields)


@transaction.atomic
def remove_equipment(actor: Any, equipment: ColocatedEquipment) -> None:
    require_role(actor, RoleKind.OPERATOR, action="remove co-located equipment")
    ColocatedEquipment.objects.select_for_update().get(pk=equipment.pk).delete()


@transaction.atomic
def grant_colocated(
    actor: Any,
    project: Project,
    resource_class: ResourceClass,
    amount: Decimal,
    start: dt.date,
    end: dt.date,
) -> Allocation:
    """Grant an owner's project use of its own co-located equipment (operators only)."""
    require_role(actor, RoleKind.OPERATOR, action="grant use of co-located equipment")
    if not ColocatedEquipment.objects.filter(system=resource_class.system).exists():
        raise ValidationError(
            {
                "resource_class": _(
                    "%(system)s is not registered co-located equipment; use of shared capacity "
                    "is granted by a call, an order or a purchase."
                )
                % {"system": resource_class.system}
            }
        )
    return services.grant_colocated(
        project, resource_class, amount, start, end, decided_by=user_of(actor)
    )
