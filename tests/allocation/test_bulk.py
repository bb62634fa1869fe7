"""allocation.bulk: many applications, reviewer assignments and reviews in one call each,
written as the one-at-a-time services write them; a bad item refuses the whole batch, naming
it, and nothing is written."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from regnekraft.allocation import applications, bulk, reviews
from regnekraft.allocation.models import (
    REVIEW_CRITERIA,
    Application,
    ApplicationRequest,
    CallStatus,
    Review,
)
from regnekraft.audit.context import acting_as
from regnekraft.audit.models import AuditEntry
from regnekraft.parties.actors import SYSTEM
from regnekraft.parties.models import Role
from tests import factories as f

pytestmark = pytest.mark.django_db

SCORES = dict.fromkeys(REVIEW_CRITERIA, 5)


@pytest.fixture
def world():
    org = f.organisation()
    cpu, gpu = f.resource_class(kind="cpu"), f.resource_class(kind="gpu")
    call = f.call(status=CallStatus.OPEN)
    projects = [f.project(org) for _ in range(4)]
    return org, cpu, gpu, call, projects


def _application_row(app: Application) -> tuple:
    lines = sorted((r.resource_class_id, r.amount) for r in app.requests.all())
    extra = tuple(sorted(app.extra_fields.items()))
    return (app.call_id, app.justification, app.support_hours, extra, app.status, tuple(lines))


def _item(project, cpu, gpu, **extra) -> dict:
    return {
        "project": project,
        "justification": "Science.",
        "requests": {cpu: Decimal(100), gpu: Decimal(0)},  # a zero asks for nothing
        "support_hours": Decimal(10),
        **extra,
    }


def test_submit_applications_writes_what_submit_application_writes(world):
    org, cpu, gpu, call, (p1, p2, p3, _) = world
    member = f.person(org)
    AuditEntry.objects.all().delete()
    with acting_as("demo"):
        one = applications.submit_application(
            SYSTEM,
            call,
            p1,
            justification="Science.",
            requests={cpu: Decimal(100), gpu: Decimal(0)},
            support_hours=Decimal(10),
            members=[member],
        )
        single = [(e.action, e.actor_label, e.after["person"]) for e in AuditEntry.objects.all()]
        AuditEntry.objects.all().delete()
        many = bulk.submit_applications(
            SYSTEM,
            call,
            [_item(p2, cpu, gpu, members=[member, p2.pi]), _item(p3, cpu, gpu)],
        )
        notes = [(e.action, e.actor_label, e.after["person"]) for e in AuditEntry.objects.all()]
    assert [a.project for a in many] == [p2, p3]
    assert {_application_row(a) for a in Application.objects.all()} == {_application_row(one)}
    assert notes == single == [("member-added", "demo", member.pk)]  # the PI is no member
    assert list(p2.members.all()) == [member]
    # a PI submits for their own project in bulk as one at a time
    p4 = world[4][3]
    mine = bulk.submit_applications(p4.pi.user, call, [_item(p4, cpu, gpu)])
    assert _application_row(mine[0]) == _application_row(one)


def test_a_bad_application_refuses_the_whole_batch_naming_it(world):
    org, cpu, gpu, call, (p1, p2, p3, p4) = world
    applications.submit_application(
        SYSTEM, call, p1, justification="Science.", requests={cpu: Decimal(1)}
    )
    before = (Application.objects.count(), ApplicationRequest.objects.count())
    cases = [
        (_item(p1, cpu, gpu), "project"),  # applied already
        (_item(p2, cpu, gpu), "project"),  # twice in the batch
        (_item(p3, cpu, gpu, requests={}, support_hours=Decimal(0)), "requests"),
        (_item(p3, cpu, gpu, justification=""), "justification"),
        (_item(p3, cpu, gpu, requests={cpu: Decimal(-5)}), "amount"),  # a bad request line
    ]
    for bad, field in cases:
        with pytest.raises(ValidationError) as refused:
            bulk.submit_applications(SYSTEM, call, [_item(p2, cpu, gpu), bad])
        assert refused.value.message_dict[field][0].startswith(
            f"application 2 ({bad['project'].code})"
        )
    with pytest.raises(PermissionDenied, match=rf"^application 2 \({p3.code}\): only the PI"):
        bulk.submit_applications(p2.pi.user, call, [_item(p2, cpu, gpu), _item(p3, cpu, gpu)])
    closed = f.call(status=CallStatus.REVIEW)
    with pytest.raises(ValidationError) as refused:
        bulk.submit_applications(SYSTEM, closed, [_item(p4, cpu, gpu)])
    assert "call" in refused.value.message_dict
    assert (Application.objects.count(), ApplicationRequest.objects.count()) == before


@pytest.fixture
def in_review(world):
    org, cpu, gpu, call, projects = world
    apps = bulk.submit_applications(SYSTEM, call, [_item(p, cpu, gpu) for p in projects])
    elsewhere = f.organisation()
    r1, r2 = f.person(elsewhere, "reviewer"), f.person(elsewhere, "reviewer")
    return apps, r1, r2


def test_assign_reviewers_writes_what_assign_reviewer_writes(in_review):
    (a1, a2, a3, _), r1, r2 = in_review
    one = reviews.assign_reviewer(SYSTEM, a1, r1)
    many = bulk.assign_reviewers(SYSTEM, [(a1, r1), (a2, r1), (a2, r2), (a2, r1)])
    assert many[0] == one and many[1] == many[3]  # what exists stays; a repeat is one review
    assert many[1].pk and many[2].pk
    assert set(Review.objects.values_list("application_id", "reviewer_id")) == {
        (a1.pk, r1.pk),
        (a2.pk, r1.pk),
        (a2.pk, r2.pk),
    }
    fields = ("conflict_of_interest", "scores", "comment", "submitted")
    rows = [tuple(getattr(r, n) for n in fields) for r in Review.objects.all()]
    assert rows == [tuple(getattr(one, n) for n in fields)] * 3


def test_a_bad_assignment_refuses_the_whole_batch_naming_it(in_review):
    (a1, a2, a3, a4), r1, r2 = in_review
    not_reviewer = f.person(f.organisation())
    a3.project.members.add(r2)
    with pytest.raises(ValidationError, match=r"review 2 .*does not have the reviewer role"):
        bulk.assign_reviewers(SYSTEM, [(a1, r1), (a2, not_reviewer)])
    with pytest.raises(ValidationError, match=r"review 2 .*takes part in"):
        bulk.assign_reviewers(SYSTEM, [(a1, r1), (a3, r2)])
    Role.objects.create(person=a4.project.pi, kind="reviewer")
    with pytest.raises(ValidationError, match=r"review 1 .*takes part in"):
        bulk.assign_reviewers(SYSTEM, [(a4, a4.project.pi)])
    with pytest.raises(PermissionDenied, match="operator"):
        bulk.assign_reviewers(r1.user, [(a1, r1)])
    assert not Review.objects.exists()


def test_save_reviews_writes_what_save_review_writes(in_review):
    (a1, a2, a3, _), r1, r2 = in_review
    one, two, three = bulk.assign_reviewers(SYSTEM, [(a1, r1), (a2, r1), (a3, r1)])
    reviews.save_review(
        r1.user, one, conflict=False, scores=SCORES, comment="Fine.", submitted=True
    )
    done = {"conflict": False, "scores": SCORES, "comment": "Fine.", "submitted": True}
    saved = bulk.save_reviews(r1.user, [(two, done), (three, {"conflict": True, "comment": "x"})])
    assert [r.pk for r in saved] == [two.pk, three.pk]
    fields = ("conflict_of_interest", "scores", "comment", "submitted")
    row = {r.pk: tuple(getattr(r, n) for n in fields) for r in Review.objects.all()}
    assert row[two.pk] == row[one.pk]
    assert row[three.pk] == (True, {}, "x", False)  # a conflict takes the review out of the score
    assert a2.score() == a1.score() == Decimal(5)


def test_a_bad_review_refuses_the_whole_batch_naming_it(in_review):
    (a1, a2, a3, _), r1, r2 = in_review
    one, two, other = bulk.assign_reviewers(SYSTEM, [(a1, r1), (a2, r1), (a3, r2)])
    done = {"conflict": False, "scores": SCORES, "submitted": True}
    cases = [
        ({"scores": {"excellence": 5}, "submitted": True}, "scores"),
        ({"scores": {**SCORES, "excellence": 9}}, "scores"),
        ({"colour": "blue"}, None),
    ]
    for bad, field in cases:
        with pytest.raises(ValidationError) as refused:
            bulk.save_reviews(r1.user, [(one, done), (two, bad)])
        messages = refused.value.message_dict[field] if field else refused.value.messages
        assert messages[0].startswith(f"review 2 ({two.pk})")
    with pytest.raises(PermissionDenied, match=r"^review 2 .*only the assigned reviewer"):
        bulk.save_reviews(r1.user, [(one, done), (other, done)])
    a2.project.members.add(r1)  # joined after the assignment: must declare the conflict
    with pytest.raises(ValidationError) as refused:
        bulk.save_reviews(r1.user, [(one, done), (two, done)])
    assert refused.value.message_dict["conflict_of_interest"][0].startswith(f"review 2 ({two.pk})")
    assert not Review.objects.filter(submitted=True).exists()
    assert all(r.scores == {} for r in Review.objects.all())


def test_the_queries_do_not_grow_with_the_batch():
    org = f.organisation()
    cpu = f.resource_class()
    reviewer = f.person(f.organisation(), "reviewer")

    def queries(n: int) -> int:
        call = f.call(status=CallStatus.OPEN)
        projects = [f.project(org) for _ in range(n)]
        with CaptureQueriesContext(connection) as q:
            apps = bulk.submit_applications(
                SYSTEM,
                call,
                [{"project": p, "justification": "S.", "requests": {cpu: 1}} for p in projects],
            )
            made = bulk.assign_reviewers(SYSTEM, [(a, reviewer) for a in apps])
            bulk.save_reviews(
                reviewer.user, [(r, {"scores": SCORES, "submitted": True}) for r in made]
            )
        return len(q)

    queries(1)  # what is asked once per process (the reviewer's person, cached on the user)
    assert queries(3) == queries(30)
