"""The one navigation: each entry names the roles that may use it, so a person sees only
what they may do. The same table guards the pages (see ``views.base.requires``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from regnekraft import access
from regnekraft.parties.models import RoleKind as R


@dataclass(frozen=True)
class Entry:
    url_name: str
    label: str | Promise
    roles: frozenset[str]


PI_ROLES = frozenset({R.PI, R.MEMBER})

ENTRIES: tuple[Entry, ...] = (
    Entry("portal:pi", _("My projects"), PI_ROLES),
    Entry("portal:pi_apply", _("Apply"), frozenset({R.PI})),
    Entry("portal:reviews", _("Reviews"), frozenset({R.REVIEWER})),
    Entry("portal:sector", _("Sector orders"), frozenset({R.COORDINATOR})),
    Entry("portal:industry", _("Buy capacity"), frozenset({R.INDUSTRY})),
    Entry("portal:catalogue", _("Catalogue"), frozenset({R.OPERATOR})),
    Entry("portal:calls", _("Calls and rounds"), frozenset({R.OPERATOR})),
    Entry("portal:changes", _("Change requests"), frozenset({R.OPERATOR})),
    Entry("portal:sync", _("Cluster sync"), frozenset({R.OPERATOR})),
    Entry("portal:audit", _("Audit log"), frozenset({R.OPERATOR})),
    Entry("portal:operations", _("Operations"), frozenset({R.OPERATOR})),
    Entry("portal:notification_failures", _("Failed mails"), frozenset({R.OPERATOR})),
    Entry("portal:finance", _("Prices and invoices"), frozenset({R.FINANCE, R.OPERATOR})),
    Entry("portal:dashboard", _("Dashboard"), frozenset({R.DECISION_MAKER, R.OPERATOR})),
)


def entries_for(user) -> list[dict[str, str]]:
    mine = access.roles(user)
    return [
        {"href": reverse(e.url_name), "label": str(e.label), "url_name": e.url_name}
        for e in ENTRIES
        if e.roles & mine
    ]


def roles_for(url_name: str) -> frozenset[str]:
    return next(e.roles for e in ENTRIES if e.url_name == url_name)
