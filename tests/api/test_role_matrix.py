"""Role x endpoint matrix: for every role and every API route and method, who gets past the
permission check.

The routes come from the OpenAPI schema (``/api/schema/``), so a new endpoint without a row in
``EXPECTED`` fails ``test_the_table_covers_every_route_in_the_schema``. The table is derived from
docs/api.md and the role checks in the services (``regnekraft/parties/actors.py`` calls).

How a request is judged:

- **allowed**: the answer is neither 401, 403 nor 404. For writes the body is a valid one
  (see ``_body``), so the request reaches the domain service and its role check; a 400 or 409
  from a rule still proves the role got past the permission check. For reads, allowed means 200.
- **denied**: 401 (anonymous), 403 (the role may not) or 404 (the object is not among those the
  role may see, docs/api.md: "An object you may not see answers 404").

Every request runs in a savepoint that is rolled back, so each one sees the same world and
nothing a write does (a delete, a decision) changes what the next request finds.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from regnekraft.accounting.models import UsageRecord
from regnekraft.allocation import changes, colocation, services
from regnekraft.allocation.models import ExternalCapacity, SectorOrder, SectorOrderLine
from regnekraft.catalog.models import System
from regnekraft.ops.models import JobRun, Schedule
from regnekraft.parties.actors import SYSTEM
from regnekraft.slurm.models import SyncRun
from tests import factories as f

from .conftest import YEAR, World, build_world

ROLES = (
    "operator",
    "finance",
    "decision_maker",
    "pi",
    "member",
    "reviewer",
    "coordinator",
    "industry",
    "anonymous",
)
# The person in build_world() who plays each role.
PERSON = {
    "operator": "operator",
    "finance": "finance",
    "decision_maker": "decision_maker",
    "pi": "pi_a",
    "member": "member_a",
    "reviewer": "reviewer_a",
    "coordinator": "coordinator_climate",
    "industry": "industry",
}

SIGNED_IN = frozenset(ROLES) - {"anonymous"}
NOBODY: frozenset[str] = frozenset()
OPERATOR = frozenset({"operator"})
SEE_ALL = frozenset({"operator", "finance", "decision_maker"})


def roles(*names: str) -> frozenset[str]:
    unknown = set(names) - set(ROLES)
    assert not unknown, unknown
    return frozenset(names)


# route -> method -> the roles allowed. The objects behind {id} are in _objects(): pi_a's
# project nn0001k, its application and review in the spring call (in review), its allocation,
# MET's draft sector order (the climate coordinator's), UiO's invoice, and so on.
COORD = roles("operator", "coordinator")  # the climate coordinator, for MET's objects
PI = roles("operator", "pi")  # pi_a, for nn0001k and what hangs on it
PROJECT_A = SEE_ALL | roles("pi", "member")  # who sees nn0001k and what hangs on it
FINANCE = roles("operator", "finance")
EVERYONE = SIGNED_IN  # every signed-in role (lists are filtered by access.py, never refused)

EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "/api/me/": {"GET": EVERYONE},
    "/api/token/": {"POST": frozenset(ROLES), "DELETE": EVERYONE},
    # the catalogue: everyone reads, operators keep it
    "/api/systems/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/systems/{id}/": {"GET": EVERYONE, "PUT": OPERATOR, "PATCH": OPERATOR, "DELETE": OPERATOR},
    "/api/resource-classes/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/resource-classes/{id}/": {
        "GET": EVERYONE,
        "PUT": OPERATOR,
        "PATCH": OPERATOR,
        "DELETE": OPERATOR,
    },
    "/api/resource-classes/{id}/capacity/": {"GET": EVERYONE},
    "/api/catalogue/": {"GET": EVERYONE},
    "/api/catalogue/{id}/": {"GET": EVERYONE},
    "/api/price-lists/": {"GET": EVERYONE, "POST": FINANCE},
    "/api/price-lists/{id}/": {
        "GET": EVERYONE,
        "PUT": FINANCE,
        "PATCH": FINANCE,
        "DELETE": FINANCE,
    },
    # parties: UiO, its person member_a, pi_a's project nn0001k
    "/api/organisations/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/organisations/{id}/": {
        "GET": PROJECT_A,
        "PUT": OPERATOR,
        "PATCH": OPERATOR,
        "DELETE": OPERATOR,
    },
    "/api/people/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/people/{id}/": {"GET": PROJECT_A, "PUT": OPERATOR, "PATCH": OPERATOR, "DELETE": OPERATOR},
    "/api/roles/": {"GET": OPERATOR, "POST": OPERATOR},
    "/api/roles/{id}/": {"GET": OPERATOR, "DELETE": OPERATOR},
    "/api/projects/": {"GET": EVERYONE, "POST": PI},
    # a PI changes only title and description (PATCH); a PUT sends every field, so only operators
    "/api/projects/{id}/": {"GET": PROJECT_A, "PUT": OPERATOR, "PATCH": PI, "DELETE": OPERATOR},
    "/api/projects/{id}/members/": {"POST": PI},
    "/api/projects/{id}/members/{person_id}/": {"DELETE": PI},
    # calls and the round: the spring call, in review
    "/api/calls/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/calls/{id}/": {"GET": EVERYONE, "PUT": OPERATOR, "PATCH": OPERATOR, "DELETE": OPERATOR},
    "/api/calls/{id}/decide/": {"POST": OPERATOR},
    "/api/calls/{id}/proposal/": {"GET": OPERATOR},
    "/api/calls/{id}/simulation/": {
        "GET": roles("operator", "decision_maker"),
        "POST": roles("operator", "decision_maker"),
    },
    # applications: pi_a's in the spring call (reviewer_a is assigned to it)
    "/api/applications/": {"GET": EVERYONE, "POST": PI},
    "/api/applications/{id}/": {"GET": PROJECT_A | roles("reviewer"), "PUT": PI, "PATCH": PI},
    "/api/applications/{id}/decide/": {"POST": OPERATOR},
    "/api/applications/{id}/withdraw/": {"POST": PI},
    # reviews: reviewer_a's; operators assign and remove, only the reviewer fills it in
    "/api/reviews/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/reviews/{id}/": {
        "GET": roles("operator", "decision_maker", "reviewer"),
        "PATCH": roles("reviewer"),
        "DELETE": OPERATOR,
    },
    "/api/allocations/": {"GET": EVERYONE},
    "/api/allocations/{id}/": {"GET": PROJECT_A},
    # sector orders: MET's draft (climate); sub-allocations from MET's confirmed order of next year
    "/api/sector-orders/": {"GET": EVERYONE, "POST": COORD},
    "/api/sector-orders/{id}/": {"GET": SEE_ALL | COORD, "PUT": COORD, "PATCH": COORD},
    "/api/sector-orders/{id}/confirm/": {"POST": COORD},
    "/api/sector-orders/{id}/cancel/": {"POST": COORD},
    "/api/sub-allocations/": {"GET": EVERYONE, "POST": COORD},
    "/api/sub-allocations/{id}/": {"GET": SEE_ALL | COORD},
    # purchases: Fjord AI's project
    "/api/purchases/": {"GET": EVERYONE, "POST": roles("operator", "industry")},
    "/api/purchases/{id}/": {"GET": SEE_ALL | roles("industry")},
    # change requests: on pi_a's allocation; operators decide
    "/api/change-requests/": {"GET": EVERYONE, "POST": PI},
    "/api/change-requests/{id}/": {"GET": PROJECT_A},
    "/api/change-requests/{id}/decide/": {"POST": OPERATOR},
    # co-location: UiO's rack and its grant to nn0001k
    "/api/colocated-equipment/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/colocated-equipment/{id}/": {
        "GET": PROJECT_A,
        "PUT": OPERATOR,
        "PATCH": OPERATOR,
        "DELETE": OPERATOR,
    },
    "/api/colocation-grants/": {"GET": EVERYONE, "POST": OPERATOR},
    "/api/colocation-grants/{id}/": {"GET": PROJECT_A},
    # external capacity: MET's
    "/api/external-capacity/": {"GET": EVERYONE, "POST": COORD},
    "/api/external-capacity/{id}/": {
        "GET": SEE_ALL | COORD,
        "PUT": COORD,
        "PATCH": COORD,
        "DELETE": COORD,
    },
    "/api/policy/settings/": {"GET": EVERYONE, "PUT": OPERATOR, "PATCH": OPERATOR},
    # a dry run for nn0001k: anyone who sees the project
    "/api/policy/check/": {"POST": PROJECT_A},
    # accounting: UiO's invoice (pi_a sees their project's lines on it)
    "/api/usage/": {"GET": EVERYONE},
    "/api/usage/{id}/": {"GET": PROJECT_A},
    "/api/usage/import/": {"POST": OPERATOR},
    "/api/balances/": {"GET": EVERYONE},
    "/api/invoices/": {"GET": EVERYONE},
    "/api/invoices/{id}/": {"GET": FINANCE | roles("pi")},
    "/api/invoices/issue/": {"POST": FINANCE},
    "/api/invoices/preview/": {"GET": FINANCE},
    "/api/reports/capacity/": {"GET": SEE_ALL},
    "/api/reports/groups/": {"GET": SEE_ALL},
    "/api/reports/economic-share/": {"GET": SEE_ALL},
    "/api/reports/research-share/": {"GET": SEE_ALL},
    "/api/reports/unallocated/": {"GET": SEE_ALL},
    "/api/audit/": {"GET": OPERATOR},
    "/api/audit/{id}/": {"GET": OPERATOR},
    "/api/slurm/runs/": {"GET": OPERATOR},
    "/api/slurm/runs/{id}/": {"GET": OPERATOR},
    # the worker's record and the schedule: operators only
    "/api/job-runs/": {"GET": OPERATOR},
    "/api/job-runs/{id}/": {"GET": OPERATOR},
    "/api/schedules/": {"GET": OPERATOR},
    "/api/schedules/{id}/": {"GET": OPERATOR, "PATCH": OPERATOR},
    "/api/schedules/{id}/run/": {"POST": OPERATOR},
    "/api/workers/": {"GET": OPERATOR},
    "/api/planning/plan/": {"GET": SEE_ALL},
    "/api/planning/economics/": {"GET": SEE_ALL},
}
# GETs whose required query is not given here (a replay of a trace is too slow for this test):
# their 400 still shows the role got past the check.
READ_400_IS_ALLOWED = {"/api/calls/{id}/simulation/"}


def _objects(w: World) -> dict[str, object]:
    """The object behind ``{id}`` for each route prefix (and what the bodies refer to)."""
    bought = services.purchase(
        w.proj_sme, w.cpu, Decimal(100), dt.date(YEAR, 1, 1), dt.date(YEAR, 7, 1)
    )
    change = changes.request_change(
        SYSTEM, w.alloc_a, kind="increase", amount=Decimal(1000), new_end=None, reason="more"
    )
    external = ExternalCapacity.objects.create(
        organisation=w.met,
        provider="LUMI",
        country="FI",
        kind="cpu",
        amount=Decimal(1000),
        cost_nok=Decimal(10),
        start=dt.date(YEAR, 1, 1),
        end=dt.date(YEAR + 1, 1, 1),
    )
    # UiO's rack, co-located, with a grant to pi_a's project; a second rack not yet registered
    rack = f.system("Rack", kind="colocated", owner=w.uio)
    rack_cpu = f.resource_class(rack, units=10)
    f.price_list("B")  # co-location is category B
    f.system("Rack2", kind="colocated", owner=w.uio)
    equipment = colocation.register_equipment(
        SYSTEM,
        system=rack,
        hosting_fee_nok_per_month=Decimal(10),
        contract_start=dt.date(2020, 1, 1),
    )
    colocated = colocation.grant_colocated(
        SYSTEM, w.proj_a, rack_cpu, Decimal(10), dt.date(YEAR, 1, 1), dt.date(YEAR, 7, 1)
    )
    # MET's confirmed order for next year, for the climate coordinator's sub-allocation
    met_next = SectorOrder.objects.create(
        organisation=w.met, sector="climate", year=YEAR + 1, ordered_by=w.coordinator_climate
    )
    SectorOrderLine.objects.create(order=met_next, resource_class=w.cpu, amount=Decimal(1000))
    services.confirm_order(met_next)
    sub = services.sub_allocate(met_next.lines.get(), w.proj_met, Decimal(100))
    run = SyncRun.objects.create(cluster=w.betzy.slug, mode=SyncRun.Mode.PLAN, ok=True)
    now = dt.datetime.now(dt.UTC)
    schedule = Schedule.objects.create(
        name="balances", job="balances", cron="0 * * * *", next_run_at=now
    )
    job_run = JobRun.objects.create(
        job="balances",
        schedule=schedule,
        task_id="t1",
        worker="w1",
        status="succeeded",
        started_at=now,
    )
    return {
        "rack2": System.objects.get(slug="rack2"),
        "met_next_year": met_next,
        "rack_cpu": rack_cpu,
        "colocated-equipment": equipment,
        "colocation-grants": colocated,
        "slurm/runs": run,
        "schedules": schedule,
        "job-runs": job_run,
        "systems": w.betzy,
        "resource-classes": w.cpu,
        "catalogue": w.cpu,
        "organisations": w.uio,
        "people": w.member_a,
        "projects": w.proj_a,
        "calls": w.review_call,
        "applications": w.app_a,
        "reviews": w.review_a,
        "allocations": w.alloc_a,
        "usage": UsageRecord.objects.get(project=w.proj_a),  # pi_a's, whatever the list's order
        "sector-orders": w.order_met,
        "sub-allocations": sub,
        "purchases": bought,
        "change-requests": change,
        "external-capacity": external,
        "invoices": w.invoice_uio,
    }


MISSING_ID = 999_999_999


def _paths(client: APIClient) -> dict[str, list[str]]:
    schema = client.get("/api/schema/", {"format": "json"}).json()
    methods = ("get", "post", "put", "patch", "delete")
    return {path: [m.upper() for m in ops if m in methods] for path, ops in schema["paths"].items()}


def _prefix(route: str) -> str:
    """``/api/slurm/runs/{id}/`` -> ``slurm/runs``."""
    return route.removeprefix("/api/").split("/{")[0].rstrip("/")


def _day(month: int, year: int = YEAR) -> str:
    return dt.date(year, month, 1).isoformat()


def _bodies(w: World, objects: dict) -> dict[tuple[str, str], dict]:
    """Valid bodies for the writes that need more than a copy of the object."""
    period = {"start": _day(1), "end": _day(7)}
    return {
        ("POST", "/api/applications/"): {
            "call": w.open_call.pk,
            "project": w.proj_a.pk,
            "justification": "More science.",
            "requests": [{"resource_class": w.cpu.pk, "amount": "1000"}],
        },
        ("POST", "/api/applications/{id}/decide/"): {"grants": []},
        ("POST", "/api/calls/"): {
            "name": "Autumn call",
            "opens": _day(1),
            "closes": _day(2),
            "period_start": _day(1, YEAR + 1),
            "period_end": _day(7, YEAR + 1),
        },
        ("POST", "/api/calls/{id}/decide/"): {"grants": []},
        ("POST", "/api/change-requests/"): {
            "allocation": w.alloc_a.pk,
            "kind": "increase",
            "amount": "10",
            "reason": "more",
        },
        ("POST", "/api/change-requests/{id}/decide/"): {"approve": False},
        ("POST", "/api/colocated-equipment/"): {
            "system": objects["rack2"].pk,
            "hosting_fee_nok_per_month": "10",
            "contract_start": _day(1),
        },
        ("POST", "/api/colocation-grants/"): {
            "project": w.proj_a.pk,
            "resource_class": objects["rack_cpu"].pk,
            "amount": "10",
            **period,
        },
        ("POST", "/api/external-capacity/"): {
            "organisation": w.met.pk,
            "provider": "LUMI",
            "country": "FI",
            "kind": "cpu",
            "amount": "10",
            "cost_nok": "1",
            **period,
        },
        ("POST", "/api/invoices/issue/"): {"period_start": _day(1), "period_end": _day(2)},
        ("POST", "/api/organisations/"): {"name": "Nytt", "short_name": "NY", "kind": "research"},
        ("POST", "/api/people/"): {
            "username": "newcomer",
            "name": "New Comer",
            "email": "new@example.org",
            "organisation": w.uio.pk,
        },
        ("POST", "/api/policy/check/"): {
            "project": w.proj_a.pk,
            "resource_class": w.cpu.pk,
            "amount": "10",
            **period,
        },
        ("POST", "/api/price-lists/"): {"category": "B", "name": "B", "valid_from": _day(1)},
        ("POST", "/api/projects/"): {"code": "nn0099k", "title": "New"},
        ("POST", "/api/projects/{id}/members/"): {"username": w.pi_b.user.username},
        ("POST", "/api/purchases/"): {
            "project": w.proj_sme.pk,
            "resource_class": w.cpu.pk,
            "amount": "10",
            **period,
        },
        ("POST", "/api/resource-classes/"): {
            "system": w.betzy.pk,
            "kind": "storage",
            "installed_units": 10,
        },
        ("POST", "/api/reviews/"): {"application": w.app_a.pk, "reviewer": w.reviewer_b.pk},
        ("POST", "/api/roles/"): {"person": w.member_a.pk, "kind": "reviewer"},
        ("POST", "/api/sector-orders/"): {
            "organisation": w.met.pk,
            "year": YEAR,
            "lines": [{"resource_class": w.cpu.pk, "amount": "1000"}],
        },
        ("POST", "/api/sub-allocations/"): {
            "order_line": objects["met_next_year"].lines.get().pk,
            "project": w.proj_met.pk,
            "amount": "10",
        },
        ("POST", "/api/systems/"): {
            "name": "Nova",
            "slug": "nova",
            "kind": "national",
            "operator": w.uio.pk,
            "country": "NO",
            "commissioned": _day(1),
        },
        ("POST", "/api/usage/import/"): {"source": "matrix", "records": []},
        ("PATCH", "/api/schedules/{id}/"): {"enabled": False},
    }


# Query strings that keep a read cheap or give it what it needs.
QUERY = {
    "/api/invoices/preview/": lambda w: {
        "organisation": w.uio.pk,
        "start": _day(1),
        "end": _day(2),
    },
    "/api/planning/economics/": lambda w: {"runs": 0},
}


def _first_id(operator: APIClient, prefix: str) -> int:
    answer = operator.get(f"/api/{prefix}/").json()
    rows = answer.get("results", answer) if isinstance(answer, dict) else answer
    return rows[0]["id"] if rows else MISSING_ID


class Probe:
    """Sends each route's requests as one role, each in a rolled-back savepoint."""

    def __init__(self, world: World, as_user):
        self.w = world
        self.operator = as_user(world.operator)
        self.objects = _objects(world)
        self.bodies = _bodies(world, self.objects)
        self.as_user = as_user
        self._ids: dict[str, int] = {}

    def object_id(self, prefix: str) -> int:
        if prefix not in self._ids:
            obj = self.objects.get(prefix)
            self._ids[prefix] = obj.pk if obj is not None else _first_id(self.operator, prefix)
        return self._ids[prefix]

    def url(self, route: str) -> str:
        url = route
        if "{id}" in url:
            url = url.replace("{id}", str(self.object_id(_prefix(route))))
        return url.replace("{person_id}", str(self.w.member_a.pk))

    def body(self, method: str, route: str, url: str) -> dict:
        if (method, route) in self.bodies:
            return self.bodies[(method, route)]
        if method == "PUT":
            # the object as the operator reads it: a valid full update that changes nothing
            return self.operator.get(url).json()
        return {}

    def client(self, role: str) -> APIClient:
        if role == "anonymous":
            return APIClient()
        return self.as_user(self.w.by_role(PERSON[role]))

    def send(self, client: APIClient, method: str, route: str):
        url = self.url(route)
        with transaction.atomic():
            if method == "GET":
                query = QUERY.get(route, lambda w: {})(self.w)
                response = client.get(url, query, HTTP_ACCEPT_LANGUAGE="en")
            else:
                body = self.body(method, route, url)
                response = getattr(client, method.lower())(
                    url, body, format="json", HTTP_ACCEPT_LANGUAGE="en"
                )
            transaction.set_rollback(True)
        return response


DENIED = {401, 403, 404}
# DRF's answer for a related id outside the field's queryset (in English and bokmål)
INVISIBLE = (b"object does not exist", b"objektet eksisterer ikke")


def _judge(method: str, route: str, response) -> bool:
    """Did the role get past the permission check?"""
    status = response.status_code
    assert status < 500, f"server error {status}: {response.content[:500]!r}"
    if method == "GET" and route not in READ_400_IS_ALLOWED:
        return status == 200
    if status == 400 and any(text in response.content for text in INVISIBLE):
        # the body names an object this role may not see: the serializer's queryset comes from
        # access.py, so this is the 404 of a body field
        return False
    return status not in DENIED


@pytest.mark.django_db
def test_the_table_covers_every_route_in_the_schema():
    schema = {(route, m) for route, methods in _paths(APIClient()).items() for m in methods}
    table = {(route, m) for route, methods in EXPECTED.items() for m in methods}
    assert schema - table == set(), "routes without an expectation in EXPECTED"
    assert table - schema == set(), "expectations for routes the schema does not have"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(role, as_user):
    world = build_world()
    probe = Probe(world, as_user)
    client = probe.client(role)
    wrong = []
    for route, methods in sorted(_paths(APIClient()).items()):
        for method in methods:
            response = probe.send(client, method, route)
            allowed = _judge(method, route, response)
            expected = role in EXPECTED.get(route, {}).get(method, NOBODY)
            if allowed != expected:
                wrong.append(
                    f"{method} {route}: {response.status_code} {response.content[:200]!r}, "
                    f"expected {'allowed' if expected else 'denied'}"
                )
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
