"""A small world with one event of every kind, and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from regnekraft.accounting.models import BalanceEvent
from regnekraft.allocation.models import (
    Call,
    CallStatus,
    ChangeRequest,
    ChangeStatus,
    OrderStatus,
    Review,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.parties.models import Person
from tests import factories as f
from tests.processes import Inbox, free_port

# The world's day: inside the first half of 2027, 21 days before its allocations end.
TODAY = dt.date(2027, 6, 10)


@pytest.fixture
def smtp(settings):
    """A running SMTP server on 127.0.0.1 that the mail backend sends to."""
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _site(settings):
    settings.REGNEKRAFT_SITE_URL = "https://regnekraft.example.no"


@dataclass
class World:
    pi: Person
    other_pi: Person
    reviewer: Person
    coordinator: Person
    operator: Person
    projects: list = field(default_factory=list)
    allocations: list = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def person(org, *roles, language="nb", **kw) -> Person:
    p = f.person(org, *roles, **kw)
    p.language = language
    p.save(update_fields=["language"])
    return p


def build(n: int = 1, *, language: str = "nb") -> World:
    """``n`` projects, each with a warning and a block, a decided application, a decided change
    request, a reviewer assigned and an invoice; one open call, one closing call and one
    confirmed sector order."""
    research = f.organisation()
    rc = f.resource_class(units=10_000_000)
    w = World(
        pi=person(research, "pi", language=language),
        other_pi=person(research, "pi", language="en"),
        reviewer=person(research, "reviewer"),
        coordinator=person(
            f.organisation("public", sector="health"), "coordinator", sector="health"
        ),
        operator=person(research, "operator", language="en"),
    )
    w.extra["rc"] = rc
    add_projects(w, n)
    # other_pi leads a project (so the calls reach them) with nothing else going on.
    f.project(research, pi=w.other_pi)
    opening = f.call("Opening call", period=(dt.date(2028, 1, 1), dt.date(2028, 7, 1)))
    closing = f.call("Closing call", period=(dt.date(2027, 9, 1), dt.date(2028, 3, 1)))
    Call.objects.filter(pk=opening.pk).update(
        status=CallStatus.OPEN,
        opens=TODAY - dt.timedelta(days=1),
        closes=TODAY + dt.timedelta(days=30),
    )
    Call.objects.filter(pk=closing.pk).update(
        status=CallStatus.OPEN,
        opens=TODAY - dt.timedelta(days=40),
        closes=TODAY + dt.timedelta(days=3),
    )
    order = SectorOrder.objects.create(
        organisation=w.coordinator.organisation,
        sector="health",
        year=2027,
        status=OrderStatus.CONFIRMED,
        ordered_by=w.coordinator,
    )
    SectorOrderLine.objects.create(order=order, resource_class=rc, amount=Decimal(500))
    w.extra["order"] = order
    return w


def add_projects(w: World, n: int) -> None:
    """``n`` more projects (the first one the world's PI's), each in its own organisation with
    a warning and a block, a decided application, a decided change request, a reviewer
    assigned and an invoice."""
    rc = w.extra["rc"]
    for _ in range(n):
        mine = not w.projects
        project = f.project(
            w.pi.organisation if mine else f.organisation(), pi=w.pi if mine else None
        )
        allocation = f.granted(project, rc, 1000)
        w.projects.append(project)
        w.allocations.append(allocation)
        BalanceEvent.objects.create(
            allocation=allocation,
            threshold=Decimal("0.8"),
            action=BalanceEvent.Action.WARN,
            used_share=Decimal("0.82"),
        )
        BalanceEvent.objects.create(
            allocation=allocation,
            threshold=Decimal("1"),
            action=BalanceEvent.Action.BLOCK,
            used_share=Decimal("1.01"),
        )
        ChangeRequest.objects.create(
            allocation=allocation,
            kind="increase",
            amount=Decimal(100),
            reason="More science.",
            status=ChangeStatus.REJECTED,
            decision_note="Not this round.",
            requested_by=project.pi,
        )
        Review.objects.create(application=allocation.application, reviewer=w.reviewer)
        f.invoice(
            project.organisation, project, (dt.date(2027, 5, 1), dt.date(2027, 6, 1)), total=1
        )


@pytest.fixture
def world(db) -> World:
    return build()
