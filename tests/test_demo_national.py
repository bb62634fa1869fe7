"""The national data set (regnekraft/national) at a tiny fraction: built through the services
and the importer on the test database, with the counts scaled; the same seed, the same data."""

from __future__ import annotations

from collections import Counter

import pytest

from regnekraft import national
from regnekraft.accounting.models import UsageRecord
from regnekraft.allocation.models import Call, CallStatus, SectorOrder
from regnekraft.catalog.models import System
from regnekraft.national import world
from regnekraft.parties.models import Organisation, Person, Project

FRACTION = 0.002  # 6 projects, 40 users, 20,000 usage records
SEED = 5


def test_the_same_seed_plans_the_same_world():
    first, again = world.plan(FRACTION, SEED), world.plan(FRACTION, SEED)
    assert first.fingerprint() == again.fingerprint()
    assert world.plan(FRACTION, SEED + 1).fingerprint() != first.fingerprint()
    full = world.plan(1.0, SEED)
    assert (len(full.projects), len(full.people)) == (3_000, 20_000)
    assert len(full.organisations) == 60
    assert all(o.name.endswith("(demodata)") for o in full.organisations[11:])


def _fingerprint() -> tuple:
    projects = tuple(
        (
            p.code,
            p.organisation.short_name,
            p.pi.user.username,
            tuple(sorted(m.user.username for m in p.members.all())),
        )
        for p in Project.objects.select_related("organisation", "pi__user").prefetch_related(
            "members__user"
        )
    )
    usage = tuple(
        UsageRecord.objects.order_by("cluster", "job_id", "resource_class__kind").values_list(
            "cluster",
            "job_id",
            "project__code",
            "username",
            "quantity",
            "charge_nok",
            "start",
            "end",
        )
    )
    return projects, usage


@pytest.mark.django_db
def test_a_tiny_national_set_builds_through_the_services_and_again_the_same():
    assert not national.exists()
    summary = national.build(FRACTION, SEED, progress=False, fresh=False)
    scale = world.Scale.of(FRACTION)

    assert Organisation.objects.count() == 60
    assert Organisation.objects.filter(name__endswith="(demodata)").count() == 49
    assert Person.objects.count() == scale.users == summary["people"]
    assert Project.objects.count() == scale.projects
    assert System.objects.filter(kind="national").count() == 4  # the clusters (and NIRD)
    # every project has a PI; each generated user takes part in one to three projects
    assert not Project.objects.filter(pi__isnull=True).exists()
    taking_part: Counter[str] = Counter()
    for p in Project.objects.select_related("pi__user").prefetch_related("members__user"):
        taking_part[p.pi.user.username] += 1
        taking_part.update(m.user.username for m in p.members.all())
    generated = Person.objects.filter(user__username__startswith="nu").values_list(
        "user__username", flat=True
    )
    assert generated and all(1 <= taking_part[u] <= 3 for u in generated)
    # two decided rounds, a confirmed order for every sector and year
    assert Call.objects.filter(status=CallStatus.DECIDED).count() == 2
    sectors = set(Organisation.objects.filter(kind="public").values_list("sector", flat=True))
    assert set(SectorOrder.objects.values_list("sector", flat=True)) == sectors
    assert SectorOrder.objects.filter(status="confirmed").count() == 2 * len(sectors)
    # the year of usage, job by job, every record attached to an allocation and rated
    assert UsageRecord.objects.count() == scale.records == summary["usage"]["imported"]
    assert not UsageRecord.objects.filter(allocation__isnull=True).exists()
    assert not UsageRecord.objects.filter(unit_price_nok__lte=0).exists()
    assert len(summary["usage"]["months"]) == 12
    assert UsageRecord.objects.filter(resource_class__kind="gpu").exists()
    # the build is recorded; a second build is refused unless asked to rebuild
    assert national.exists() and national.recorded()["seed"] == SEED
    with pytest.raises(national.NationalExists, match="rebuild"):
        national.build(FRACTION, SEED, progress=False, fresh=False)
    # the demo's sign-ins still work
    from django.contrib.auth import authenticate

    from regnekraft.demo import PASSWORD

    assert authenticate(username="pi", password=PASSWORD) is not None

    before = _fingerprint()
    national.build(FRACTION, SEED, progress=False, rebuild=True)
    assert _fingerprint() == before


def test_the_demo_command_takes_the_national_flags():
    from regnekraft.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(
        ["demo", "--scale", "national", "--fraction", "0.1", "--seed", "3", "--no-serve"]
    )
    assert (args.scale, args.fraction, args.seed, args.rebuild) == ("national", 0.1, 3, False)
    assert parser.parse_args(["demo"]).scale == "demo"  # the plain demo stays the default
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--scale", "national", "--fraction", "2"])
