"""Reviews: operators assign reviewers; a reviewer declares a conflict of interest, scores each
criterion and comments, while the application is submitted (not once it is decided or withdrawn)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.parties.actors import person_of, require_role
from regnekraft.parties.models import Person, RoleKind

from . import services
from .models import REVIEW_CRITERIA, Application, ApplicationStatus, Review


def assign_reviewer(actor: Any, application: Application, reviewer: Person) -> Review:
    """Assign ``reviewer`` (idempotent); nobody reviews a project they take part in."""
    require_role(actor, RoleKind.OPERATOR, action="assign reviewers")
    return services.assign_reviewer(application, reviewer)


def require_reviewer(review: Review, person: Person | None) -> Person:
    """Only the assigned reviewer changes a review."""
    if person is None or review.reviewer_id != person.pk:
        raise PermissionDenied("only the assigned reviewer may change a review")
    return person


def change(
    review: Review,
    person: Person,
    participants: Callable[[], set[int]],
    *,
    conflict: bool | None,
    scores: Mapping[str, int] | None,
    comment: str | None,
    submitted: bool | None,
) -> None:
    """The rules of a review's change, applied to ``review`` (not saved): ``save_review`` and
    ``bulk.save_reviews`` validate and write it. ``participants`` gives the project's PI and
    members, asked only when needed."""
    if review.application.status != ApplicationStatus.SUBMITTED:
        raise ValidationError(
            {
                "application": _("The application is %(status)s; its reviews can no longer change.")
                % {"status": review.application.get_status_display().lower()}
            }
        )
    if conflict is not None:
        review.conflict_of_interest = conflict
    if not review.conflict_of_interest and person.pk in participants():
        raise ValidationError(
            {
                "conflict_of_interest": _(
                    "You take part in %(code)s, so you cannot score its application; declare "
                    "the conflict of interest."
                )
                % {"code": review.application.project.code}
            }
        )
    if scores is not None:
        review.scores = dict(scores)
    if comment is not None:
        review.comment = comment
    if submitted is not None:
        review.submitted = submitted
    if review.conflict_of_interest:
        review.scores = {}  # a declared conflict takes the review out of the score
    elif review.submitted and set(review.scores) != set(REVIEW_CRITERIA):
        raise ValidationError(
            {
                "scores": _("A submitted review scores every criterion: %(c)s.")
                % {"c": ", ".join(REVIEW_CRITERIA)}
            }
        )


@transaction.atomic
def save_review(
    actor: Any,
    review: Review,
    *,
    conflict: bool | None = None,
    scores: Mapping[str, int] | None = None,
    comment: str | None = None,
    submitted: bool | None = None,
) -> Review:
    """The assigned reviewer changes their review; what is not given stays as it is."""
    review = Review.objects.select_for_update().select_related("application").get(pk=review.pk)
    person = require_reviewer(review, person_of(actor))
    change(
        review,
        person,
        lambda: review.application.project.participant_ids(),
        conflict=conflict,
        scores=scores,
        comment=comment,
        submitted=submitted,
    )
    review.full_clean()
    review.save()
    return review


@transaction.atomic
def remove_reviewer(actor: Any, review: Review) -> None:
    require_role(actor, RoleKind.OPERATOR, action="remove a reviewer")
    review.delete()
