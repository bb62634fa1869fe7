"""Build the national data set through the services (the plan: ``world.py``; the usage:
``usage.py``). :func:`build` returns a summary and records it in the audit log
(:func:`recorded`), so a benchmark can tell what the database holds."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction

from regnekraft import demo
from regnekraft.accounting import pricelists
from regnekraft.allocation import bulk as allocation_bulk
from regnekraft.allocation import calls, orders, purchases
from regnekraft.allocation import round as rounds
from regnekraft.allocation.models import (
    Allocation,
    Application,
    CallStatus,
    PolicySettings,
    Review,
)
from regnekraft.allocation.policy import remaining
from regnekraft.audit import log as audit
from regnekraft.audit.context import acting_as
from regnekraft.audit.models import AuditEntry
from regnekraft.catalog import editing
from regnekraft.catalog.models import ResourceClass, System
from regnekraft.parties import bulk as parties_bulk
from regnekraft.parties import people as people_services
from regnekraft.parties.actors import SYSTEM
from regnekraft.parties.models import Organisation, Person, Project

from . import usage, world

D = Decimal
NOTE = "national-demo"
CLUSTERS = ("betzy", "saga", "fram", "olivia")
STORAGE = "nird"
WINDOW = usage.WINDOW  # the year of usage: 1 Oct 2025 - 1 Oct 2026
_d = dt.date
ROUNDS = [  # name, opens, closes, period
    ("2025.2", _d(2025, 6, 1), _d(2025, 8, 15), (_d(2025, 10, 1), _d(2026, 4, 1))),
    ("2026.1", _d(2025, 11, 1), _d(2026, 2, 15), (_d(2026, 4, 1), _d(2026, 10, 1))),
]
YEARS = (2025, 2026)  # sector orders are per calendar year; the usage year touches both
# Research requests: (system, kind, chance an application asks for it, weight among clusters)
CPU_CHOICE = [("betzy", 0.5), ("olivia", 0.25), ("fram", 0.15), ("saga", 0.10)]
GPU_CHOICE = [("olivia", 0.65), ("saga", 0.35)]
DEMAND = 1.3  # research asks for 1.3 times what is free, so the optimiser chooses
CHUNK = 2000  # items per bulk service call (one transaction each)
STAGES = [
    "database",
    "catalogue",
    "organisations",
    "people",
    "projects",
    "members",
    "sector orders",
    "purchases",
    "round 2025.2",
    "round 2026.1",
    "usage files",
    "usage import",
]


class NationalExists(ValidationError):
    """The database already holds a national data set."""


def _migrated() -> bool:
    return AuditEntry._meta.db_table in connection.introspection.table_names()


def recorded() -> dict | None:
    """The summary the last national build recorded in this database, or None."""
    if not _migrated():
        return None
    entry = AuditEntry.objects.filter(action=NOTE).order_by("-id").first()
    return entry.after if entry is not None else None


def exists() -> bool:
    """Whether this database holds a national data set (its build is recorded)."""
    return _migrated() and AuditEntry.objects.filter(action=NOTE).exists()


class _Progress:
    """One bar for the stages; a second for the items of the stage at hand."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.seconds: dict[str, float] = {}
        if enabled:
            import sys

            from tqdm import tqdm

            self._tqdm = tqdm
            self.stages = tqdm(total=len(STAGES), desc="national", unit=" stage", file=sys.stderr)
        self.bar: Any = None

    @contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "") -> Iterator[_Progress]:
        began = time.perf_counter()
        if self.enabled:
            import sys

            self.stages.set_description(f"national: {name}")
            self.bar = self._tqdm(
                total=total, desc=f"  {name}", unit=unit, leave=False, file=sys.stderr
            )
        try:
            yield self
        finally:
            self.seconds[name] = round(time.perf_counter() - began, 2)
            if self.enabled:
                self.bar.close()
                self.bar = None
                self.stages.update(1)

    def step(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def to(self, done: int, total: int | None) -> None:
        if self.bar is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.enabled:
            self.stages.close()


def build(
    fraction: float = 1.0,
    seed: int = 2026,
    progress: bool = True,
    *,
    rebuild: bool = False,
    fresh: bool = True,
    usage_dir: str | Path | None = None,
) -> dict:
    """Build the national data set (``fraction`` of it) on the configured database.

    Refuses with :class:`NationalExists` when the database already holds one, unless
    ``rebuild``. ``fresh`` empties the database first, as ``regnekraft demo`` does (the tests
    build on their empty test database without). ``usage_dir`` keeps the monthly CSV files
    there (default: a temporary folder, removed). Returns the summary it records.
    """
    scale = world.Scale.of(fraction)
    if exists() and not rebuild:
        was = recorded() or {}
        raise NationalExists(
            f"the database already holds the national data set (fraction {was.get('fraction')}, "
            f"seed {was.get('seed')}, built {was.get('built')}); use it as it is, or rebuild it "
            "(regnekraft demo --scale national --rebuild)"
        )
    bar = _Progress(bool(progress))
    began = time.perf_counter()
    quiet = logging.getLogger("regnekraft")  # the services log each write; thousands here
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with bar.stage("database"):
            if fresh or rebuild:
                call_command("migrate", verbosity=0)
                _check_pending_constraints()
                call_command("flush", interactive=False, verbosity=0)
        plan = world.plan(fraction, seed)
        rng = np.random.default_rng(seed + 1)
        with acting_as("demo"), _quick_commits():
            built = _build(plan, rng, bar, usage_dir)
    finally:
        bar.close()
        quiet.setLevel(level)
    summary = {
        "scale": "national",
        "fraction": fraction,
        "seed": seed,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "password": demo.PASSWORD,
        "sign_ins": {u: roles[0] for u, _, _, roles, _ in demo.PEOPLE},
        "planned": {"projects": scale.projects, "users": scale.users, "records": scale.records},
        **built,
        "seconds": bar.seconds,
        "total_seconds": round(time.perf_counter() - began, 2),
    }
    with acting_as("demo"), transaction.atomic():
        audit.note(NOTE, PolicySettings.current(), summary)
    return summary


def _check_pending_constraints() -> None:
    """Inside a transaction (a test), PostgreSQL refuses to TRUNCATE tables whose deferred
    foreign-key checks are still pending; run them now, so the flush can go ahead."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def _quick_commits() -> Iterator[None]:
    """Each service call commits on its own (one transaction around thousands of them would
    hold thousands of savepoints, and PostgreSQL's visibility checks slow down with every
    one); on PostgreSQL without waiting for the disk at each commit: a crash can lose the last
    commits of a demo build, never corrupt it, and the build is started afresh anyway."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SET synchronous_commit = on")


def _build(plan: world.World, rng: np.random.Generator, bar: _Progress, usage_dir) -> dict:
    with bar.stage("catalogue"), transaction.atomic():
        classes = _catalogue()
        _price_lists()
    with bar.stage("organisations", len(plan.organisations)), transaction.atomic():
        orgs = {}
        for o in plan.organisations:
            orgs[o.short_name] = people_services.save_organisation(
                SYSTEM,
                short_name=o.short_name,
                name=o.name,
                kind=o.kind,
                sector=o.sector,
                is_sme=o.is_sme,
                is_bott=o.is_bott,
            )
            bar.step()
    with bar.stage("people", len(plan.people), " people"):
        people = _people(plan, orgs, bar)
    with bar.stage("projects", len(plan.projects), " projects"):
        projects = {}
        for chunk in _chunks(plan.projects):
            made = parties_bulk.create_projects(
                SYSTEM,
                [
                    {
                        "code": p.code,
                        "title": p.title,
                        "organisation": orgs[p.organisation],
                        "pi": people[p.pi],
                        "purpose": p.purpose,
                        "sensitivity": p.sensitivity,
                    }
                    for p in chunk
                ],
            )
            projects.update((project.code, project) for project in made)
            bar.step(len(chunk))
    memberships = [(projects[p.code], people[u]) for p in plan.projects for u in p.members]
    n_members = len(memberships)
    with bar.stage("members", n_members, " members"):
        for chunk in _chunks(memberships):
            parties_bulk.add_members(SYSTEM, chunk)
            bar.step(len(chunk))
    with bar.stage("sector orders", len(plan.sectors) * len(YEARS)), transaction.atomic():
        n_orders = _sector_orders(plan, orgs, people, projects, classes, rng, bar)
    industry = [p for p in plan.projects if p.group == "industry"]
    with bar.stage("purchases", len(industry)), transaction.atomic():
        for i, p in enumerate(industry):
            _purchase(projects[p.code], classes, i, len(industry), bar)
    rounds_out = []
    reviewers = [
        (people[p.username], p.username, p.organisation)
        for p in plan.people
        if "reviewer" in p.roles
    ]
    for name, opens, closes, period in ROUNDS:
        research = [p for p in plan.projects if p.group == "research"]
        with bar.stage(f"round {name}", len(research), " applications"):
            rounds_out.append(
                _round(
                    name,
                    opens,
                    closes,
                    period,
                    research,
                    projects,
                    people,
                    reviewers,
                    classes,
                    rng,
                    bar,
                )
            )
    files = usage.generate_and_import(rng, bar, usage_dir, records=plan.scale.records)
    return {
        "systems": System.objects.count(),
        "clusters": list(CLUSTERS),
        "resource_classes": ResourceClass.objects.count(),
        "organisations": Organisation.objects.count(),
        "sectors": plan.sectors,
        "people": Person.objects.count(),
        "projects": Project.objects.count(),
        "memberships": n_members,
        "sector_orders": n_orders,
        "applications": Application.objects.count(),
        "allocations": Allocation.objects.count(),
        "rounds": rounds_out,
        "usage": files,
    }


def _catalogue() -> dict[tuple[str, str], ResourceClass]:
    wanted = {*CLUSTERS, STORAGE}
    classes = {}
    for row in demo.SYSTEMS:
        name, slug, kind, operator, country, zone, tier, start, end, power, source, rcs = row
        if slug not in wanted:
            continue
        system = editing.save_system(
            SYSTEM,
            name=name,
            slug=slug,
            kind=kind,
            operator=operator,
            country=country,
            security_zone=zone,
            availability_tier=tier,
            commissioned=start,
            decommissioned=end,
            power_kw=D(power),
            source=source,
            description=f"{name}: {source}",
        )
        for rkind, gpu, units, availability in rcs:
            classes[(slug, rkind)] = editing.save_resource_class(
                SYSTEM,
                system=system,
                kind=rkind,
                gpu_type=gpu,
                installed_units=D(units),
                expected_availability=D(availability),
                public_description=f"{name} {gpu or ''} {rkind}".replace("  ", " "),
            )
    return classes


def _price_lists() -> None:
    """The demo's price lists (Sigma2's category A; B, C, D and 0 demo figures), published."""
    lists = {
        "A": ({"cpu": "0.04", "gpu": "5.6", "storage": "66.6667", "node": "5.12"}, "0"),
        "B": ({"cpu": "0.10", "gpu": "14", "storage": "120", "node": "12.8"}, "0"),
        "C": ({"cpu": "0.35", "gpu": "28", "storage": "200", "node": "45"}, "0"),
        "D": ({"cpu": "0.12", "gpu": "16", "storage": "120", "node": "15"}, "0"),
        "0": ({"cpu": "0.04", "gpu": "5.6", "storage": "66.6667", "node": "5.12"}, "50000"),
    }
    for category, (prices, allowance) in lists.items():
        pricelists.publish_price_list(
            SYSTEM,
            category=category,
            name=f"Category {category} 2025/26",
            valid_from=dt.date(2025, 1, 1),
            tier_multipliers={"1": "1.0", "2": "1.25", "3": "1.6"},
            free_allowance_nok=D(allowance),
            source="Sigma2 user contribution model v2.2 (A); demo figures (B, C, D)",
            prices=[{"kind": k, "unit_price": D(v)} for k, v in prices.items()],
        )


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    """The items in batches: one bulk service call (one transaction) for each."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _people(plan: world.World, orgs: dict, bar: _Progress) -> dict[str, Person]:
    people: dict[str, Person] = {}
    for chunk in _chunks(plan.people):
        made = parties_bulk.create_people(
            SYSTEM,
            [
                {  # no password: the generated people sign in through SSO only
                    "username": p.username,
                    "organisation": orgs[p.organisation],
                    "name": p.name,
                    "email": f"{p.username}@demo.regnekraft.no",
                    "slurm_username": p.username,
                }
                for p in chunk
            ],
        )
        people.update((p.username, person) for p, person in zip(chunk, made, strict=True))
        roles = [
            (people[p.username], kind, p.sector if kind == "coordinator" else "")
            for p in chunk
            for kind in dict.fromkeys(p.roles)
        ]
        parties_bulk.grant_roles(SYSTEM, roles)
        bar.step(len(chunk))
    signed = make_password(demo.PASSWORD)  # hashed once, for the demo's sign-ins
    with transaction.atomic():
        for p in plan.people:
            if not p.password:
                continue
            # The demo's sign-ins, as in the plain demo (regnekraft/demo.py writes them the
            # same way): the demo password would fail the password rules' likeness to the
            # e-mail address, and no service sets a password past the rules.
            user = people[p.username].user
            user.password = signed
            user.first_name, user.last_name = p.name.split()[0], p.name.split()[-1]
            user.is_staff = user.is_superuser = p.username == "operator"
            user.save(
                update_fields=["password", "first_name", "last_name", "is_staff", "is_superuser"]
            )
    return people


def _year_hours(year: int) -> int:
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days * 24


def _sector_orders(plan, orgs, people, projects, classes, rng, bar) -> int:
    """Each sector orders Olivia CPU (and some Olivia GPU and NIRD storage) for both years,
    the coordinator confirms and passes most of it on to the sector's projects."""
    sectors = plan.sectors
    coordinators = {p.sector: p.username for p in plan.people if "coordinator" in p.roles}
    agencies = {o.sector: o.short_name for o in plan.organisations if o.kind == "public"}
    sector_of = {o.short_name: o.sector for o in plan.organisations}
    by_sector: dict[str, list[str]] = {s: [] for s in sectors}
    for p in plan.projects:
        if p.group == "public":
            by_sector[sector_of[p.organisation]].append(p.code)
    cpu, gpu, disk = (
        classes[("olivia", "cpu")],
        classes[("olivia", "gpu")],
        classes[(STORAGE, "storage")],
    )
    n = 0
    for year in YEARS:
        hours = _year_hours(year)
        for i, sector in enumerate(sectors):
            coordinator = people[coordinators[sector]].user
            share = float(rng.uniform(0.5, 1.5)) / len(sectors)
            lines = {cpu: D(round(0.10 * share * float(cpu.installed_units) * hours))}
            if i % 3 == 0:
                lines[gpu] = D(round(0.12 * share * float(gpu.installed_units) * hours))
            if i % 2 == 0:
                lines[disk] = D(round(0.05 * share * float(disk.installed_units) * 12))
            org = orgs[_ordering_org(sector, agencies, plan)]
            order = orders.save_order(
                coordinator,
                organisation=org,
                year=year,
                commitment_share=D("0.8"),
                lines=lines,
            )
            order = orders.confirm_order(coordinator, order)
            codes = by_sector[sector]
            if codes:
                weights = rng.dirichlet(np.ones(len(codes)))
                for line in order.lines.select_related("order", "resource_class__system"):
                    for code, w in zip(codes, weights, strict=True):
                        amount = D(int(line.amount * D(0.9) * D(float(w))))
                        if amount > 0:
                            orders.sub_allocate(coordinator, line, projects[code], amount)
            n += 1
            bar.step()
    return n


def _ordering_org(sector: str, agencies: dict[str, str], plan: world.World) -> str:
    """The sector's agency: the demo's own where it has one (FHI, NB, Kripos, MET)."""
    for o in plan.organisations[: len(demo.ORGANISATIONS)]:
        if o.sector == sector:
            return o.short_name
    return agencies[sector]


def _purchase(project: Project, classes, i: int, n: int, bar: _Progress) -> None:
    """Industry buys Betzy CPU (and every other one Olivia GPU) for the usage year."""
    start, end = WINDOW
    hours = (end - start).days * 24
    betzy = classes[("betzy", "cpu")]
    purchases.purchase(
        SYSTEM,
        project,
        betzy,
        D(round(0.03 * float(betzy.installed_units) * hours / n)),
        start,
        end,
    )
    if i % 2 == 0:
        gpu = classes[("olivia", "gpu")]
        amount = D(round(0.03 * float(gpu.installed_units) * hours / max(1, n // 2)))
        purchases.purchase(SYSTEM, project, gpu, amount, start, end)
    bar.step()


def _round(name, opens, closes, period, research, projects, people, reviewers, classes, rng, bar):
    """A call: applications from most research projects, two reviews each, the optimiser's
    proposal decided through the rules."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    start, end = period
    with transaction.atomic():
        call = calls.save_call(
            SYSTEM,
            name=name,
            opens=opens,
            closes=closes,
            period_start=start,
            period_end=end,
            status=CallStatus.OPEN,
        )
    applying = [p for p in research if rng.random() < 0.85] or research[:1]
    wants = _requests(applying, classes, start, end, rng)
    with transaction.atomic():
        # The operator submits for the PIs (who may; an application records no submitter),
        # so that one call writes them all.
        apps = allocation_bulk.submit_applications(
            SYSTEM,
            call,
            [
                {
                    "project": projects[p.code],
                    "justification": f"{p.title}: science case (demo data).",
                    "requests": requests,
                }
                for p, requests in zip(applying, wants, strict=True)
            ],
        )
        bar.step(len(apps))
        call = calls.set_call_status(SYSTEM, call, CallStatus.REVIEW)
    timings["applications"] = time.perf_counter() - t
    t = time.perf_counter()
    with transaction.atomic():
        n_reviews = _reviews(apps, applying, reviewers, rng)
    timings["reviews"] = time.perf_counter() - t
    t = time.perf_counter()
    proposal = rounds.propose_round(call)
    timings["propose"] = time.perf_counter() - t
    t = time.perf_counter()
    decided = rounds.decide_proposal(SYSTEM, proposal)
    timings["decide"] = time.perf_counter() - t
    out = proposal.as_dict()
    return {
        "call": name,
        "applications": len(apps),
        "reviews": n_reviews,
        "funded": out["funded"],
        "optimiser": {k: out[k] for k in ("status", "method", "mip_gap", "solve_seconds")},
        "allocations": sum(len(a) for a in decided.values()),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }


def _requests(applying, classes, start, end, rng) -> list[dict[ResourceClass, Decimal]]:
    """What each application asks for: CPU on one cluster, GPU and storage for some; sized
    with heavy-tailed weights so that research as a whole asks for ``DEMAND`` times what is free."""
    n = len(applying)
    wants: list[dict[ResourceClass, Decimal]] = [{} for _ in range(n)]
    cpu_at = rng.choice(len(CPU_CHOICE), size=n, p=[w for _, w in CPU_CHOICE])
    gpu_at = rng.choice(len(GPU_CHOICE), size=n, p=[w for _, w in GPU_CHOICE])
    has_gpu = rng.random(n) < 0.35
    has_disk = rng.random(n) < 0.5
    weight = rng.lognormal(0, 1.2, size=n)
    asks: dict[ResourceClass, list[int]] = {}
    for i in range(n):
        asks.setdefault(classes[(CPU_CHOICE[cpu_at[i]][0], "cpu")], []).append(i)
        if has_gpu[i]:
            asks.setdefault(classes[(GPU_CHOICE[gpu_at[i]][0], "gpu")], []).append(i)
        if has_disk[i]:
            asks.setdefault(classes[(STORAGE, "storage")], []).append(i)
    for rc, who in asks.items():
        free = float(remaining(rc, start, end)["free"])
        w = weight[who]
        amounts = DEMAND * free * w / w.sum()
        for i, amount in zip(who, amounts, strict=True):
            wants[i][rc] = D(max(10, round(amount)))
    return wants


def _reviews(apps, applying, reviewers: list[tuple[Person, str, str]], rng) -> int:
    """Two reviewers per application among those who take no part in it and work elsewhere;
    their scores follow the project's planned quality."""
    from regnekraft.allocation.models import REVIEW_CRITERIA

    assigned: list[tuple[Application, Person]] = []
    scored: list[dict[str, int]] = []
    for app, p in zip(apps, applying, strict=True):
        participants = set(p.members) | {p.pi}
        pool = [r for r in reviewers if r[1] not in participants]
        pool = [r for r in pool if r[2] != p.organisation] or pool
        picks = rng.choice(len(pool), size=min(2, len(pool)), replace=False)
        for k in picks:
            assigned.append((app, pool[int(k)][0]))
            scored.append(
                {
                    c: int(np.clip(round(4.5 + p.quality + rng.normal(0, 0.7)), 1, 7))
                    for c in REVIEW_CRITERIA
                }
            )
    made = allocation_bulk.assign_reviewers(SYSTEM, assigned)
    by_reviewer: dict[int, list[tuple[Review, dict]]] = {}
    for review, scores in zip(made, scored, strict=True):
        change = {"conflict": False, "scores": scores, "comment": "Demo review.", "submitted": True}
        by_reviewer.setdefault(review.reviewer_id, []).append((review, change))
    reviewer_of = {person.pk: person for person, _, _ in reviewers}
    for reviewer_id, changes in by_reviewer.items():  # each reviewer saves their own reviews
        allocation_bulk.save_reviews(reviewer_of[reviewer_id].user, changes)
    return len(made)


def describe(summary: dict) -> str:
    u = summary["usage"]
    lines = [
        "Regnekraft national data set (DEMO DATA: the demo's organisations and sign-ins, "
        "generated organisations named '(demodata)', invented people and projects)",
        f"  fraction {summary['fraction']}, seed {summary['seed']}: "
        f"{summary['organisations']} organisations, {summary['people']} people, "
        f"{summary['projects']} projects, {summary['memberships']} memberships;",
        f"  {summary['systems']} systems ({', '.join(summary['clusters'])} and NIRD), "
        f"{summary['sector_orders']} sector orders for {len(summary['sectors'])} sectors, "
        f"{summary['applications']} applications in two decided rounds, "
        f"{summary['allocations']} allocations;",
        f"  {u['imported']} usage records in {len(u['months'])} monthly files "
        f"({u['unallocated']} unallocated), imported in {u['import_seconds']} s.",
        "",
        "Seconds per stage: "
        + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items())
        + f"; total {summary['total_seconds']}.",
        "",
        f"Sign in at {summary.get('url', 'http://127.0.0.1:8000/')} "
        f"with password '{summary['password']}' as: "
        + ", ".join(f"{u} ({r})" for u, r in summary["sign_ins"].items()),
    ]
    return "\n".join(lines)
