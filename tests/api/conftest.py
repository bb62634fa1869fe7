"""A small national picture with one person per role, shared by the API tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from regnekraft.accounting import importer
from regnekraft.accounting.models import Invoice, InvoiceLine
from regnekraft.allocation import services
from regnekraft.allocation.models import (
    Allocation,
    Application,
    Call,
    CallStatus,
    Review,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.catalog.models import ResourceClass, System
from regnekraft.parties.models import Organisation, Person, Project
from tests import factories as f

YEAR = f.YEAR


@dataclass
class World:
    betzy: System
    cpu: ResourceClass  # 1000 cores, always available: 8 760 000 core-hours a year
    graded_cpu: ResourceClass  # a graded system in Norway
    uio: Organisation
    met: Organisation  # public, sector "climate"
    fhi: Organisation  # public, sector "health"
    sme: Organisation  # industry
    operator: Person
    finance: Person
    decision_maker: Person
    pi_a: Person
    pi_b: Person
    member_a: Person
    reviewer_a: Person
    reviewer_b: Person
    coordinator_climate: Person
    coordinator_health: Person
    industry: Person
    met_pi: Person
    fhi_pi: Person
    proj_a: Project
    proj_b: Project
    proj_met: Project
    proj_fhi: Project
    proj_sme: Project
    open_call: Call
    review_call: Call
    app_a: Application
    app_b: Application
    review_a: Review
    review_b: Review
    alloc_a: Allocation
    alloc_b: Allocation
    order_met: SectorOrder
    order_fhi: SectorOrder
    invoice_uio: Invoice
    invoice_met: Invoice
    invoice_fhi: Invoice
    invoice_sme: Invoice

    def by_role(self, role: str) -> Person:
        return getattr(self, role)


def usage_record(project: Project, rc: ResourceClass, job: str, quantity: str) -> dict:
    """A usage record in the importer's JSON format (docs/accounting.md)."""
    return {
        "cluster": rc.system.slug,
        "kind": rc.kind,
        "job_id": job,
        "account": project.code,
        "quantity": quantity,
        "start": f"{YEAR}-02-01T10:00:00+01:00",
        "end": f"{YEAR}-02-01T11:00:00+01:00",
    }


def _invoice(org: Organisation, project: Project | None, amount: str) -> Invoice:
    inv = Invoice.objects.create(
        organisation=org,
        period_start=dt.date(YEAR, 1, 1),
        period_end=dt.date(YEAR, 4, 1),
        total_nok=Decimal(amount),
    )
    InvoiceLine.objects.create(
        invoice=inv,
        project=project,
        description="CPU",
        quantity=Decimal(1),
        unit="core-hours",
        unit_price_nok=Decimal(amount),
        amount_nok=Decimal(amount),
    )
    return inv


def build_world() -> World:
    f.policy()
    betzy = f.system("Betzy")
    cpu = f.resource_class(betzy, units=1000)
    graded = f.system("Graded", zone="graded")
    graded_cpu = f.resource_class(graded, units=100)
    f.price_list("A")
    f.price_list("0")
    f.price_list("C", prices={"cpu": "0.40", "gpu": "40", "storage": "200"})

    uio = f.organisation("research", name="UiO")
    met = f.organisation("public", sector="climate", name="MET")
    fhi = f.organisation("public", sector="health", name="FHI")
    sme = f.organisation("industry", sme=True, name="Fjord AI")
    ops = f.organisation("research", name="Sigma2")

    operator = f.person(ops, "operator", username="operator")
    finance = f.person(ops, "finance", username="finance")
    decision_maker = f.person(ops, "decision_maker", username="minister")
    pi_a = f.person(uio, "pi", username="pi_a")
    pi_b = f.person(uio, "pi", username="pi_b")
    member_a = f.person(uio, "member", username="member_a")
    reviewer_a = f.person(ops, "reviewer", username="reviewer_a")
    reviewer_b = f.person(ops, "reviewer", username="reviewer_b")
    coordinator_climate = f.person(met, "coordinator", username="coord_climate", sector="climate")
    coordinator_health = f.person(fhi, "coordinator", username="coord_health", sector="health")
    industry = f.person(sme, "industry", username="industry")
    met_pi = f.person(met, "pi", username="met_pi")
    fhi_pi = f.person(fhi, "pi", username="fhi_pi")

    proj_a = f.project(uio, pi=pi_a, code="nn0001k")
    proj_a.members.add(member_a)
    proj_b = f.project(uio, pi=pi_b, code="nn0002k")
    proj_met = f.project(met, pi=met_pi, code="met0001", purpose="research_rd")
    proj_fhi = f.project(fhi, pi=fhi_pi, code="fhi0001")
    proj_sme = f.project(sme, pi=industry, purpose="commercial", code="sme0001")

    open_call = f.call(
        "Open call", status=CallStatus.OPEN, period=(dt.date(YEAR, 7, 1), dt.date(YEAR + 1, 1, 1))
    )
    review_call = f.call("Spring call")
    app_a = f.application(review_call, proj_a, {cpu: 100_000})
    app_b = f.application(review_call, proj_b, {cpu: 200_000})
    review_a = Review.objects.create(application=app_a, reviewer=reviewer_a)
    review_b = Review.objects.create(application=app_b, reviewer=reviewer_b)

    alloc_a = f.granted(proj_a, cpu, 50_000)
    alloc_b = f.granted(proj_b, cpu, 60_000)
    importer.import_records(
        [usage_record(proj_a, cpu, "1", "1000"), usage_record(proj_b, cpu, "2", "2000")],
        source="test",
    )

    order_met = SectorOrder.objects.create(
        organisation=met, sector="climate", year=YEAR, ordered_by=coordinator_climate
    )
    SectorOrderLine.objects.create(order=order_met, resource_class=cpu, amount=Decimal(100_000))
    order_fhi = SectorOrder.objects.create(
        organisation=fhi, sector="health", year=YEAR, ordered_by=coordinator_health
    )
    SectorOrderLine.objects.create(order=order_fhi, resource_class=cpu, amount=Decimal(80_000))
    services.confirm_order(order_fhi)

    return World(
        betzy=betzy,
        cpu=cpu,
        graded_cpu=graded_cpu,
        uio=uio,
        met=met,
        fhi=fhi,
        sme=sme,
        operator=operator,
        finance=finance,
        decision_maker=decision_maker,
        pi_a=pi_a,
        pi_b=pi_b,
        member_a=member_a,
        reviewer_a=reviewer_a,
        reviewer_b=reviewer_b,
        coordinator_climate=coordinator_climate,
        coordinator_health=coordinator_health,
        industry=industry,
        met_pi=met_pi,
        fhi_pi=fhi_pi,
        proj_a=proj_a,
        proj_b=proj_b,
        proj_met=proj_met,
        proj_fhi=proj_fhi,
        proj_sme=proj_sme,
        open_call=open_call,
        review_call=review_call,
        app_a=app_a,
        app_b=app_b,
        review_a=review_a,
        review_b=review_b,
        alloc_a=alloc_a,
        alloc_b=alloc_b,
        order_met=order_met,
        order_fhi=order_fhi,
        invoice_uio=_invoice(uio, proj_a, "40.00"),
        invoice_met=_invoice(met, proj_met, "55.50"),
        invoice_fhi=_invoice(fhi, proj_fhi, "12.25"),
        invoice_sme=_invoice(sme, proj_sme, "999.99"),
    )


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Password hashing dominates building a dozen users; the tests do not measure it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def as_user():
    """``as_user(person)``: an API client signed in as that person (token authentication)."""
    from rest_framework.authtoken.models import Token

    def make(person: Person) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=person.user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
