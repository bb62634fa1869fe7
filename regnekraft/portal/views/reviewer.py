"""Reviewers (allocation committee): assigned applications, conflicts, scores, comments."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from regnekraft import access
from regnekraft.allocation.models import REVIEW_CRITERIA, Review
from regnekraft.allocation.reviews import save_review

from ..forms import ReviewForm, class_label
from ..tables import Cell, Column, Table
from .base import add_refusal, not_visible, page, requires
from .paging import paged


def _my_reviews(request: HttpRequest):
    person = access.person_of(request.user)
    return Review.objects.filter(
        reviewer=person, application__in=access.visible_applications(request.user)
    ).select_related("application__call", "application__project__organisation")


@requires("portal:reviews")
def assigned(request: HttpRequest) -> HttpResponse:
    table = Table(
        "reviews",
        _("Applications assigned to you"),
        [
            Column(_("Call")),
            Column(_("Project")),
            Column(_("Organisation")),
            Column(_("Status")),
            Column(_("Conflict declared")),
            Column(_("Your mean score"), numeric=True, decimals=2),
        ],
        empty_text=_("No applications are assigned to you."),
    )
    mine = _my_reviews(request).order_by("submitted", "application__call__name", "pk")
    for r in paged(request, table, mine):
        status = _("Submitted") if r.submitted else _("To do")
        table.add(
            r.application.call.name,
            Cell(r.application.project.code, reverse("portal:review", args=[r.pk])),
            r.application.project.organisation,
            status,
            r.conflict_of_interest,
            r.mean_score() if r.scores else None,
        )
    return page(request, "portal/table_page.html", {"title": _("Reviews")}, tables=[table])


@requires("portal:reviews")
def review(request: HttpRequest, review_id: int) -> HttpResponse:
    rev = _my_reviews(request).filter(pk=review_id).first()
    if rev is None:
        return not_visible(request)
    app = rev.application
    initial = {"conflict": rev.conflict_of_interest, "comment": rev.comment}
    initial.update({f"score_{c}": rev.scores.get(c) for c in REVIEW_CRITERIA})
    form = ReviewForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            save_review(
                request.user,
                rev,
                conflict=form.cleaned_data["conflict"],
                scores=form.scores(),
                comment=form.cleaned_data["comment"],
                submitted=True,
            )
        except ValidationError as exc:
            add_refusal(form, exc)
        else:
            messages.success(
                request, _("Your review of %(code)s is saved.") % {"code": app.project.code}
            )
            return redirect("portal:reviews")
    requests = Table(
        "requested",
        _("Requested resources"),
        [
            Column(_("Resource")),
            Column(_("Amount"), numeric=True),
            Column(_("Unit"), kind="unit"),
        ],
    )
    for r in app.requests.select_related("resource_class__system"):
        requests.add(class_label(r.resource_class), r.amount, r.resource_class.unit)
    return page(
        request,
        "portal/review.html",
        {
            "title": _("Review of %(code)s") % {"code": app.project.code},
            "application": app,
            "form": form,
        },
        tables=[requests],
    )
