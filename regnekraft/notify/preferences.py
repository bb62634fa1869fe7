"""How each person wants each kind: their own choice, or an operator's for them."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import is_operator, person_of
from regnekraft.parties.models import Person
from regnekraft.rows import write_row

from .kinds import MANDATORY, Delivery, Kind, default_delivery
from .models import NotificationPreference

logger = logging.getLogger(__name__)


def _require_self_or_operator(actor: Any, person: Person, *, action: str) -> None:
    if is_operator(actor):
        return
    me = person_of(actor)
    if me is None or me.pk != person.pk:
        raise PermissionDenied(f"only the person themselves or an operator may {action}")


def preferences_of(person: Person) -> dict[str, str]:
    """Every kind with the person's choice (or its default)."""
    chosen = dict(
        NotificationPreference.objects.filter(person=person).values_list("kind", "delivery")
    )
    return {kind: chosen.get(kind, default_delivery(kind)) for kind in Kind.values}


@transaction.atomic
def set_preference(actor: Any, person: Person, kind: str, delivery: str) -> NotificationPreference:
    """Set how ``person`` gets ``kind``: at once, in the daily digest, or not at all (blocks
    and invoices cannot be turned off). Setting the same twice changes nothing."""
    _require_self_or_operator(actor, person, action="change notification settings")
    if kind not in Kind.values:
        raise ValidationError(
            {
                "kind": _("unknown notification kind %(kind)r; one of: %(kinds)s")
                % {"kind": kind, "kinds": ", ".join(Kind.values)}
            }
        )
    if delivery not in Delivery.values:
        raise ValidationError(
            {
                "delivery": _("unknown delivery %(delivery)r; one of: %(choices)s")
                % {"delivery": delivery, "choices": ", ".join(Delivery.values)}
            }
        )
    if kind in MANDATORY and delivery == Delivery.OFF:
        raise ValidationError(
            {
                "delivery": _("%(kind)s cannot be turned off; choose at once or daily digest")
                % {"kind": Kind(kind).label}
            }
        )
    existing = NotificationPreference.objects.filter(person=person, kind=kind).first()
    if existing is not None and existing.delivery == delivery:
        return existing
    pref = write_row(
        NotificationPreference, existing, {"person": person, "kind": kind, "delivery": delivery}
    )
    logger.info("notification preference of %s: %s -> %s", person.pk, kind, delivery)
    return pref


@transaction.atomic
def set_language(actor: Any, person: Person, language: str) -> Person:
    """The language a person's mails are written in (``settings.LANGUAGES``)."""
    _require_self_or_operator(actor, person, action="change the language of their mails")
    codes = [code for code, _name in settings.LANGUAGES]
    if language not in codes:
        raise ValidationError(
            {
                "language": _("unknown language %(language)r; one of: %(codes)s")
                % {"language": language, "codes": ", ".join(codes)}
            }
        )
    row = Person.objects.select_for_update().get(pk=person.pk)
    if row.language != language:
        from regnekraft.audit.log import note

        before = row.language
        row.language = language
        row.full_clean()
        row.save(update_fields=["language"])
        note("update", row, {"language": {"before": before, "after": language}})
    person.language = language
    return row


@transaction.atomic
def save_settings(actor: Any, person: Person, language: str, deliveries: dict[str, str]) -> None:
    """The whole e-mail settings form at once: the language and each kind's delivery; one
    refusal saves nothing."""
    set_language(actor, person, language)
    for kind, delivery in deliveries.items():
        set_preference(actor, person, kind, delivery)
