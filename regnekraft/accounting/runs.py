"""Accounting's writes that any interface may start: importing usage (operators) and issuing
invoices (finance or operators). The work itself is the importer's and the invoice run's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from regnekraft import clock
from regnekraft.parties.actors import require_role
from regnekraft.parties.models import Organisation, RoleKind

from . import aggregates, importer, invoicing
from .models import Invoice

INVOICERS = (RoleKind.FINANCE, RoleKind.OPERATOR)


def import_usage(actor: Any, path: str, **options: Any) -> importer.ImportResult:
    """Import a usage file (CSV, JSON or SWF): all or nothing, idempotent."""
    require_role(actor, RoleKind.OPERATOR, action="import usage")
    return importer.import_usage(path, **options)


def import_records(actor: Any, records: list[dict], **options: Any) -> importer.ImportResult:
    """Import usage records given as dicts (the API's body): all or nothing, idempotent."""
    require_role(actor, RoleKind.OPERATOR, action="import usage")
    return importer.import_records(records, **options)


def rebuild_usage_days(actor: Any) -> dict[str, int]:
    """Recompute the open day sums from the usage records (operators): the repair for day rows
    lost or doubted; billed rows stay. Idempotent."""
    require_role(actor, RoleKind.OPERATOR, action="rebuild the usage day sums")
    return aggregates.rebuild()


def issue_invoices(
    actor: Any, start: dt.date, end: dt.date, organisation: Organisation | None = None
) -> list[Invoice]:
    """Issue the period's invoices: one organisation's, or every organisation's with something
    to charge. Idempotent: an invoice already issued for the period is returned as it is."""
    require_role(actor, *INVOICERS, action="issue invoices")
    today = clock.today()
    if end > today:  # ``end`` is the day after the period
        raise ValidationError(
            {
                "period_end": _(
                    "The period runs until %(end)s, after today (%(today)s): invoices are issued "
                    "for periods that have ended, so a later monthly run is not blocked."
                )
                % {"end": end - dt.timedelta(days=1), "today": today}
            }
        )
    if organisation is None:
        return invoicing.issue_invoices(start, end)
    issued = invoicing.issue_invoice(organisation, start, end)
    return [] if issued is None else [issued]
