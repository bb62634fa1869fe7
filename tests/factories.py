"""Small builders for tests: one call per domain object, with sane defaults."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model

from regnekraft.allocation.models import (
    Application,
    ApplicationRequest,
    Call,
    CallStatus,
    PolicySettings,
)
from regnekraft.catalog.models import Price, PriceList, ResourceClass, System
from regnekraft.parties.models import Organisation, Person, Project, Role

_seq = itertools.count(1)

YEAR = 2027
H1 = (dt.date(YEAR, 1, 1), dt.date(YEAR, 7, 1))


def policy(**kw) -> PolicySettings:
    s = PolicySettings.current()
    for k, v in kw.items():
        setattr(s, k, v)
    s.save()
    return s


def system(
    name: str | None = None,
    *,
    country: str = "NO",
    zone: str = "open",
    tier: int = 1,
    owner: Organisation | None = None,
    kind: str = "national",
    commissioned: dt.date = dt.date(2020, 1, 1),
    decommissioned: dt.date | None = None,
) -> System:
    n = name or f"sys{next(_seq)}"
    return System.objects.create(
        name=n,
        slug=n.lower(),
        kind=kind,
        operator="Sigma2",
        owner=owner,
        country=country,
        security_zone=zone,
        availability_tier=tier,
        commissioned=commissioned,
        decommissioned=decommissioned,
    )


def resource_class(
    sys: System | None = None,
    *,
    kind: str = "cpu",
    units: Decimal | int = 1000,
    availability: str = "1.0",
    gpu_type: str = "",
) -> ResourceClass:
    return ResourceClass.objects.create(
        system=sys or system(),
        kind=kind,
        installed_units=Decimal(units),
        expected_availability=Decimal(availability),
        gpu_type=gpu_type,
    )


def organisation(
    kind: str = "research", *, sector: str = "", sme: bool = False, name: str | None = None
) -> Organisation:
    n = name or f"Org {next(_seq)}"
    return Organisation.objects.create(
        name=n, short_name=n.replace(" ", "")[:30], kind=kind, sector=sector, is_sme=sme
    )


def person(
    org: Organisation | None = None,
    *roles: str,
    username: str | None = None,
    password: str = "pw-test-123",
    sector: str = "",
) -> Person:
    org = org or organisation()
    username = username or f"user{next(_seq)}"
    user = get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@example.no"
    )
    p = Person.objects.create(
        user=user,
        organisation=org,
        name=username.title(),
        email=user.email,
        slurm_username=username,
    )
    for kind in roles:
        Role.objects.create(person=p, kind=kind, sector=sector if kind == "coordinator" else "")
    return p


def project(
    org: Organisation | None = None,
    *,
    pi: Person | None = None,
    purpose: str = "research_rd",
    sensitivity: int = 0,
    code: str | None = None,
) -> Project:
    org = org or organisation()
    pi = pi or person(org, "pi")
    return Project.objects.create(
        code=code or f"nn{next(_seq):04d}k",
        title="A project",
        organisation=org,
        pi=pi,
        purpose=purpose,
        sensitivity=sensitivity,
    )


def call(
    name: str | None = None,
    *,
    period: tuple[dt.date, dt.date] = H1,
    status: str = CallStatus.REVIEW,
) -> Call:
    return Call.objects.create(
        name=name or f"Call {next(_seq)}",
        opens=period[0] - dt.timedelta(days=90),
        closes=period[0] - dt.timedelta(days=60),
        period_start=period[0],
        period_end=period[1],
        status=status,
    )


def application(
    c: Call, proj: Project, requests: dict[ResourceClass, Decimal | int]
) -> Application:
    app = Application.objects.create(call=c, project=proj, justification="Science.")
    for rc, amount in requests.items():
        ApplicationRequest.objects.create(
            application=app, resource_class=rc, amount=Decimal(amount)
        )
    return app


def price_list(
    category: str = "A",
    *,
    valid_from: dt.date = dt.date(2020, 1, 1),
    prices: dict[str, str] | None = None,
    multipliers: dict[str, str] | None = None,
) -> PriceList:
    pl = PriceList.objects.create(
        category=category,
        name=f"List {category}",
        valid_from=valid_from,
        tier_multipliers=multipliers or {"1": "1", "2": "1.25", "3": "1.6"},
    )
    for kind, price in (prices or {"cpu": "0.04", "gpu": "5.6", "storage": "66.67"}).items():
        Price.objects.create(price_list=pl, kind=kind, unit_price=Decimal(price))
    return pl


def granted(
    proj: Project,
    rc: ResourceClass,
    amount: Decimal | int | str,
    *,
    period: tuple[dt.date, dt.date] = H1,
):
    """An allocation made the only legal way: a call, an application and a decision through the
    services."""
    from regnekraft.allocation import services

    c = call(period=period)
    app = application(c, proj, {rc: Decimal(amount)})
    return services.decide_application(app, {rc.pk: Decimal(amount)})[0]


def invoice(
    org: Organisation,
    project: Project | None,
    period: tuple[dt.date, dt.date],
    *,
    total: str | int,
    lines: int = 1,
):
    """An issued invoice with ``lines`` CPU lines of 1 NOK each (rows for the lists; no run)."""
    from regnekraft.accounting.models import Invoice, InvoiceLine

    inv = Invoice.objects.create(
        organisation=org, period_start=period[0], period_end=period[1], total_nok=Decimal(total)
    )
    for _ in range(lines):
        InvoiceLine.objects.create(
            invoice=inv,
            project=project,
            description="CPU",
            quantity=Decimal(1),
            unit="core-hours",
            unit_price_nok=Decimal(1),
            amount_nok=Decimal(1),
        )
    return inv
