"""Many applications, reviewer assignments and reviews in one call each: for building large
data sets (``regnekraft.national``).

Each function takes the actor first, like ``applications.submit_application``,
``reviews.assign_reviewer`` and ``reviews.save_review``, and checks every item with their
rules (the same functions, and the models' ``full_clean`` through
:func:`regnekraft.rows.clean_many`); then it writes with ``bulk_create``/``bulk_update`` in
one transaction. A bad item refuses the whole batch, naming the item, and nothing is
written. Applications, their request lines and reviews are not audited models, so (as with
the single services) the audit log records only the members an application adds
(``parties.bulk.add_members``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from regnekraft.parties import bulk as parties_bulk
from regnekraft.parties.actors import person_of, require_pi, require_role
from regnekraft.parties.models import Person, Project, Role, RoleKind
from regnekraft.rows import clean_many, refusal

from . import applications, reviews, services
from .calls import require_open
from .models import Application, ApplicationRequest, Call, Review

logger = logging.getLogger(__name__)

BATCH = 2000
REVIEW_FIELDS = ("conflict", "scores", "comment", "submitted")


def _refused(label: str, exc: PermissionDenied) -> PermissionDenied:
    return PermissionDenied(f"{label}: {exc}")


def _participants(project_ids: set[int]) -> dict[int, set[int]]:
    """Each project's PI and members, in two queries."""
    out: dict[int, set[int]] = {
        pk: {pi} for pk, pi in Project.objects.filter(pk__in=project_ids).values_list("pk", "pi")
    }
    through = Project.members.through
    for project_id, person_id in through.objects.filter(project_id__in=project_ids).values_list(
        "project_id", "person_id"
    ):
        out[project_id].add(person_id)
    return out


@transaction.atomic
def submit_applications(
    actor: Any, call: Call, items: Sequence[Mapping[str, Any]]
) -> list[Application]:
    """Apply in ``call`` for many projects, as :func:`applications.submit_application` does
    for one: each item gives ``project``, ``justification`` and ``requests`` (resource class
    to amount), and may give ``support_hours``, ``extra_fields`` and ``members``. Returns the
    applications in item order."""
    labels = [f"application {i + 1} ({item['project'].code})" for i, item in enumerate(items)]
    for item, label in zip(items, labels, strict=True):
        try:
            require_pi(actor, item["project"], action="apply or change its application")
        except PermissionDenied as exc:
            raise _refused(label, exc) from exc
    call = Call.objects.select_for_update().get(pk=call.pk)
    require_open(call)
    applied = set(
        Application.objects.filter(
            call=call, project__in={i["project"].pk for i in items}
        ).values_list("project_id", flat=True)
    )
    rows, wanted_of = [], []
    for item, label in zip(items, labels, strict=True):
        project = item["project"]
        try:
            if project.pk in applied:
                raise applications.already_applied(project)
            applied.add(project.pk)
            wanted = applications._wanted(item["requests"])
            support = item.get("support_hours", Decimal(0))
            applications._require_something(wanted, support)
        except ValidationError as exc:
            raise refusal(label, exc) from exc
        rows.append(
            applications.new_application(
                call, project, item["justification"], support, item.get("extra_fields")
            )
        )
        wanted_of.append(wanted)
    clean_many(rows, labels)
    Application.objects.bulk_create(rows, batch_size=BATCH)
    lines, line_labels = [], []
    for app, wanted, label in zip(rows, wanted_of, labels, strict=True):
        for rc, amount in wanted.items():
            lines.append(ApplicationRequest(application=app, resource_class=rc, amount=amount))
            line_labels.append(f"{label}, {rc}")
    clean_many(lines, line_labels)  # a bad line undoes the applications with it
    ApplicationRequest.objects.bulk_create(lines, batch_size=BATCH)
    members = [
        (item["project"], person)
        for item in items
        for person in item.get("members", ())
        if person.pk != item["project"].pi_id
    ]
    if members:
        parties_bulk.add_members(actor, members)
    logger.info("%d applications submitted in %s by %s", len(rows), call, actor)
    return rows


@transaction.atomic
def assign_reviewers(actor: Any, items: Sequence[tuple[Application, Person]]) -> list[Review]:
    """Assign each (application, reviewer), as :func:`reviews.assign_reviewer` does (only
    reviewers, nobody to a project they take part in; an assignment that exists stays).
    Returns the reviews in item order."""
    require_role(actor, RoleKind.OPERATOR, action="assign reviewers")
    labels = [f"review {i + 1} ({app}: {who})" for i, (app, who) in enumerate(items)]
    reviewer_ids = set(
        Role.objects.filter(
            person__in={who.pk for _, who in items}, kind=RoleKind.REVIEWER
        ).values_list("person_id", flat=True)
    )
    taking_part = _participants({app.project_id for app, _ in items})
    for (app, who), label in zip(items, labels, strict=True):
        try:
            services.require_may_review(
                app,
                who,
                is_reviewer=who.pk in reviewer_ids,
                participants=taking_part[app.project_id],
            )
        except ValidationError as exc:
            raise refusal(label, exc) from exc
    found = {
        (r.application_id, r.reviewer_id): r
        for r in Review.objects.filter(application__in={app.pk for app, _ in items})
    }
    new: dict[tuple[int, int], Review] = {}
    for app, who in items:
        key = (app.pk, who.pk)
        if key not in found and key not in new:
            new[key] = Review(application=app, reviewer=who)
    Review.objects.bulk_create(list(new.values()), batch_size=BATCH)
    found.update(new)
    return [found[(app.pk, who.pk)] for app, who in items]


@transaction.atomic
def save_reviews(actor: Any, items: Sequence[tuple[Review, Mapping[str, Any]]]) -> list[Review]:
    """The assigned reviewer (``actor``) changes many of their reviews, as
    :func:`reviews.save_review` does one: each item is a review and what to change
    (``conflict``, ``scores``, ``comment``, ``submitted``; what is not given stays). Returns
    the reviews in item order."""
    labels = [f"review {i + 1} ({r.pk})" for i, (r, _) in enumerate(items)]
    for (_, change), label in zip(items, labels, strict=True):
        unknown = set(change) - set(REVIEW_FIELDS)
        if unknown:
            raise refusal(label, ValidationError(f"unknown fields: {', '.join(sorted(unknown))}"))
    locked = (
        Review.objects.select_for_update(of=("self", "application"))
        .select_related("application__project", "application__call")
        .in_bulk([r.pk for r, _ in items])
    )
    person = person_of(actor)
    taking_part = _participants({r.application.project_id for r in locked.values()})
    out = []
    for (given, change), label in zip(items, labels, strict=True):
        review = locked[given.pk]
        try:
            who = reviews.require_reviewer(review, person)
            reviews.change(
                review,
                who,
                lambda r=review: taking_part[r.application.project_id],
                **{name: change.get(name) for name in REVIEW_FIELDS},
            )
            review.full_clean(exclude=["application", "reviewer"], validate_constraints=False)
        except PermissionDenied as exc:
            raise _refused(label, exc) from exc
        except ValidationError as exc:
            raise refusal(label, exc) from exc
        out.append(review)
    Review.objects.bulk_update(
        list({r.pk: r for r in out}.values()),
        ["conflict_of_interest", "scores", "comment", "submitted"],
        batch_size=BATCH,
    )
    return out
