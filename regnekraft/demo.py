"""Norway's national compute as demo data: systems, organisations, people with one sign-in per
role, a research call carried through review and the optimiser to decisions, sector orders,
co-location, an industry purchase, external capacity, and usage replayed from a public trace.

Everything here is DEMO DATA. System sizes are rounded public figures (sources in each
system's ``source`` field and in docs/demo.md); people, projects and scores are invented.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from regnekraft.allocation import round as rounds
from regnekraft.allocation import services
from regnekraft.allocation.models import (
    Application,
    ApplicationRequest,
    Call,
    CallStatus,
    ChangeKind,
    ChangeRequest,
    ColocatedEquipment,
    ExternalCapacity,
    PolicySettings,
    Review,
    SectorOrder,
    SectorOrderLine,
)
from regnekraft.audit.context import acting_as
from regnekraft.catalog.models import Price, PriceList, ResourceClass, System
from regnekraft.parties.models import Organisation, Person, Project, Role
from regnekraft.traces import traces_dir

PASSWORD = "regnekraft-demo"
TODAY = dt.date(2026, 11, 23)
PERIOD = (dt.date(2026, 10, 1), dt.date(2027, 4, 1))  # allocation period 2026.2 (Sigma2: Oct-Mar)
NEXT_PERIOD = (dt.date(2027, 4, 1), dt.date(2027, 10, 1))
YEAR = 2026
D = Decimal

# name, slug, kind, operator, country, zone, tier, commissioned, decommissioned, power kW, source,
# classes: (kind, gpu type, units, availability)
SYSTEMS = [
    (
        "Betzy",
        "betzy",
        "national",
        "Sigma2 / NRIS (NTNU)",
        "NO",
        "open",
        1,
        dt.date(2020, 11, 1),
        dt.date(2027, 7, 1),
        952,
        "sigma2.no: 1,344 nodes x 128 AMD Rome cores; out of service in 2027 (KVU 000:1322-1325)",
        [("cpu", "", 172_032, "0.95")],
    ),
    (
        "Saga",
        "saga",
        "national",
        "Sigma2 / NRIS (NTNU)",
        "NO",
        "open",
        1,
        dt.date(2019, 9, 1),
        dt.date(2027, 7, 1),
        350,
        "sigma2.no: about 16,000 cores and 64 GPUs (P100/A100), rounded",
        [("cpu", "", 16_064, "0.95"), ("gpu", "A100", 64, "0.95")],
    ),
    (
        "Fram",
        "fram",
        "national",
        "Sigma2 / NRIS (UiT)",
        "NO",
        "open",
        1,
        dt.date(2017, 11, 1),
        dt.date(2027, 1, 1),
        300,
        "sigma2.no: about 1,000 nodes x 32 Intel cores; retiring",
        [("cpu", "", 32_256, "0.92")],
    ),
    (
        "Olivia",
        "olivia",
        "national",
        "Sigma2 / NRIS (Lefdal Mine)",
        "NO",
        "open",
        2,
        dt.date(2025, 9, 1),
        dt.date(2032, 1, 1),
        1100,
        "sigma2.no: HPE Cray EX, 252 CPU nodes x 256 cores, 76 nodes x 4 NVIDIA GH200",
        [("cpu", "", 64_512, "0.97"), ("gpu", "GH200", 304, "0.97")],
    ),
    (
        "NIRD",
        "nird",
        "storage",
        "Sigma2 / NRIS",
        "NO",
        "open",
        2,
        dt.date(2021, 1, 1),
        dt.date(2029, 1, 1),
        300,
        "KVU 000:1364-1368, 5781-5788: about 80 PB at end of life in 2028; 85 PB assumed",
        [("storage", "", 85_000, "1.0")],
    ),
    (
        "LUMI (Norwegian share)",
        "lumi",
        "eurohpc",
        "CSC / LUMI consortium",
        "FI",
        "open",
        1,
        dt.date(2023, 1, 1),
        dt.date(2028, 1, 1),
        0,
        "KVU 000:1402-1406, 3511: 2 % of LUMI, about 250 GPUs; 2 % of 262,144 LUMI-C cores",
        [("cpu", "", 5_243, "0.95"), ("gpu", "MI250X", 250, "0.95")],
    ),
    (
        "TSD",
        "tsd",
        "national",
        "University of Oslo (USIT)",
        "NO",
        "shielded",
        2,
        dt.date(2019, 1, 1),
        None,
        120,
        "demo figures for the services for sensitive data",
        [("cpu", "", 6_000, "0.97"), ("gpu", "A100", 40, "0.97"), ("storage", "", 4_000, "1.0")],
    ),
    (
        "Vern (graded)",
        "vern",
        "national",
        "Sigma2 (demo)",
        "NO",
        "graded",
        3,
        dt.date(2026, 1, 1),
        None,
        80,
        "invented demo system for security-graded work",
        [("cpu", "", 4_096, "0.99")],
    ),
    (
        "MET co-located rack",
        "met-rack",
        "colocated",
        "Sigma2 on behalf of MET Norway",
        "NO",
        "open",
        3,
        dt.date(2025, 1, 1),
        None,
        150,
        (
            "invented demo: weather prediction equipment owned by MET and hosted by the national "
            "operator"
        ),
        [("cpu", "", 12_288, "0.995")],
    ),
    (
        "Commercial cloud GPU (demo)",
        "cloud-gpu",
        "cloud",
        "a Norwegian cloud provider (demo)",
        "NO",
        "open",
        2,
        dt.date(2025, 6, 1),
        None,
        0,
        "invented demo offer",
        [("gpu", "H100", 512, "0.99")],
    ),
    (
        "Advanced user support",
        "support",
        "national",
        "NRIS",
        "NO",
        "open",
        1,
        dt.date(2015, 1, 1),
        None,
        0,
        "NRIS advanced user support, allocated by evaluation (000:952-955)",
        [("support", "", 20_000, "1.0")],
    ),
]

# short name, name, kind, sector, sme, bott
ORGANISATIONS = [
    ("UiO", "University of Oslo", "research", "", False, True),
    ("UiB", "University of Bergen", "research", "", False, True),
    ("NTNU", "Norwegian University of Science and Technology", "research", "", False, True),
    ("UiT", "UiT The Arctic University of Norway", "research", "", False, True),
    ("NORCE", "NORCE Norwegian Research Centre", "research", "", False, False),
    ("SINTEF", "SINTEF", "research", "", False, False),
    ("MET", "Norwegian Meteorological Institute", "public", "Klima og miljø", False, False),
    ("FHI", "Norwegian Institute of Public Health", "public", "Helse og omsorg", False, False),
    ("NB", "National Library of Norway", "public", "Kultur", False, False),
    (
        "Kripos",
        "Kripos (National Criminal Investigation Service)",
        "public",
        "Justis og beredskap",
        False,
        False,
    ),
    ("Fjordvind", "Fjordvind Analytics AS (demo SME)", "industry", "", True, False),
]

# username, name, organisation, roles, sector
PEOPLE = [
    ("pi", "Ingrid Solberg", "UiO", ["pi"], ""),
    ("reviewer", "Lars Haugen", "NTNU", ["reviewer"], ""),
    ("reviewer2", "Kari Nilsen", "UiT", ["reviewer"], ""),
    ("reviewer3", "Ole Berg", "UiB", ["reviewer"], ""),
    ("coordinator", "Marte Lie", "FHI", ["coordinator"], "Helse og omsorg"),
    ("coordinator-kultur", "Jon Dahl", "NB", ["coordinator"], "Kultur"),
    ("coordinator-justis", "Siri Moen", "Kripos", ["coordinator"], "Justis og beredskap"),
    ("industry", "Erik Vik", "Fjordvind", ["industry"], ""),
    ("operator", "Nina Strand", "UiO", ["operator"], ""),
    ("finance", "Per Aas", "UiO", ["finance"], ""),
    ("decision", "Hilde Bakke", "UiO", ["decision_maker"], ""),
]

RESEARCH_TOPICS = [
    "Ocean circulation in the Nordic Seas",
    "Arctic sea-ice modelling",
    "Protein folding with deep learning",
    "Lattice QCD at the physical point",
    "Earth system model NorESM",
    "Computational chemistry of catalysts",
    "Norwegian language models for research",
    "Genomics of Atlantic salmon",
    "Seismic imaging of the North Sea",
    "Fusion plasma turbulence",
    "Air pollution in Norwegian cities",
    "Glacier mass balance",
    "Materials for batteries",
    "Neuroscience imaging pipelines",
    "Wind farm wake simulation",
    "Cosmology simulations",
    "Hydropower and climate",
    "Fish stock assessment",
    "Quantum chemistry methods",
    "Machine learning for medical images",
    "Coastal wave forecasting",
    "Permafrost carbon",
    "Hydrogen combustion",
    "Speech recognition for Sámi languages",
]


@dataclass
class Counts:
    systems: int = 0
    organisations: int = 0
    projects: int = 0
    applications: int = 0
    allocations: int = 0
    usage_records: int = 0
    invoices: int = 0


def _catalogue() -> dict[str, dict[str, ResourceClass]]:
    classes: dict[str, dict[str, ResourceClass]] = {}
    for name, slug, kind, operator, country, zone, tier, start, end, power, source, rcs in SYSTEMS:
        system = System.objects.create(
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
        classes[slug] = {}
        for rkind, gpu, units, availability in rcs:
            classes[slug][rkind] = ResourceClass.objects.create(
                system=system,
                kind=rkind,
                gpu_type=gpu,
                installed_units=D(units),
                expected_availability=D(availability),
                public_description=f"{name} {gpu or ''} {rkind}".replace("  ", " "),
            )
    return classes


def _price_lists() -> None:
    # Category A: Sigma2's public prices from 1 Oct 2025 (SYSTEM.md section 4): 0.04 NOK/CPU-hour,
    # 5.6 NOK/GPU-hour, 800 NOK per TB-year (= 66.6667 per TB-month). B, C, D: demo figures.
    lists = {
        "A": (
            {"cpu": "0.04", "gpu": "5.6", "storage": "66.6667", "node": "5.12", "support": "0"},
            "0",
        ),
        "B": ({"cpu": "0.10", "gpu": "14", "storage": "120", "node": "12.8", "support": "0"}, "0"),
        "C": ({"cpu": "0.35", "gpu": "28", "storage": "200", "node": "45", "support": "1200"}, "0"),
        "D": ({"cpu": "0.12", "gpu": "16", "storage": "120", "node": "15", "support": "0"}, "0"),
        "0": (
            {"cpu": "0.04", "gpu": "5.6", "storage": "66.6667", "node": "5.12", "support": "0"},
            "50000",
        ),
    }
    for category, (prices, allowance) in lists.items():
        pl = PriceList.objects.create(
            category=category,
            name=f"Category {category} 2025/26",
            valid_from=dt.date(2025, 10, 1),
            tier_multipliers={"1": "1.0", "2": "1.25", "3": "1.6"},
            free_allowance_nok=D(allowance),
            source="Sigma2 user contribution model v2.2 (A); demo figures (B, C, D)",
        )
        for kind, price in prices.items():
            Price.objects.create(price_list=pl, kind=kind, unit_price=D(price))


def _people() -> tuple[dict[str, Organisation], dict[str, Person]]:
    orgs = {
        short: Organisation.objects.create(
            short_name=short, name=name, kind=kind, sector=sector, is_sme=sme, is_bott=bott
        )
        for short, name, kind, sector, sme, bott in ORGANISATIONS
    }
    User = get_user_model()
    people = {}
    for username, name, org, roles, sector in PEOPLE:
        user = User.objects.create_user(
            username=username,
            password=PASSWORD,
            email=f"{username}@demo.regnekraft.no",
            first_name=name.split()[0],
            last_name=name.split()[-1],
            is_staff=username == "operator",
            is_superuser=username == "operator",
        )
        person = Person.objects.create(
            user=user, organisation=orgs[org], name=name, email=user.email, slurm_username=username
        )
        for kind in roles:
            Role.objects.create(
                person=person, kind=kind, sector=sector if kind == "coordinator" else ""
            )
        people[username] = person
    return orgs, people


def _research_projects(orgs, people, rng: random.Random) -> list[Project]:
    projects = []
    research_orgs = ["UiO", "UiB", "NTNU", "UiT", "NORCE", "SINTEF"]
    for i, topic in enumerate(RESEARCH_TOPICS):
        org = orgs[research_orgs[i % len(research_orgs)]]
        pi = (
            people["pi"]
            if i < 3
            else Person.objects.create(
                user=get_user_model().objects.create_user(username=f"pi{i:02d}", password=PASSWORD),
                organisation=org,
                name=f"PI {i:02d} ({org.short_name})",
                email=f"pi{i:02d}@demo.regnekraft.no",
                slurm_username=f"pi{i:02d}",
            )
        )
        if i >= 3:
            Role.objects.create(person=pi, kind="pi")
        project = Project.objects.create(
            code=f"nn{1000 + i}k",
            title=topic,
            organisation=org,
            pi=pi,
            purpose="research_rd",
            eu_funded=(i % 11 == 5),
        )
        projects.append(project)
    return projects


def _research_call(projects, classes, people, rng: random.Random) -> Call:
    call = Call.objects.create(
        name="2026.2",
        opens=dt.date(2026, 6, 1),
        closes=dt.date(2026, 8, 15),
        period_start=PERIOD[0],
        period_end=PERIOD[1],
        status=CallStatus.REVIEW,
    )
    reviewers = [people["reviewer"], people["reviewer2"], people["reviewer3"]]
    days = (PERIOD[1] - PERIOD[0]).days
    for i, project in enumerate(projects):
        app = Application.objects.create(
            call=call,
            project=project,
            justification=f"{project.title}: science case (demo).",
            support_hours=D(rng.choice([0, 0, 40, 120])),
        )
        wants = [("betzy", "cpu", rng.uniform(0.02, 0.09) * 172_032 * 24 * days)]
        if i % 2 == 0:
            wants.append(("olivia", "gpu", rng.uniform(0.03, 0.10) * 304 * 24 * days))
        if i % 3 == 0:
            wants.append(("lumi", "gpu", rng.uniform(0.05, 0.15) * 250 * 24 * days))
        if i % 4 == 1:
            wants.append(("saga", "gpu", rng.uniform(0.05, 0.2) * 64 * 24 * days))
        wants.append(("nird", "storage", rng.uniform(50, 600) * 6))
        if i % 5 == 0:
            wants.append(("olivia", "cpu", rng.uniform(0.02, 0.08) * 64_512 * 24 * days))
        for slug, kind, amount in wants:
            ApplicationRequest.objects.create(
                application=app, resource_class=classes[slug][kind], amount=D(round(amount))
            )
        for r in reviewers:
            conflict = r.organisation_id == project.organisation_id
            Review.objects.create(
                application=app,
                reviewer=r,
                conflict_of_interest=conflict,
                submitted=True,
                scores={}
                if conflict
                else {c: rng.randint(3, 7) for c in ("excellence", "impact", "feasibility")},
                comment="" if conflict else "Demo review.",
            )
    # The next call is open, so PIs can apply in the portal.
    Call.objects.create(
        name="2027.1",
        opens=dt.date(2026, 11, 1),
        closes=dt.date(2027, 2, 15),
        period_start=NEXT_PERIOD[0],
        period_end=NEXT_PERIOD[1],
        status=CallStatus.OPEN,
    )
    return call


def _sector_orders(orgs, people, classes) -> list[Project]:
    made = []

    def project(code, title, org, purpose, sensitivity=0, pi=None):
        p = Project.objects.create(
            code=code,
            title=title,
            organisation=orgs[org],
            purpose=purpose,
            sensitivity=sensitivity,
            pi=pi or people["coordinator"],
        )
        made.append(p)
        return p

    year_hours = 24 * 365
    # Helse og omsorg (FHI): shielded health data on TSD.
    fhi = SectorOrder.objects.create(
        organisation=orgs["FHI"],
        sector="Helse og omsorg",
        year=YEAR,
        commitment_share=D("0.8"),
        ordered_by=people["coordinator"],
    )
    tsd_cpu = SectorOrderLine.objects.create(
        order=fhi, resource_class=classes["tsd"]["cpu"], amount=D(round(0.25 * 6000 * year_hours))
    )
    tsd_gpu = SectorOrderLine.objects.create(
        order=fhi, resource_class=classes["tsd"]["gpu"], amount=D(round(0.2 * 40 * year_hours))
    )
    services.confirm_order(fhi)
    reg = project(
        "fhi001", "Pandemic preparedness models on registry data", "FHI", "admin_rd", sensitivity=1
    )
    services.sub_allocate(tsd_cpu, reg, D(round(0.15 * 6000 * year_hours)))
    services.sub_allocate(tsd_gpu, reg, D(round(0.1 * 40 * year_hours)))
    # Kultur (National Library): a national Norwegian language model on Olivia's GPUs.
    nb = SectorOrder.objects.create(
        organisation=orgs["NB"],
        sector="Kultur",
        year=YEAR,
        commitment_share=D("0.9"),
        ordered_by=people["coordinator-kultur"],
    )
    nb_line = SectorOrderLine.objects.create(
        order=nb, resource_class=classes["olivia"]["gpu"], amount=D(round(0.15 * 304 * year_hours))
    )
    services.confirm_order(nb)
    llm = project(
        "nb-llm",
        "NB national language model (NorLLM)",
        "NB",
        "national_ai",
        pi=people["coordinator-kultur"],
    )
    services.sub_allocate(nb_line, llm, D(round(0.12 * 304 * year_hours)))
    # Justis og beredskap (Kripos): graded work on the graded system.
    kripos = SectorOrder.objects.create(
        organisation=orgs["Kripos"],
        sector="Justis og beredskap",
        year=YEAR,
        commitment_share=D("1.0"),
        ordered_by=people["coordinator-justis"],
    )
    k_line = SectorOrderLine.objects.create(
        order=kripos,
        resource_class=classes["vern"]["cpu"],
        amount=D(round(0.3 * 4096 * year_hours)),
    )
    services.confirm_order(kripos)
    forensic = project(
        "kripos01",
        "Digital forensics at scale",
        "Kripos",
        "critical_service",
        sensitivity=3,
        pi=people["coordinator-justis"],
    )
    services.sub_allocate(k_line, forensic, D(round(0.25 * 4096 * year_hours)))
    # MET: its own co-located rack for 24/7 weather prediction.
    met_rack = classes["met-rack"]["cpu"]
    met_rack.system.owner = orgs["MET"]
    met_rack.system.save()
    ColocatedEquipment.objects.create(
        system=met_rack.system,
        rack_units=42,
        hosting_fee_nok_per_month=D("85000"),
        contract_start=dt.date(2025, 1, 1),
    )
    nwp = project("met-nwp", "Operational numerical weather prediction", "MET", "critical_service")
    services.grant_colocated(
        nwp,
        met_rack,
        D(round(0.9 * 12_288 * year_hours)),
        dt.date(YEAR, 1, 1),
        dt.date(YEAR + 1, 1, 1),
    )
    # FHI buys extra GPU time in the cloud: recorded and reported (model 4).
    ExternalCapacity.objects.create(
        organisation=orgs["FHI"],
        provider="EuroHPC AI Factory (demo)",
        country="FI",
        kind="gpu",
        amount=D(20_000),
        cost_nok=D("310000"),
        start=dt.date(YEAR, 3, 1),
        end=dt.date(YEAR, 12, 31),
        reference="demo-2026-17",
    )
    return made


def _industry(orgs, people, classes) -> Project:
    sme = Project.objects.create(
        code="fjv01",
        title="Wind-farm siting with ML (commercial)",
        organisation=orgs["Fjordvind"],
        pi=people["industry"],
        purpose="commercial",
    )
    services.purchase(sme, classes["betzy"]["cpu"], D(2_500_000), PERIOD[0], PERIOD[1])
    services.purchase(sme, classes["cloud-gpu"]["gpu"], D(40_000), PERIOD[0], PERIOD[1])
    return sme


def _usage(traces: Path | None, progress: bool) -> int:
    from regnekraft import demo_usage

    return demo_usage.replay(traces, until=TODAY, progress=progress)


def _simulation(call: Call, traces: Path | None) -> bool:
    """The decided round replayed on the HPC2N trace, stored for the dashboard (when the
    traces are there)."""
    trace = traces / "hpc2n-first3171.swf" if traces else None
    if trace is None or not trace.is_file():
        return False
    from regnekraft.allocation import whatif

    operator = get_user_model().objects.get(username="operator")
    with acting_as(operator):
        whatif.store(call, trace, user=operator)
    return True


def build(*, fresh: bool = True, traces: str | Path | None = None, progress: bool = True) -> dict:
    """Build the demo database from nothing. Returns a summary with the sign-ins."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if fresh and db["ENGINE"].endswith("sqlite3"):
        Path(db["NAME"]).unlink(missing_ok=True)
    elif fresh:
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    rng = random.Random(2026)
    with acting_as("demo"), transaction.atomic():
        PolicySettings.current()
        classes = _catalogue()
        _price_lists()
        orgs, people = _people()
        projects = _research_projects(orgs, people, rng)
        call = _research_call(projects, classes, people, rng)
        _sector_orders(orgs, people, classes)
        _industry(orgs, people, classes)
    with acting_as(get_user_model().objects.get(username="operator")):
        proposal = rounds.propose_round(call)
        rounds.decide_proposal(get_user_model().objects.get(username="operator"), proposal)
        first = projects[0].allocations.filter(resource_class__kind="cpu").first()
        if first is not None:
            ChangeRequest.objects.create(
                allocation=first,
                kind=ChangeKind.INCREASE,
                amount=D(100_000),
                reason="More ensemble members than planned (demo).",
                requested_by=people["pi"],
            )
    usage = _usage(Path(traces) if traces else traces_dir(), progress)
    from regnekraft.accounting.invoicing import issue_invoices

    with acting_as("demo"):
        invoices = issue_invoices(dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    simulated = _simulation(call, Path(traces) if traces else traces_dir())
    from regnekraft.allocation.models import Allocation

    return {
        "url": "http://127.0.0.1:8000/",
        "password": PASSWORD,
        "sign_ins": {username: roles[0] for username, _, _, roles, _ in PEOPLE},
        "systems": System.objects.count(),
        "organisations": Organisation.objects.count(),
        "projects": Project.objects.count(),
        "applications": Application.objects.count(),
        "round": proposal.as_dict() | {"grants": "..."},
        "allocations": Allocation.objects.count(),
        "usage_records": usage,
        "invoices": len(invoices),
        "simulation": simulated,
    }


def describe(summary: dict) -> str:
    lines = [
        (
            "Regnekraft demo (DEMO DATA: rounded public figures for systems, invented people and "
            "projects)"
        ),
        (
            f"  {summary['systems']} systems, {summary['organisations']} organisations, "
            f"{summary['projects']} projects,"
        ),
        f"  {summary['applications']} applications; round {summary['round']['call']}: "
        f"{summary['round']['funded']} funded by the optimiser and decided through the policy "
        "rules;",
        f"  {summary['allocations']} allocations; {summary['usage_records']} usage records "
        f"imported; {summary['invoices']} invoices for October 2026"
        + (
            "; the round replayed in the policy simulator for the dashboard."
            if summary.get("simulation")
            else "."
        ),
        "",
        f"Sign in at {summary['url']} with password '{summary['password']}' as:",
    ]
    lines += [f"  {user:20} {role}" for user, role in summary["sign_ins"].items()]
    return "\n".join(lines)
