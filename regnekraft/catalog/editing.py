"""The catalogue's writes: operators keep systems and resource classes."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from regnekraft.parties.actors import require_role
from regnekraft.parties.models import RoleKind
from regnekraft.rows import write_row

from .models import ResourceClass, System


def _require_operator(actor: Any) -> None:
    require_role(actor, RoleKind.OPERATOR, action="change the catalogue")


@transaction.atomic
def save_system(actor: Any, system: System | None = None, **fields: Any) -> System:
    _require_operator(actor)
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
    return write_row(ResourceClass, resource_class, fields)


@transaction.atomic
def delete_resource_class(actor: Any, resource_class: ResourceClass) -> None:
    _require_operator(actor)
    resource_class.delete()
