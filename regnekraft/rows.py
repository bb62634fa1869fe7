"""The one way a service writes a plain row: lock it, set the fields, validate, save."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def write_row(model: type[M], instance: M | None, fields: Mapping[str, Any]) -> M:
    """Create a ``model`` row from ``fields``, or change ``instance`` (locked first).

    ``full_clean`` runs the model's own rules, so every interface gets the same refusals.
    Call inside a transaction.
    """
    row = (
        model()
        if instance is None
        else model._default_manager.select_for_update().get(pk=instance.pk)
    )
    for name, value in fields.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    return row
