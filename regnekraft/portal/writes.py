"""Portal writes that are not grants: applications, members, reviews, draft orders, calls,
change requests, price lists. Grants (Allocation rows) are made only by ``allocation.services``.

Each function validates the rows (``full_clean``) and writes in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.accounting.rating import check_price_list_start
from regnekraft.allocation import services
from regnekraft.allocation.models import (
    Allocation,
    Application,
    ApplicationRequest,
    Call,
    CallStatus,
    ChangeRequest,
    OrderStatus,
    Review,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.catalog.models import Price, PriceList, ResourceClass
from regnekraft.parties.models import Organisation, Person, Project


def _saved(obj):
    obj.full_clean()
    obj.save()
    return obj


@transaction.atomic
def submit_application(
    call: Call,
    project: Project,
    *,
    justification: str,
    support_hours: Decimal,
    requests: Mapping[ResourceClass, Decimal],
    members: Iterable[Person] = (),
) -> Application:
    if call.status != CallStatus.OPEN:
        raise ValidationError(_("The call %(call)s is not open for applications.") % {"call": call})
    if Application.objects.filter(call=call, project=project).exists():
        raise ValidationError(
            _("Project %(code)s has already applied in this call.") % {"code": project.code}
        )
    wanted = {rc: Decimal(a) for rc, a in requests.items() if a}
    if not wanted and not support_hours:
        raise ValidationError(_("Ask for at least one resource or for user support."))
    app = _saved(
        Application(
            call=call, project=project, justification=justification, support_hours=support_hours
        )
    )
    for rc, amount in wanted.items():
        _saved(ApplicationRequest(application=app, resource_class=rc, amount=amount))
    project.members.add(*members)
    return app


@transaction.atomic
def set_member(project: Project, person: Person, present: bool) -> None:
    if person == project.pi:
        raise ValidationError(_("The PI is always part of the project."))
    if present:
        project.members.add(person)
    else:
        project.members.remove(person)


@transaction.atomic
def request_change(
    allocation: Allocation,
    *,
    kind: str,
    amount: Decimal | None,
    new_end: dt.date | None,
    reason: str,
    by: Person | None,
) -> ChangeRequest:
    return _saved(
        ChangeRequest(
            allocation=allocation,
            kind=kind,
            amount=amount,
            new_end=new_end,
            reason=reason,
            requested_by=by,
        )
    )


@transaction.atomic
def save_review(
    review: Review, *, conflict: bool, scores: Mapping[str, int], comment: str
) -> Review:
    review = Review.objects.select_for_update().get(pk=review.pk)
    if review.application.status != "submitted":
        raise ValidationError(
            _("This application has been decided; the review can no longer change.")
        )
    review.conflict_of_interest = conflict
    review.scores = {} if conflict else dict(scores)
    review.comment = comment
    review.submitted = True
    return _saved(review)


@transaction.atomic
def assign_reviewer(application: Application, reviewer: Person) -> Review:
    return services.assign_reviewer(application, reviewer)


@transaction.atomic
def draft_order(
    organisation: Organisation,
    *,
    sector: str,
    year: int,
    commitment_share: Decimal,
    lines: Mapping[ResourceClass, Decimal],
    by: Person | None,
) -> SectorOrder:
    """Create or replace the draft order of ``organisation`` for ``year`` (confirming is a service)."""
    wanted = {rc: Decimal(a) for rc, a in lines.items() if a}
    if not wanted:
        raise ValidationError(_("An order needs at least one line."))
    order = (
        SectorOrder.objects.select_for_update().filter(organisation=organisation, year=year).first()
    )
    if order is not None and order.status != OrderStatus.DRAFT:
        raise ValidationError(
            _("%(org)s already has a %(status)s order for %(year)s.")
            % {"org": organisation, "status": order.get_status_display(), "year": year}
        )
    if order is None:
        order = SectorOrder(organisation=organisation, year=year)
    order.sector, order.commitment_share, order.ordered_by = sector, commitment_share, by
    _saved(order)
    order.lines.all().delete()
    for rc, amount in wanted.items():
        _saved(SectorOrderLine(order=order, resource_class=rc, amount=amount))
    return order


@transaction.atomic
def save_call(call: Call) -> Call:
    return _saved(call)


@transaction.atomic
def set_call_status(call: Call, status: str) -> Call:
    call.check_status_change(status)
    call.status = status
    return _saved(call)


@transaction.atomic
def publish_price_list(
    *,
    category: str,
    name: str,
    valid_from: dt.date,
    multipliers: Mapping[str, Decimal],
    free_allowance_nok: Decimal,
    source: str,
    prices: Mapping[str, Decimal],
) -> PriceList:
    """A new price list with one price per resource kind; it may not reprice rated or invoiced use."""
    check_price_list_start(valid_from)
    if PriceList.objects.filter(category=category, valid_from=valid_from).exists():
        raise ValidationError(
            {
                "valid_from": _(
                    "Category %(category)s already has a list taking effect on %(day)s."
                )
                % {"category": category, "day": valid_from}
            }
        )
    price_list = _saved(
        PriceList(
            category=category,
            name=name,
            valid_from=valid_from,
            tier_multipliers={tier: str(f) for tier, f in multipliers.items()},
            free_allowance_nok=free_allowance_nok,
            source=source,
        )
    )
    for kind, unit_price in prices.items():
        _saved(Price(price_list=price_list, kind=kind, unit_price=unit_price))
    return price_list
