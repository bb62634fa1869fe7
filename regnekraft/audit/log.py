"""Record every change to audited models, whichever interface made it.

Audited models are registered with :func:`audited`; signals snapshot the row before a
save and write an :class:`AuditEntry` after it, in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.forms.models import model_to_dict

from .context import current_actor
from .models import AuditEntry


def snapshot(instance: models.Model) -> dict[str, Any]:
    data = model_to_dict(instance)
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder, default=str))


def _actor_fields() -> dict[str, Any]:
    actor = current_actor()
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    if isinstance(actor, str):
        return {"actor": None, "actor_label": actor}
    if getattr(actor, "pk", None) is None:  # the platform itself (parties.actors.SYSTEM)
        return {"actor": None, "actor_label": actor.get_username()}
    return {"actor": actor, "actor_label": actor.get_username()}


def _entry(action: str, instance: models.Model, before: Any, after: Any, actor: dict) -> AuditEntry:
    return AuditEntry(
        action=action,
        object_type=instance._meta.label,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        before=before,
        after=after,
        **actor,
    )


def _write(action: str, instance: models.Model, before: Any, after: Any) -> None:
    _entry(action, instance, before, after, _actor_fields()).save()


def _pre_save(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    before = None
    if instance.pk is not None:
        old = sender._default_manager.filter(pk=instance.pk).first()
        before = snapshot(old) if old is not None else None
    instance._audit_before = before  # type: ignore[attr-defined]


def _post_save(sender: type[models.Model], instance: models.Model, created: bool, **_: Any) -> None:
    before = getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if not created and before == after:
        return
    _write("create" if created else "update", instance, before, after)


def _post_delete(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    _write("delete", instance, snapshot(instance), None)


def audited(model: type[models.Model]) -> type[models.Model]:
    """Class decorator: log every create, update and delete of ``model``."""
    pre_save.connect(_pre_save, sender=model, weak=False)
    post_save.connect(_post_save, sender=model, weak=False)
    post_delete.connect(_post_delete, sender=model, weak=False)
    return model


def note(action: str, instance: models.Model, detail: dict[str, Any]) -> None:
    """Record an act that is more than a field change (a forced decision, a membership change),
    with what an auditor needs to know in ``detail``; in the caller's transaction."""
    _write(action, instance, None, json.loads(json.dumps(detail, cls=DjangoJSONEncoder)))


def created_many(instances: Iterable[models.Model]) -> None:
    """Record the creation of rows a bulk service wrote with ``bulk_create`` (which sends no
    signals): the entries :func:`audited` would have written, in one insert. Prefetch the
    rows' many-to-many fields first, or each snapshot asks for them."""
    actor = _actor_fields()
    entries = [_entry("create", i, None, snapshot(i), actor) for i in instances]
    AuditEntry.objects.bulk_create(entries, batch_size=1000)


def note_many(action: str, notes: Iterable[tuple[models.Model, dict[str, Any]]]) -> None:
    """:func:`note` for many (instance, detail) pairs, in one insert."""
    actor = _actor_fields()
    entries = [
        _entry(action, i, None, json.loads(json.dumps(d, cls=DjangoJSONEncoder)), actor)
        for i, d in notes
    ]
    AuditEntry.objects.bulk_create(entries, batch_size=1000)
