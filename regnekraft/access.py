"""Who may see what. The API, the portal and the CLI all ask here (one place for access rules).

- operators, finance and decision makers see everything;
- a PI or member sees their own projects and what hangs on them;
- a reviewer sees only the applications assigned to them;
- a sector coordinator sees the projects, orders and invoices of their sector;
- an industry customer sees their own organisation's projects, purchases and invoices.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Q, QuerySet

from regnekraft.parties.actors import (
    coordinated_sectors,
    has_role,
    person_of,
    roles,
    sees_all,
)

# Who is acting is parties.actors'; the interfaces read these names here with what they see.
__all__ = [
    "coordinated_sectors",
    "has_role",
    "may_see_score",
    "person_of",
    "roles",
    "sees_all",
    "visible_allocations",
    "visible_applications",
    "visible_invoice_lines",
    "visible_invoice_total",
    "visible_invoices",
    "sees_whole_invoice",
    "visible_orders",
    "visible_organisations",
    "visible_people",
    "visible_projects",
    "visible_reviews",
]
from regnekraft.parties.models import Organisation, Person, Project, RoleKind


def visible_projects(user) -> QuerySet[Project]:
    if sees_all(user):
        return Project.objects.all()
    person = person_of(user)
    if person is None:
        return Project.objects.none()
    rule = Q(pi=person) | Q(members=person)
    sectors = coordinated_sectors(user)
    if sectors:
        rule |= Q(organisation__sector__in=sectors)
    if has_role(user, RoleKind.INDUSTRY):  # the roles read once per request (parties.actors)
        rule |= Q(organisation=person.organisation)
    return Project.objects.filter(rule).distinct()


def visible_organisations(user) -> QuerySet[Organisation]:
    if sees_all(user):
        return Organisation.objects.all()
    person = person_of(user)
    if person is None:
        return Organisation.objects.none()
    rule = Q(pk=person.organisation_id) | Q(projects__in=visible_projects(user))
    sectors = coordinated_sectors(user)
    if sectors:
        rule |= Q(sector__in=sectors)
    return Organisation.objects.filter(rule).distinct()


def visible_people(user) -> QuerySet[Person]:
    """People on the projects the user may see, and the user themself."""
    if sees_all(user):
        return Person.objects.all()
    projects = visible_projects(user)
    return Person.objects.filter(
        Q(user=user) | Q(led_projects__in=projects) | Q(projects__in=projects)
    ).distinct()


def visible_reviews(user):
    """Operators and decision makers see every review; anyone else only the reviews they wrote
    (an applicant sees the application's score, never who gave which)."""
    from regnekraft.allocation.models import Review

    reviews = Review.objects.filter(application__in=visible_applications(user))
    if has_role(user, RoleKind.OPERATOR, RoleKind.DECISION_MAKER):
        return reviews
    return reviews.filter(reviewer=person_of(user))


def visible_applications(user):
    from regnekraft.allocation.models import Application

    if has_role(user, RoleKind.OPERATOR, RoleKind.DECISION_MAKER):
        return Application.objects.all()
    person = person_of(user)
    if person is None:
        return Application.objects.none()
    return Application.objects.filter(
        # a reviewer who declared a conflict no longer sees the application
        Q(reviews__reviewer=person, reviews__conflict_of_interest=False)
        | Q(project__in=visible_projects(user))
    ).distinct()


def may_see_score(user, application) -> bool:
    """The running score is for operators and decision makers; applicants and reviewers see it
    once the round is decided (a reviewer sees their own review's scores, never the others')."""
    from regnekraft.allocation.models import CallStatus

    if has_role(user, RoleKind.OPERATOR, RoleKind.DECISION_MAKER):
        return True
    return application.call.status == CallStatus.DECIDED


def visible_allocations(user):
    from regnekraft.allocation.models import Allocation

    if sees_all(user):
        return Allocation.objects.all()
    return Allocation.objects.filter(project__in=visible_projects(user))


def visible_orders(user):
    from regnekraft.allocation.models import SectorOrder

    if sees_all(user):
        return SectorOrder.objects.all()
    return SectorOrder.objects.filter(sector__in=coordinated_sectors(user))


def sees_whole_invoice(user, invoice) -> bool:
    """Finance and operators, the sector's coordinator and the organisation's industry customer
    are the invoice's contacts; anyone else who sees it (a PI) sees only their projects' lines."""
    if has_role(user, RoleKind.OPERATOR, RoleKind.FINANCE):
        return True
    if invoice.organisation.sector and invoice.organisation.sector in coordinated_sectors(user):
        return True
    person = person_of(user)
    return (
        person is not None
        and has_role(user, RoleKind.INDUSTRY)
        and person.organisation_id == invoice.organisation_id
    )


def visible_invoice_lines(user, invoice):
    """The lines of ``invoice`` the user may see (all of them for its contacts)."""
    lines = invoice.lines.all()
    if sees_whole_invoice(user, invoice):
        return lines
    return lines.filter(project__in=visible_projects(user))


def visible_invoice_total(user, invoice):
    """The invoice's total, or for someone who sees only some lines, the total of those."""
    if sees_whole_invoice(user, invoice):
        return invoice.total_nok
    return sum((line.amount_nok for line in visible_invoice_lines(user, invoice)), Decimal(0))


def visible_invoices(user):
    from regnekraft.accounting.models import Invoice

    if has_role(user, RoleKind.OPERATOR, RoleKind.FINANCE):
        return Invoice.objects.all()
    person = person_of(user)
    if person is None or not has_role(user, RoleKind.COORDINATOR, RoleKind.INDUSTRY, RoleKind.PI):
        return Invoice.objects.none()
    return Invoice.objects.filter(
        organisation__in=visible_organisations(user).filter(
            Q(pk=person.organisation_id) | Q(sector__in=coordinated_sectors(user))
            if coordinated_sectors(user)
            else Q(pk=person.organisation_id)
        )
    )
