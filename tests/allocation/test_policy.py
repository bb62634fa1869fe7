"""Each policy rule: allowed at the limit, refused just past it, with a message that names the
rule and the numbers. Each test fails if its rule is switched off."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regnekraft.allocation import policy, services
from regnekraft.allocation.models import Allocation, SectorOrder, SectorOrderLine
from tests import factories as f

pytestmark = pytest.mark.django_db

H1 = f.H1
DAYS_H1 = (H1[1] - H1[0]).days  # 181
YEAR = (dt.date(f.YEAR, 1, 1), dt.date(f.YEAR + 1, 1, 1))


def _grant(project, rc, amount, period=H1):
    return (
        services.purchase(project, rc, Decimal(amount), *period)
        if project.is_economic
        else services.grant_colocated(project, rc, Decimal(amount), *period)
        if rc.system.owner_id
        else _research_grant(project, rc, amount, period)
    )


def _research_grant(project, rc, amount, period):
    c = f.call(period=period)
    app = f.application(c, project, {rc: amount})
    return services.decide_application(app, {rc.pk: Decimal(amount)})


def violations(project, rc, amount, period=H1):
    return policy.check([policy.Proposal.grant(project, rc, Decimal(amount), *period)])


def test_capacity_allows_up_to_capacity_and_refuses_one_more():
    f.policy(research_protected_share=Decimal("0"))
    rc = f.resource_class(units=10)  # 10 cores x 24 h x 181 days = 43,440 core-hours in H1
    cap = rc.capacity(*H1)
    assert cap == Decimal(10 * 24 * DAYS_H1)
    _grant(f.project(), rc, cap - 100)
    assert violations(f.project(), rc, 100) == []
    found = violations(f.project(), rc, 101)
    assert [v.rule for v in found] == ["capacity"]
    assert "43 340" in found[0].message and "43 440" in found[0].message


def test_capacity_counts_overlapping_commitments_pro_rata():
    rc = f.resource_class(units=10)
    year_cap = rc.capacity(*YEAR)
    _research_grant(f.project(), rc, year_cap, YEAR)  # the whole year, so half of it falls in H1
    assert violations(f.project(), rc, 1)[0].rule == "capacity"
    assert violations(f.project(), rc, 1, (YEAR[1], dt.date(f.YEAR + 1, 3, 1))) == []


def test_overbooking_factor_raises_the_limit():
    rc = f.resource_class(units=10)
    cap = rc.capacity(*H1)
    _grant(f.project(), rc, cap)
    assert violations(f.project(), rc, cap / 2)[0].rule == "capacity"
    f.policy(overbooking_factor=Decimal("1.5"))
    assert violations(f.project(), rc, cap / 2) == []


def test_capacity_refusal_writes_nothing():
    rc = f.resource_class(units=1)
    c = f.call()
    app = f.application(c, f.project(), {rc: 10})
    big = f.resource_class(units=1)
    app2 = f.application(c, f.project(), {rc: 10, big: 10**9})
    services.decide_application(app, {rc.pk: Decimal(10)})
    with pytest.raises(policy.PolicyViolation) as exc:
        services.decide_application(app2, {rc.pk: Decimal(10), big.pk: Decimal(10**9)})
    assert exc.value.violations[0].rule == "capacity"
    assert Allocation.objects.count() == 1  # the fitting line of app2 was not written either
    app2.refresh_from_db()
    assert app2.status == "submitted"


def test_economic_cap_default_five_percent_of_yearly_capacity():
    rc = f.resource_class(units=100)
    industry = f.organisation("industry", sme=True)
    commercial = f.project(industry, purpose="commercial")
    year_cap = rc.capacity(*YEAR)
    allowed = year_cap * Decimal("0.05")
    services.purchase(commercial, rc, allowed, *YEAR)
    found = violations(f.project(industry, purpose="commercial"), rc, 1, YEAR)
    assert [v.rule for v in found] == ["economic_cap"]
    assert "5.0%" in found[0].message
    assert violations(f.project(), rc, 1, YEAR) == []  # research is not economic activity


def test_economic_cap_is_configurable_but_never_above_twenty_percent():
    rc = f.resource_class(units=100)
    commercial = f.project(f.organisation("industry"), purpose="commercial")
    year_cap = rc.capacity(*YEAR)
    f.policy(economic_cap_share=Decimal("0.20"), research_protected_share=Decimal("0.5"))
    assert violations(commercial, rc, year_cap * Decimal("0.20"), YEAR) == []
    assert violations(commercial, rc, year_cap * Decimal("0.21"), YEAR)[0].rule == "economic_cap"
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        f.policy(economic_cap_share=Decimal("0.25"))


def test_commercial_purpose_in_a_research_org_is_economic_and_priced_at_market():
    uni = f.organisation("research")
    p = f.project(uni, purpose="commercial")
    assert p.is_economic
    assert policy.price_category(p) == "C"
    assert policy.price_category(f.project(uni)) != "C"


def test_sector_orders_of_industry_are_priced_at_market_others_at_cost():
    assert policy.order_category(f.organisation("industry")) == "C"
    assert policy.order_category(f.organisation("public")) == "A"
    assert policy.order_category(f.organisation("research")) == "A"


def test_research_protected_share():
    rc = f.resource_class(units=100)
    f.policy(research_protected_share=Decimal("0.6"))
    agency = f.organisation("public", sector="Helse")
    year_cap = rc.capacity(*YEAR)
    order = SectorOrder.objects.create(organisation=agency, sector="Helse", year=f.YEAR)
    SectorOrderLine.objects.create(order=order, resource_class=rc, amount=year_cap * Decimal("0.4"))
    services.confirm_order(order)
    other = SectorOrder.objects.create(
        organisation=f.organisation("public", sector="Politi"), sector="Politi", year=f.YEAR
    )
    SectorOrderLine.objects.create(order=other, resource_class=rc, amount=1)
    with pytest.raises(policy.PolicyViolation) as exc:
        services.confirm_order(other)
    assert [v.rule for v in exc.value.violations] == ["research_share"]
    assert "60.0%" in str(exc.value)
    assert (
        violations(f.project(), rc, year_cap * Decimal("0.6"), YEAR) == []
    )  # research keeps its share


@pytest.mark.parametrize(
    ("sensitivity", "zone", "country", "ok"),
    [
        (0, "open", "NO", True),
        (0, "open", "FI", True),  # security partner
        (0, "open", "CN", False),  # not on the partner list
        (1, "open", "NO", False),  # personal data needs an approved system
        (1, "shielded", "NO", True),
        (1, "shielded", "SE", True),  # EEA
        (1, "shielded", "US", False),  # outside the EEA
        (2, "shielded", "NO", False),  # graded needs a graded system
        (2, "graded", "NO", True),
        (4, "graded", "FI", False),  # graded only in Norway
    ],
)
def test_placement_by_sensitivity(sensitivity, zone, country, ok):
    rc = f.resource_class(f.system(zone=zone, country=country), units=100)
    found = violations(f.project(sensitivity=sensitivity), rc, 10)
    assert (found == []) is ok, found
    if not ok:
        assert found[0].rule == "placement"


def test_security_partner_list_is_configurable():
    rc = f.resource_class(f.system(country="CH"), units=100)
    assert violations(f.project(), rc, 10)[0].rule == "placement"
    f.policy(security_partner_countries=["NO", "CH"])
    assert violations(f.project(), rc, 10) == []


@pytest.mark.parametrize(
    ("purpose", "tier", "ok"),
    [
        ("research_rd", 1, True),
        ("admin_rd", 1, False),
        ("admin_rd", 2, True),
        ("critical_service", 2, False),
        ("critical_service", 3, True),
        ("national_ai", 2, True),
    ],
)
def test_availability_tier(purpose, tier, ok):
    rc = f.resource_class(f.system(tier=tier), units=100)
    org = f.organisation("public", sector="Helse") if purpose != "research_rd" else f.organisation()
    f.policy(research_protected_share=Decimal("0"))
    found = violations(f.project(org, purpose=purpose), rc, 10)
    assert (found == []) is ok, found
    if not ok:
        assert found[0].rule == "availability_tier"
        assert f"offers tier {tier}" in found[0].message


def test_colocated_equipment_serves_only_its_owner():
    owner = f.organisation("public", sector="Meteorologi")
    rc = f.resource_class(f.system(owner=owner, kind="colocated"), units=10)
    f.policy(research_protected_share=Decimal("0"))
    assert violations(f.project(owner), rc, 10) == []
    assert violations(f.project(), rc, 10)[0].rule == "ownership"


def test_sub_allocations_stay_within_the_order_line_and_sector():
    rc = f.resource_class(units=100)
    f.policy(research_protected_share=Decimal("0"))
    agency = f.organisation("public", sector="Helse")
    order = SectorOrder.objects.create(organisation=agency, sector="Helse", year=f.YEAR)
    line = SectorOrderLine.objects.create(order=order, resource_class=rc, amount=1000)
    services.confirm_order(order)
    p = f.project(agency, purpose="admin_rd")
    rc.system.availability_tier = 2
    rc.system.save()
    services.sub_allocate(line, p, Decimal(600))
    with pytest.raises(policy.PolicyViolation) as exc:
        services.sub_allocate(line, p, Decimal(401))
    assert exc.value.violations[0].rule == "order_bounds"
    services.sub_allocate(line, p, Decimal(400))
    with pytest.raises(policy.PolicyViolation):
        services.sub_allocate(
            line, f.project(f.organisation("public", sector="Politi")), Decimal(1)
        )


def test_batch_counts_its_own_earlier_items():
    rc = f.resource_class(units=10)
    cap = rc.capacity(*H1)
    p1, p2 = f.project(), f.project()
    found = policy.check(
        [policy.Proposal.grant(p1, rc, cap, *H1), policy.Proposal.grant(p2, rc, 1, *H1)]
    )
    assert [v.rule for v in found] == ["capacity"]


def test_decisions_are_idempotent():
    rc = f.resource_class(units=10)
    app = f.application(f.call(), f.project(), {rc: 100})
    first = services.decide_application(app, {rc.pk: Decimal(100)})
    again = services.decide_application(app, {rc.pk: Decimal(100)})
    assert [a.pk for a in first] == [a.pk for a in again]
    assert Allocation.objects.count() == 1


def test_audit_log_records_decisions_with_actor():
    from regnekraft.audit.context import acting_as
    from regnekraft.audit.models import AuditEntry

    rc = f.resource_class(units=10)
    app = f.application(f.call(), f.project(), {rc: 100})
    with acting_as("cli"):
        services.decide_application(app, {rc.pk: Decimal(100)})
    entry = AuditEntry.objects.filter(object_type="allocation.Allocation").get()
    assert (
        entry.actor_label == "cli"
        and entry.action == "create"
        and Decimal(entry.after["amount"]) == 100
    )
    rc.installed_units = Decimal(20)
    rc.save()
    change = AuditEntry.objects.filter(object_type="catalog.ResourceClass", action="update").get()
    assert (
        Decimal(change.before["installed_units"]) == 10
        and Decimal(change.after["installed_units"]) == 20
    )


def test_remaining_economic_room_follows_the_tightest_calendar_year():
    rc = f.resource_class(units=100)
    commercial = f.project(f.organisation("industry"), purpose="commercial")
    year_cap = rc.capacity(*YEAR)
    services.purchase(commercial, rc, year_cap * Decimal("0.05"), *H1)  # the whole 2027 cap, in H1
    later = (dt.date(f.YEAR, 10, 1), dt.date(f.YEAR + 1, 4, 1))  # half in 2027, half in 2028
    assert policy.remaining(rc, *later)["economic_room"] == 0
    assert violations(commercial, rc, 1, later)[0].rule == "economic_cap"
    assert (
        policy.remaining(rc, (dt.date(f.YEAR + 1, 1, 1)), dt.date(f.YEAR + 1, 4, 1))[
            "economic_room"
        ]
        > 0
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(["H1", "YEAR", "Q1"]), st.integers(1, 30_000)),
        min_size=1,
        max_size=12,
    )
)
def test_a_batch_counts_what_each_proposal_finds_committed_before_it(items):
    """A round's check carries its sums from one proposal to the next: each proposal must see
    the existing commitment plus every earlier one, pro rata, as if summed afresh."""
    periods = {
        "H1": H1,
        "YEAR": YEAR,
        "Q1": (dt.date(f.YEAR, 1, 1), dt.date(f.YEAR, 4, 1)),
    }
    f.policy(research_protected_share=Decimal("0"))
    rc = f.resource_class(units=10)
    existing = (YEAR, Decimal(20_000))
    _research_grant(f.project(), rc, existing[1], existing[0])
    batch = [
        policy.Proposal.grant(f.project(), rc, Decimal(amount), *periods[name])
        for name, amount in items
    ]

    def within(period, amount, start, end):
        days = (period[1] - period[0]).days
        overlap = max(0, (min(end, period[1]) - max(start, period[0])).days)
        return amount * Decimal(overlap) / Decimal(days)

    expected = []
    for i, p in enumerate(batch):
        before = [existing] + [((q.start, q.end), q.amount) for q in batch[:i]]
        committed = sum((within(per, a, p.start, p.end) for per, a in before), Decimal(0))
        if committed + p.amount > rc.capacity(p.start, p.end):
            expected.append(committed)
    found = [v for v in policy.check(batch) if v.rule == "capacity"]
    assert [Decimal(v.numbers["committed"]) for v in found] == pytest.approx(expected)
