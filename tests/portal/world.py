"""A small world with one person per role (and a second of several, to test isolation)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from regnekraft.accounting import aggregates
from regnekraft.accounting.models import BalanceEvent, Invoice, InvoiceLine, UsageRecord
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
from regnekraft.audit.context import acting_as
from regnekraft.catalog.models import ResourceClass
from regnekraft.parties.models import Person, Project
from tests import factories as f

PASSWORD = "pw-test-123"
YEAR = f.YEAR


@dataclass
class World:
    people: dict[str, Person]
    projects: dict[str, Project]
    cpu: ResourceClass
    gpu: ResourceClass
    open_call: Call
    review_call: Call
    review_app: Application
    other_app: Application
    review: Review
    other_review: Review
    allocation_a: Allocation
    allocation_b: Allocation
    order_health: SectorOrder
    order_climate: SectorOrder
    invoice_a: Invoice
    invoice_b: Invoice


def build() -> World:
    with acting_as("tests"):
        return _build()


def _build() -> World:
    f.policy(economic_cap_share=Decimal("0.2"), research_protected_share=Decimal("0.5"))
    betzy = f.system("Betzy", tier=2)
    cpu = f.resource_class(betzy, kind="cpu", units=10_000)
    saga = f.system("Saga", tier=2)
    gpu = f.resource_class(saga, kind="gpu", units=100, gpu_type="A100")
    f.price_list("A")
    f.price_list("C", prices={"cpu": "0.20", "gpu": "25", "storage": "300"})

    uio = f.organisation("research", name="UiO")
    uib = f.organisation("research", name="UiB")
    hdir = f.organisation("public", sector="health", name="Helsedir")
    met = f.organisation("public", sector="climate", name="MET")
    acme = f.organisation("industry", sme=True, name="Acme AS")
    ops = f.organisation("research", name="Sigma2")

    people = {
        "pi": f.person(uio, "pi", username="pia"),
        "pi_other": f.person(uib, "pi", username="pib"),
        "member": f.person(uio, username="mem"),
        "reviewer": f.person(uib, "reviewer", username="rev"),
        "reviewer_other": f.person(uib, "reviewer", username="rev2"),
        "coordinator": f.person(hdir, "coordinator", username="coord", sector="health"),
        "coordinator_other": f.person(met, "coordinator", username="coord2", sector="climate"),
        "industry": f.person(acme, "industry", "pi", username="ind"),
        "operator": f.person(ops, "operator", username="op"),
        "finance": f.person(ops, "finance", username="fin"),
        "decision_maker": f.person(ops, "decision_maker", username="dm"),
        "nobody": f.person(uio, username="nobody"),
    }
    for p in people.values():
        p.email = f"{p.user.username}@example.no"
        p.save()
    people["member"].email = "member@example.no"
    people["member"].save()
    projects = {
        "a": f.project(uio, pi=people["pi"], code="nn1001k"),
        "b": f.project(uib, pi=people["pi_other"], code="nn2002k"),
        "health": f.project(hdir, pi=people["coordinator"], purpose="admin_rd", code="nn3003k"),
        "climate": f.project(
            met, pi=people["coordinator_other"], purpose="admin_rd", code="nn4004k"
        ),
        "acme": f.project(acme, pi=people["industry"], purpose="commercial", code="nn5005k"),
    }
    projects["a"].title, projects["b"].title = "Ocean model A", "Secret genome B"
    projects["a"].save()
    projects["b"].save()

    decided = f.call("Decided 2027", period=(dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1)))
    app_a = f.application(decided, projects["a"], {cpu: 100_000})
    app_b = f.application(decided, projects["b"], {cpu: 50_000, gpu: 1000})
    grants = services.decide_round(
        decided,
        {
            app_a.pk: {cpu.pk: Decimal(100_000)},
            app_b.pk: {cpu.pk: Decimal(50_000), gpu.pk: Decimal(1000)},
        },
    )
    allocation_a, allocation_b = grants[app_a.pk][0], grants[app_b.pk][0]

    review_call = f.call("Autumn 2027", period=(dt.date(YEAR, 7, 1), dt.date(YEAR + 1, 1, 1)))
    review_app = f.application(review_call, projects["a"], {cpu: 20_000, gpu: 200})
    other_app = f.application(review_call, projects["b"], {cpu: 30_000})
    review = Review.objects.create(application=review_app, reviewer=people["reviewer"])
    other_review = Review.objects.create(application=other_app, reviewer=people["reviewer_other"])
    open_call = f.call(
        "Spring 2028",
        period=(dt.date(YEAR + 1, 1, 1), dt.date(YEAR + 1, 7, 1)),
        status=CallStatus.OPEN,
    )

    order_health = SectorOrder.objects.create(organisation=hdir, sector="health", year=YEAR)
    SectorOrderLine.objects.create(order=order_health, resource_class=cpu, amount=Decimal(200_000))
    services.confirm_order(order_health)
    order_climate = SectorOrder.objects.create(organisation=met, sector="climate", year=YEAR)
    SectorOrderLine.objects.create(order=order_climate, resource_class=cpu, amount=Decimal(150_000))
    services.confirm_order(order_climate)

    now = timezone.now()
    for i, (alloc, qty) in enumerate([(allocation_a, 60_000), (allocation_b, 10_000)]):
        UsageRecord.objects.create(
            source="test",
            cluster="betzy",
            job_id=str(1000 + i),
            project=alloc.project,
            resource_class=alloc.resource_class,
            allocation=alloc,
            start=now - dt.timedelta(hours=5),
            end=now - dt.timedelta(hours=1),
            usage_date=(now - dt.timedelta(hours=1)).date(),
            quantity=Decimal(qty),
            charge_nok=Decimal(qty) * Decimal("0.04"),
        )
    aggregates.rebuild()  # records written directly: sum them as the importer would
    BalanceEvent.objects.create(
        allocation=allocation_a, threshold=Decimal("0.5"), action="warn", used_share=Decimal("0.6")
    )
    invoice_a = Invoice.objects.create(
        organisation=uio,
        period_start=dt.date(YEAR, 1, 1),
        period_end=dt.date(YEAR, 4, 1),
        total_nok=Decimal("2400.00"),
    )
    InvoiceLine.objects.create(
        invoice=invoice_a,
        project=projects["a"],
        description="CPU use nn1001k",
        quantity=Decimal(60_000),
        unit="core-hours",
        unit_price_nok=Decimal("0.04"),
        amount_nok=Decimal("2400.00"),
    )
    invoice_b = Invoice.objects.create(
        organisation=uib,
        period_start=dt.date(YEAR, 1, 1),
        period_end=dt.date(YEAR, 4, 1),
        total_nok=Decimal("400.00"),
    )
    return World(
        people,
        projects,
        cpu,
        gpu,
        open_call,
        review_call,
        review_app,
        other_app,
        review,
        other_review,
        allocation_a,
        allocation_b,
        order_health,
        order_climate,
        invoice_a,
        invoice_b,
    )
