"""The national data set's world as a plan, before anything is written: organisations, people,
projects and who takes part in what. A pure function of the fraction and the seed (numpy's
generator), so the same seed plans the same world.

Everything here is DEMO DATA: the demo's real organisations and sign-ins (``regnekraft.demo``)
plus generated organisations whose names end in "(demodata)" and invented people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from regnekraft import demo

FULL_PROJECTS = 3_000
FULL_USERS = 20_000
FULL_RECORDS = 10_000_000
MIN_FRACTION = 0.002
LABEL = " (demodata)"

# The generated organisations (49; with the demo's 11 that makes 60).
_RESEARCH_PLACES = [
    ("Agder", "University College"),
    ("Innlandet", "University College"),
    ("Østfold", "University College"),
    ("Molde", "University College"),
    ("Volda", "University College"),
    ("Lillehammer", "Research Institute"),
    ("Harstad", "Research Institute"),
    ("Narvik", "Institute of Technology"),
    ("Bodø", "University"),
    ("Kristiansand", "Research Institute"),
    ("Stavanger", "University"),
    ("Ålesund", "Maritime Institute"),
    ("Gjøvik", "Institute of Technology"),
    ("Hamar", "Research Institute"),
    ("Halden", "Institute for Energy"),
    ("Kongsberg", "Institute of Technology"),
    ("Drammen", "University College"),
    ("Førde", "Research Institute"),
    ("Levanger", "University College"),
    ("Alta", "Arctic Institute"),
    ("Svalbard", "University Centre"),
    ("Telemark", "Research Institute"),
]
_PUBLIC_AGENCIES = [
    ("Public Roads Administration", "Samferdsel"),
    ("Coastal Administration", "Samferdsel"),
    ("Defence Research Agency", "Forsvar"),
    ("Directorate of Fisheries", "Næring og fiskeri"),
    ("Directorate for Education", "Kunnskap og utdanning"),
    ("Labour and Welfare Directorate", "Arbeid og inkludering"),
    ("Mapping Authority", "Kommunal og distrikt"),
    ("Tax Directorate", "Finans"),
    ("Statistics Agency", "Finans"),
    ("Water Resources and Energy Directorate", "Energi"),
    ("Offshore Energy Directorate", "Energi"),
    ("Agriculture Agency", "Landbruk og mat"),
    ("Food Safety Authority", "Landbruk og mat"),
    ("Digitalisation Agency", "Digitalisering og forvaltning"),
    ("Environment Agency", "Klima og miljø"),
    ("Health Directorate", "Helse og omsorg"),
    ("Police Directorate", "Justis og beredskap"),
]
_COMPANIES = [
    "Nordlys Energi",
    "Havbruk Data",
    "Fjellkraft Robotics",
    "Polar Pharma",
    "Kystlinje Maritime",
    "Bergfrid Materials",
    "Midnattsol AI",
    "Trollheim Geo",
    "Vindkast Engineering",
    "Isbre Biotech",
]
_FIRST = [
    "Anna", "Bjørn", "Camilla", "Dag", "Eva", "Finn", "Guro", "Hans", "Ida", "Jonas", "Kristin",
    "Leif", "Maja", "Nils", "Oda", "Petter", "Ragnhild", "Sindre", "Tone", "Ulrik", "Vilde",
    "Åse", "Emil", "Sofie", "Magnus", "Nora", "Henrik", "Thea", "Sander", "Ingvild",
]  # fmt: skip
_LAST = [
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen",
    "Lund", "Sørensen", "Jakobsen", "Moen", "Gundersen", "Iversen", "Strand",
]  # fmt: skip
_ASPECTS = [
    "methods",
    "data pipeline",
    "ensemble runs",
    "benchmarking",
    "large-scale simulation",
    "model training",
    "uncertainty",
    "high resolution",
    "follow-up",
    "new instruments",
]
_SECTOR_TOPICS = [
    "Operational forecasting",
    "Register analysis",
    "Digital archive",
    "Traffic models",
    "Risk analysis",
    "Statistics production",
    "Map production",
    "Resource models",
]
_INDUSTRY_TOPICS = [
    "Product simulation",
    "Model training (commercial)",
    "Reservoir models",
    "Drug screening",
    "Hull design CFD",
]


@dataclass(frozen=True)
class Scale:
    fraction: float
    projects: int
    users: int
    records: int

    @classmethod
    def of(cls, fraction: float) -> Scale:
        if not MIN_FRACTION <= fraction <= 1:
            raise ValueError(f"fraction {fraction} outside {MIN_FRACTION}..1")
        return cls(
            fraction,
            round(FULL_PROJECTS * fraction),
            round(FULL_USERS * fraction),
            round(FULL_RECORDS * fraction),
        )


@dataclass(frozen=True)
class OrgPlan:
    short_name: str
    name: str
    kind: str
    sector: str = ""
    is_sme: bool = False
    is_bott: bool = False


@dataclass
class PersonPlan:
    username: str
    name: str
    organisation: str  # short name
    roles: list[str] = field(default_factory=list)
    sector: str = ""  # coordinators
    password: bool = False  # the demo's sign-ins; generated people sign in through SSO only


@dataclass
class ProjectPlan:
    code: str
    title: str
    organisation: str
    pi: str  # username
    purpose: str
    group: str  # research, public, industry
    members: list[str] = field(default_factory=list)
    quality: float = 0.0  # the reviewers' view of it, in score points around 4.5
    sensitivity: int = 0


@dataclass
class World:
    scale: Scale
    seed: int
    organisations: list[OrgPlan]
    people: list[PersonPlan]
    projects: list[ProjectPlan]

    @property
    def sectors(self) -> list[str]:
        return sorted({o.sector for o in self.organisations if o.kind == "public"})

    def fingerprint(self) -> tuple:
        return (
            tuple((o.short_name, o.kind, o.sector) for o in self.organisations),
            tuple((p.username, p.organisation, tuple(p.roles)) for p in self.people),
            tuple((p.code, p.organisation, p.pi, tuple(p.members)) for p in self.projects),
        )


def organisations() -> list[OrgPlan]:
    orgs = [OrgPlan(*row) for row in demo.ORGANISATIONS]
    for place, kind in _RESEARCH_PLACES:
        orgs.append(OrgPlan(f"{place[:12]}-demo", f"{place} {kind}{LABEL}", "research"))
    for name, sector in _PUBLIC_AGENCIES:
        short = "".join(w[0] for w in name.split() if w[0].isupper())
        orgs.append(OrgPlan(f"{short}-demo", f"Norwegian {name}{LABEL}", "public", sector))
    for i, company in enumerate(_COMPANIES):
        orgs.append(
            OrgPlan(
                f"{company.split()[0]}-demo",
                f"{company} AS{LABEL}",
                "industry",
                is_sme=i % 2 == 0,
            )
        )
    return orgs


def _slug(sector: str) -> str:
    table = str.maketrans({"ø": "o", "å": "a", "æ": "ae", " ": "-"})
    return sector.lower().translate(table)


def _split(n: int) -> tuple[int, int, int]:
    """(research, public, industry) projects: about 80/14/6 %, at least one of each."""
    public = max(1, round(0.14 * n))
    industry = max(1, round(0.06 * n))
    return n - public - industry, public, industry


def plan(fraction: float, seed: int) -> World:
    """The world for ``fraction`` of the national size, drawn with ``seed``."""
    scale = Scale.of(fraction)
    rng = np.random.default_rng(seed)
    orgs = organisations()
    people = _sign_ins(orgs)
    generated = scale.users - len(people)
    if generated < scale.projects:
        raise ValueError(f"fraction {fraction} is too small for a PI per project")
    projects = _projects(orgs, scale.projects, rng)
    names = _names(rng, generated)
    new: list[PersonPlan] = []

    def person(org: str) -> PersonPlan:
        k = len(new)
        p = PersonPlan(f"nu{k + 1:05d}", names[k], org)
        new.append(p)
        return p

    coordinator_of = {p.sector: p.username for p in people if "coordinator" in p.roles}
    _leaders(projects, orgs, coordinator_of, person, rng)
    _members(projects, generated - len(new), person, rng)
    # Reviewers: about one in fifty projects' worth, from the generated people.
    n_reviewers = max(2, round(scale.projects / 50))
    for k in rng.choice(len(new), size=min(n_reviewers, len(new)), replace=False):
        new[int(k)].roles.append("reviewer")
    return World(scale, seed, orgs, people + new, projects)


def _sign_ins(orgs: list[OrgPlan]) -> list[PersonPlan]:
    """The demo's sign-ins, and a coordinator for each sector the demo has none for."""
    people = [
        PersonPlan(u, name, org, list(roles), sector, password=True)
        for u, name, org, roles, sector in demo.PEOPLE
    ]
    coordinated = {p.sector for p in people if "coordinator" in p.roles}
    by_sector = {o.sector: o for o in orgs if o.kind == "public"}
    for sector in sorted(set(by_sector) - coordinated):
        people.append(
            PersonPlan(
                f"coordinator-{_slug(sector)}",
                f"Coordinator {sector}",
                by_sector[sector].short_name,
                ["coordinator"],
                sector,
            )
        )
    return people


def _projects(orgs: list[OrgPlan], n: int, rng: np.random.Generator) -> list[ProjectPlan]:
    by_kind = {k: [o for o in orgs if o.kind == k] for k in ("research", "public", "industry")}
    n_research, n_public, n_industry = _split(n)
    projects: list[ProjectPlan] = []
    # Research projects: the big universities have most (Zipf-like weights).
    research_orgs = by_kind["research"]
    w = 1.0 / np.arange(1, len(research_orgs) + 1) ** 0.9
    r_org = rng.choice(len(research_orgs), size=n_research, p=w / w.sum())
    for i in range(n_research):
        org = research_orgs[r_org[i]]
        topic = demo.RESEARCH_TOPICS[i % len(demo.RESEARCH_TOPICS)]
        aspect = _ASPECTS[(i // len(demo.RESEARCH_TOPICS)) % len(_ASPECTS)]
        projects.append(
            ProjectPlan(
                f"nn{1000 + i}k",
                f"{topic}: {aspect}",
                org.short_name,
                "",
                "research_rd",
                "research",
            )
        )
    # Public projects: one per sector first (as far as they go), then by chance. Their
    # purposes need availability tier 2 (Olivia, NIRD); all of them work on open data.
    by_sector = {o.sector: o for o in by_kind["public"]}
    sectors = sorted(by_sector)
    public_orgs = by_kind["public"]
    for i in range(n_public):
        if i < len(sectors):
            org = by_sector[sectors[i]]
        else:
            org = public_orgs[int(rng.integers(len(public_orgs)))]
        projects.append(
            ProjectPlan(
                f"ns{1000 + i}k",
                f"{_SECTOR_TOPICS[i % len(_SECTOR_TOPICS)]} ({org.sector})",
                org.short_name,
                "",
                ["admin_rd", "national_ai"][i % 2],
                "public",
            )
        )
    industry_orgs = by_kind["industry"]
    for i in range(n_industry):
        org = industry_orgs[i % len(industry_orgs)]
        projects.append(
            ProjectPlan(
                f"ni{1000 + i}k",
                f"{_INDUSTRY_TOPICS[i % len(_INDUSTRY_TOPICS)]} ({org.short_name})",
                org.short_name,
                "",
                "commercial",
                "industry",
            )
        )
    quality = rng.normal(0, 1.1, size=len(projects))
    for p, q in zip(projects, quality, strict=True):
        p.quality = float(q)
    return projects


def _leaders(projects, orgs, coordinator_of, person, rng: np.random.Generator) -> None:
    """PIs: the demo's PI leads the first three research projects, each sector's coordinator
    its sector's first project, the industry sign-in Fjordvind's first; the rest get generated
    PIs, some of whom lead two projects of their organisation."""
    led: dict[str, int] = {}
    first_of_sector: set[str] = set()
    pis_of_org: dict[str, list[str]] = {}
    org_by_short = {o.short_name: o for o in orgs}
    for i, p in enumerate(projects):
        org = org_by_short[p.organisation]
        if p.group == "research" and i < 3:
            p.pi = "pi"
        elif p.group == "public" and org.sector not in first_of_sector:
            first_of_sector.add(org.sector)
            p.pi = coordinator_of[org.sector]
        elif p.organisation == "Fjordvind" and "industry" not in led:
            p.pi = "industry"
        else:
            candidates = [u for u in pis_of_org.get(p.organisation, []) if led[u] < 2]
            if candidates and rng.random() < 0.3:
                p.pi = candidates[int(rng.integers(len(candidates)))]
            else:
                pi = person(p.organisation)
                pi.roles.append("pi")
                p.pi = pi.username
                pis_of_org.setdefault(p.organisation, []).append(pi.username)
        led[p.pi] = led.get(p.pi, 0) + 1


def _members(projects, n_members: int, person, rng: np.random.Generator) -> None:
    """Everyone else: members of 1-3 projects, mostly of their own organisation."""
    projects_of_org: dict[str, list[int]] = {}
    for i, p in enumerate(projects):
        projects_of_org.setdefault(p.organisation, []).append(i)
    size = rng.pareto(1.5, size=len(projects)) + 1  # a few projects have many members
    firsts = rng.choice(len(projects), size=n_members, p=size / size.sum())
    extras = rng.choice(3, size=n_members, p=[0.6, 0.3, 0.1])
    draws = rng.random(size=(n_members, 2, 2))
    for m in range(n_members):
        j = int(firsts[m])
        first = projects[j]
        member = person(first.organisation)
        first.members.append(member.username)
        own = projects_of_org[first.organisation]
        joined = {j}
        for e in range(int(extras[m])):
            local, pick = draws[m, e]
            pool = own if local < 0.8 and len(own) > len(joined) else range(len(projects))
            k = int(pool[int(pick * len(pool))])
            if k not in joined:
                joined.add(k)
                projects[k].members.append(member.username)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    first = rng.integers(len(_FIRST), size=n)
    last = rng.integers(len(_LAST), size=n)
    return [f"{_FIRST[a]} {_LAST[b]}" for a, b in zip(first, last, strict=True)]
