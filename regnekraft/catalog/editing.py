"""The catalogue's writes: operators keep systems and resource classes."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind
from regnekraft.rows import write_row

from .models import ResourceClass, System
from .signals import pricing_fields_changing

# The fields a unit price is looked up or multiplied by (catalog.prices.PriceBook).
PRICING_FIELDS = {
    System: ("availability_tier",),
    ResourceClass: ("kind", "gpu_type", "system"),
}


def _check_pricing(instance: Any, fields: dict[str, Any]) -> None:
    """Ask whether changing the fields that price use may go ahead (accounting answers)."""
    if instance is None or instance.pk is None:
        return
    # the stored row, not the object given: an admin form has already set its new values on it
    stored = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
    changing = [
        name
        for name in PRICING_FIELDS[type(instance)]
        if name in fields and fields[name] != getattr(stored, name)
    ]
    if changing:
        pricing_fields_changing.send(sender=type(instance), instance=instance, fields=changing)


def _require_operator(actor: Any) -> None:
    require_role(actor, RoleKind.OPERATOR, action="change the catalogue")


@transaction.atomic
def save_system(actor: Any, system: System | None = None, **fields: Any) -> System:
    _require_operator(actor)
    _check_pricing(system, fields)
    return write_row(System, system, fields)


@transaction.atomic
def delete_system(actor: Any, system: System) -> None:
    _require_operator(actor)
    system.delete()


@transaction.atomic
def save_resource_class(
    actor: Any, resource_class: ResourceClass | None = None, **fields: Any
) -> ResourceClass:
    _require_operator(actor)
    _check_pricing(resource_class, fields)
    return write_row(ResourceClass, resource_class, fields)


@transaction.atomic
def delete_resource_class(actor: Any, resource_class: ResourceClass) -> None:
    _require_operator(actor)
    resource_class.delete()
