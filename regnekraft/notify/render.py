"""A notification as a mail: subject, plain text and HTML, in the recipient's language, with
an absolute link to the portal page that acts on it."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from regnekraft import formats

from .kinds import SUBJECTS, Kind
from .models import Notification


def site_url() -> str:
    """Where the portal is reached from outside: ``REGNEKRAFT_SITE_URL`` (the settings may set
    it for a test), e.g. ``https://regnekraft.example.no``."""
    url = getattr(settings, "REGNEKRAFT_SITE_URL", None) or os.environ.get(
        "REGNEKRAFT_SITE_URL", "http://127.0.0.1:8000"
    )
    return str(url).rstrip("/")


def _target(kind: str, c: dict[str, Any]) -> tuple[str, list[Any]]:
    """The portal URL name (and its arguments) of the page that acts on a notification."""
    if kind == Kind.ALLOCATION_EXPIRING and c.get("allocation_id"):
        return "portal:change_request", [c["allocation_id"]]
    if kind == Kind.REVIEWER_ASSIGNED and c.get("review_id"):
        return "portal:review", [c["review_id"]]
    if kind in (Kind.CALL_OPENED, Kind.CALL_CLOSING):
        return "portal:pi_apply", []
    if kind in (Kind.ORDER_CONFIRMED, Kind.INVOICE_ISSUED) and c.get("order_id"):
        return "portal:order_review", [c["order_id"]]
    if kind == Kind.SLURM_FAILED:
        return "portal:sync", []
    if c.get("project"):
        return "portal:project", [c["project"]]
    return "portal:home", []


def link(kind: str, context: dict[str, Any]) -> str:
    """The absolute link, in the active language's URL prefix."""
    name, args = _target(kind, context)
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        path = reverse("portal:home")
    return site_url() + path


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONEY = {"total", "commitment"}
_PERCENT = {"threshold", "used", "commitment_share"}  # stored in whole percent


def display(value: Any, key: str = "") -> Any:
    """A context value as the active (the recipient's) language writes it, through
    :mod:`regnekraft.formats`: ISO days as dates ("30. juni 2027", "30 Jun 2027"), sums as
    money ("77 971,20 kr", "NOK 77,971.20"), shares with their % sign, and an ``amount`` with
    its ``unit`` as a quantity ("100 000 kjernetimer"); lists and dicts item by item."""
    if isinstance(value, dict):
        shown = {k: display(v, k) for k, v in value.items()}
        if "amount" in value and "unit" in value:
            shown["amount"] = _quantity(value["amount"], str(value["unit"]))
            shown["unit"] = formats.unit_label(str(value["unit"]), _number(value["amount"]))
        return shown
    if isinstance(value, list):
        return [display(v, key) for v in value]
    if isinstance(value, str) and _ISO_DAY.match(value):
        try:
            return formats.date(dt.date.fromisoformat(value))
        except ValueError:
            return value
    number = _number(value)
    if number is None:
        return value
    if key in _MONEY:
        return formats.money(number)
    if key in _PERCENT:
        return formats.percent(number, 0)
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _quantity(amount: Any, unit: str) -> Any:
    number = _number(amount)
    return amount if number is None else formats.quantity(number, unit)


def _subject_params(kind: str, c: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in c.items() if isinstance(v, str | int)}
    params.setdefault("project", "")
    params.setdefault("system", "")
    if kind == Kind.CHANGE_DECIDED:
        params["outcome"] = (
            translation.gettext("approved")
            if c.get("approved")
            else translation.gettext("rejected")
        )
    if kind == Kind.INVOICE_ISSUED:
        params["invoice"] = c.get("invoice_id", "")
    return params


def subject(kind: str, context: dict[str, Any]) -> str:
    template = SUBJECTS.get(kind)
    if template is None:
        return str(Kind(kind).label) if kind in Kind.values else kind
    try:
        # One line, keeping the no-break spaces the formats put inside figures ("80 %").
        text = str(template) % _subject_params(kind, display(context))
        return re.sub(r"[ \t\r\n]+", " ", text).strip()
    except (KeyError, TypeError, ValueError):
        return str(Kind(kind).label)


@dataclass
class Mail:
    subject: str
    text: str
    html: str


def _language(notification_or_person: Any) -> str:
    code = getattr(notification_or_person, "language", "") or settings.LANGUAGE_CODE
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def render_one(n: Notification) -> Mail:
    person = n.recipient
    with translation.override(_language(person)):
        ctx = {
            "person": person,
            "kind": n.kind,
            "c": display(n.context),
            "subject": subject(n.kind, n.context),
            "link": link(n.kind, n.context),
            "site_url": site_url(),
            "LANGUAGE_CODE": translation.get_language(),
            "preferences_link": site_url() + reverse("portal:notification_preferences"),
        }
        return Mail(
            ctx["subject"],
            render_to_string(f"notify/{n.kind}.txt", ctx),
            render_to_string(f"notify/{n.kind}.html", ctx),
        )


def render_digest(person: Any, notifications: list[Notification]) -> Mail:
    """One mail with all of a person's waiting digest notifications, grouped by kind."""
    with translation.override(_language(person)):
        groups: dict[str, dict[str, Any]] = {}
        for n in sorted(notifications, key=lambda n: (n.kind, n.created_at, n.pk)):
            group = groups.setdefault(
                n.kind,
                {
                    "label": str(Kind(n.kind).label) if n.kind in Kind.values else n.kind,
                    "items": [],
                },
            )
            group["items"].append(
                {"subject": subject(n.kind, n.context), "link": link(n.kind, n.context)}
            )
        count = len(notifications)
        title = translation.ngettext(
            "Regnekraft: %(count)d notification today",
            "Regnekraft: %(count)d notifications today",
            count,
        ) % {"count": count}
        ctx = {
            "person": person,
            "groups": list(groups.values()),
            "subject": title,
            "site_url": site_url(),
            "LANGUAGE_CODE": translation.get_language(),
            "preferences_link": site_url() + reverse("portal:notification_preferences"),
        }
        return Mail(
            title,
            render_to_string("notify/digest.txt", ctx),
            render_to_string("notify/digest.html", ctx),
        )
