"""The one way a service writes a plain row: lock it, set the fields, validate, save."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
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


def refusal(label: str, exc: ValidationError) -> ValidationError:
    """``exc`` with each message prefixed by ``label``, its fields kept: how a batch write
    names the item that refuses the whole batch."""
    if hasattr(exc, "error_dict"):
        return ValidationError(
            {
                field: [f"{label}: {m}" for m in ValidationError(errors).messages]
                for field, errors in exc.error_dict.items()
            }
        )
    return ValidationError([f"{label}: {m}" for m in exc.messages])


def clean_many(rows: Sequence[M], labels: Sequence[str]) -> None:
    """``full_clean`` for a batch of new rows of one model, with its queries batched.

    Each row runs the model's field rules and ``clean`` as ``full_clean`` does; what
    ``full_clean`` asks the database once per row (a foreign key's target exists, a unique
    field or unique constraint is free) is asked once per field for the whole batch, and also
    checked among the rows themselves. Refuses with the first bad row's errors, prefixed by
    its label (:func:`refusal`). Call inside the transaction that writes the rows.
    """
    if not rows:
        return
    model = type(rows[0])
    opts = model._meta
    keys = [f for f in opts.concrete_fields if f.is_relation]
    for row, label in zip(rows, labels, strict=True):
        errors: dict[str, list] = {}
        try:
            row.full_clean(
                exclude=[f.name for f in keys], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for f in keys:
            try:  # a key's own rules (null, blank, validators); its target is checked below
                value = getattr(row, f.attname)
                models.Field.validate(f, value, row)
                f.run_validators(value)
            except ValidationError as exc:
                errors.setdefault(f.name, []).extend(exc.error_list)
        if errors:
            raise refusal(label, ValidationError(errors))
    for f in keys:
        _require_targets(f, rows, labels)
    for f in opts.fields:
        if f.unique and not f.primary_key:
            _require_unique(model, rows, labels, (f.name,))
    for c in opts.total_unique_constraints:
        _require_unique(model, rows, labels, c.fields)
    others = [c for c in opts.constraints if c not in opts.total_unique_constraints]
    for row, label in zip(rows, labels, strict=True):
        for c in others:  # (none of the bulk-written models has one; correct, one query a row)
            try:
                c.validate(model, row)
            except ValidationError as exc:
                raise refusal(label, exc) from exc


def _require_targets(f: Any, rows: Sequence[models.Model], labels: Sequence[str]) -> None:
    target = f.remote_field.model
    name = f.remote_field.field_name
    values = {getattr(r, f.attname) for r in rows} - {None}
    found = {
        v
        for chunk in _chunks(values)
        for v in target._base_manager.filter(**{f"{name}__in": chunk}).values_list(name, flat=True)
    }
    for row, label in zip(rows, labels, strict=True):
        value = getattr(row, f.attname)
        if value is not None and value not in found:
            message = f.error_messages["invalid"] % {
                "model": target._meta.verbose_name,
                "pk": value,
                "field": name,
                "value": value,
            }
            raise ValidationError({f.name: [f"{label}: {message}"]})


def _require_unique(
    model: type[models.Model], rows: Sequence[Any], labels: Sequence[str], names: Sequence[str]
) -> None:
    attnames = [model._meta.get_field(n).attname for n in names]

    def key(row: Any) -> tuple | None:
        values = tuple(getattr(row, a) for a in attnames)
        return None if any(v is None for v in values) else values

    first = attnames[0]
    wanted = {k[0] for r in rows if (k := key(r)) is not None}
    manager = model._default_manager
    taken = {
        tuple(t)
        for chunk in _chunks(wanted)
        for t in manager.filter(**{f"{first}__in": chunk}).values_list(*attnames)
    }
    seen: set[tuple] = set()
    for row, label in zip(rows, labels, strict=True):
        k = key(row)
        if k is None:
            continue
        if k in taken or k in seen:
            exc = row.unique_error_message(model, tuple(names))
            field = names[0] if len(names) == 1 else NON_FIELD_ERRORS
            raise ValidationError({field: [f"{label}: {m}" for m in exc.messages]})
        seen.add(k)


def _chunks(values: set, size: int = 5000) -> list[list]:
    """``values`` in lists short enough for one ``IN`` (SQLite limits a query's parameters)."""
    ordered = list(values)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]
