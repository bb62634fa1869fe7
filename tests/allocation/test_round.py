"""The round: optimiser proposal from the database, checked by the rules, then decided."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regnekraft.allocation import round as rounds
from regnekraft.allocation.models import Allocation, Review
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
