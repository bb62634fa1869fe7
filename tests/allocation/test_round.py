"""The round: optimiser proposal from the database, checked by the rules, then decided."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regnekraft.allocation import policy
from regnekraft.allocation import round as rounds
from regnekraft.allocation.applications import decide_round
from regnekraft.allocation.models import Allocation, CallStatus, Review
from regnekraft.parties.actors import SYSTEM
from tests import factories as f

pytestmark = pytest.mark.django_db


def _review(app, score: int) -> None:
    reviewer = f.person(f.organisation(), "reviewer")
    Review.objects.create(
        application=app,
        reviewer=reviewer,
        submitted=True,
        scores={"excellence": score, "impact": score, "feasibility": score},
    )


def test_scarce_capacity_goes_to_the_better_score_and_the_proposal_passes_the_rules():
    f.policy(
        min_grant_share=Decimal("0.5")
    )  # the weak one can't get half without hurting the good one more
    rc = f.resource_class(units=10)
    cap = rc.capacity(*f.H1)
    c = f.call()
    good = f.application(c, f.project(), {rc: cap * Decimal("0.8")})
    weak = f.application(c, f.project(), {rc: cap * Decimal("0.8")})
    _review(good, 7)
    _review(weak, 3)
    proposal = rounds.propose_round(c)
    assert proposal.violations == []
    assert proposal.grants[good.pk][rc.pk] == (cap * Decimal("0.8")).quantize(Decimal("0.01"))
    assert proposal.grants[weak.pk] == {}
    assert sum(v for g in proposal.grants.values() for v in g.values()) <= cap
    rounds.decide_proposal(SYSTEM, proposal)
    assert sum(a.amount for a in Allocation.objects.all()) <= cap
    c.refresh_from_db()
    assert c.status == "decided"


def test_conflicted_reviews_do_not_count():
    rc = f.resource_class(units=10)
    app = f.application(f.call(), f.project(), {rc: 100})
    _review(app, 6)
    Review.objects.create(
        application=app,
        reviewer=f.person(f.organisation(), "reviewer"),
        submitted=True,
        conflict_of_interest=True,
        scores={"excellence": 1, "impact": 1, "feasibility": 1},
    )
    assert app.score() == Decimal("6.000")


def test_lines_the_rules_forbid_are_reported_and_get_nothing():
    open_rc = f.resource_class(units=10)
    abroad = f.resource_class(f.system(country="CN"), units=10)
    app = f.application(f.call(), f.project(), {open_rc: 100, abroad: 100})
    _review(app, 6)
    proposal = rounds.propose_round(app.call)
    assert abroad.pk not in proposal.grants[app.pk]
    assert proposal.grants[app.pk][open_rc.pk] == Decimal(100)
    assert "placement" in proposal.ineligible[app.pk][0]


def test_economic_applications_stay_within_the_cap():
    rc = f.resource_class(units=10)
    c = f.call()
    commercial = f.application(
        c, f.project(f.organisation("industry"), purpose="commercial"), {rc: 20_000}
    )
    _review(commercial, 7)
    proposal = rounds.propose_round(c)
    assert proposal.violations == []
    granted = proposal.grants[commercial.pk].get(rc.pk, Decimal(0))
    assert granted <= rc.capacity(*f.H1) * Decimal("0.05")


@pytest.mark.parametrize("how_many", [2, 8])
def test_deciding_a_round_reads_the_commitments_once_however_many_applications(
    how_many, monkeypatch
):
    reads = []
    real = policy._existing_commitments
    monkeypatch.setattr(
        policy, "_existing_commitments", lambda *a, **k: reads.append(a) or real(*a, **k)
    )
    rc = f.resource_class(units=100)
    c = f.call()
    apps = [f.application(c, f.project(), {rc: 10}) for _ in range(how_many)]
    c.status = CallStatus.REVIEW
    c.save(update_fields=["status"])
    decide_round(SYSTEM, c, {a.pk: {rc.pk: Decimal(10)} for a in apps})
    assert Allocation.objects.filter(application__call=c).count() == how_many
    assert len(reads) == 1  # one class, one span: not one read per application


def test_a_round_whose_grants_together_break_a_rule_writes_nothing():
    rc = f.resource_class(units=10)
    cap = rc.capacity(*f.H1)
    c = f.call()
    first = f.application(c, f.project(), {rc: cap})
    second = f.application(c, f.project(), {rc: cap})
    c.status = CallStatus.REVIEW
    c.save(update_fields=["status"])
    with pytest.raises(policy.PolicyViolation, match=r"\[capacity\] .*already committed"):
        decide_round(SYSTEM, c, {first.pk: {rc.pk: cap}, second.pk: {rc.pk: cap}})
    assert not Allocation.objects.filter(application__call=c).exists()
    first.refresh_from_db()
    assert first.status == "submitted"
