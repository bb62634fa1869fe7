"""The national policy rules, in one place. Every interface (API, CLI, admin, portal,
optimiser) calls :func:`check` or :func:`enforce` before it commits capacity.

Rules (SYSTEM.md section 3.3):

``capacity``
    committed units of a resource class over a period never exceed its capacity x the
    overbooking factor. Commitments are counted pro rata over their own period.
``order_bounds``
    sub-allocations of a sector order line never exceed the line (the line itself holds
    the capacity, so a sub-allocation is not counted against capacity a second time).
``economic_cap``
    economic activity uses at most ``economic_cap_share`` of each calendar year's capacity
    (never above the legal 20 %), and is priced at market price (category C).
``research_share``
    organisations other than research organisations use at most
    ``1 - research_protected_share`` of each calendar year's capacity.
    (Both shares apply to shared capacity, not to co-located equipment, which serves its owner.)
``placement``
    graded work only on graded systems in Norway; shielded or personal data only on
    shielded or graded systems in Norway or the EEA; open work abroad only in countries on
    the security-partner list.
``availability_tier``
    a purpose that needs a tier gets only systems that offer it.
``ownership``
    co-located equipment serves only its owner's projects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from regnekraft.catalog.capacity import overlap_days
from regnekraft.catalog.models import PriceCategory, ResourceClass, SecurityZone
from regnekraft.parties.models import Organisation, Project, Purpose, Sensitivity

from .models import (
    EEA_COUNTRIES,
    Allocation,
    OrderStatus,
    PolicySettings,
    SectorOrderLine,
)

SMALL_PROJECT_CPU_HOURS_PER_YEAR = Decimal(
    200_000
)  # category 0 limits (Sigma2 user contribution model)
SMALL_PROJECT_STORAGE_TB = Decimal(7)


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    numbers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


class PolicyViolation(Exception):
    """Raised when a decision breaks one or more rules; nothing has been written."""

    def __init__(self, violations: Sequence[Violation]):
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations))


@dataclass(frozen=True)
class Proposal:
    """Capacity someone wants to commit: a grant to a project, or a sector order line."""

    resource_class: ResourceClass
    amount: Decimal
    start: dt.date
    end: dt.date
    organisation: Organisation
    project: Project | None = None
    order_line: SectorOrderLine | None = None  # a sub-allocation inside this order line
    replaces: Allocation | None = None  # a change request: this commitment is replaced

    @classmethod
    def grant(
        cls,
        project: Project,
        resource_class: ResourceClass,
        amount: Decimal,
        start: dt.date,
        end: dt.date,
        **kw,
    ) -> Proposal:
        return cls(resource_class, Decimal(amount), start, end, project.organisation, project, **kw)

    @property
    def economic(self) -> bool:
        if self.project is not None:
            return self.project.is_economic
        return self.organisation.is_economic

    @property
    def research(self) -> bool:
        return self.organisation.is_research

    @property
    def sensitivity(self) -> int:
        return self.project.sensitivity if self.project else Sensitivity.OPEN

    @property
    def required_tier(self) -> int:
        return self.project.required_tier if self.project else 1

    def label(self) -> str:
        who = self.project.code if self.project else f"order of {self.organisation}"
        return f"{who} on {self.resource_class}"


def _fmt(value: Decimal | float) -> str:
    return f"{Decimal(value):,.0f}".replace(",", " ")


@dataclass(frozen=True)
class _Commitment:
    amount: Decimal
    start: dt.date
    end: dt.date
    economic: bool
    research: bool

    def within(self, start: dt.date, end: dt.date) -> Decimal:
        days = (self.end - self.start).days
        if days <= 0:
            return Decimal(0)
        return self.amount * Decimal(overlap_days(start, end, self.start, self.end)) / Decimal(days)


def _existing_commitments(
    rc: ResourceClass, start: dt.date, end: dt.date, exclude: Iterable[int]
) -> list[_Commitment]:
    allocations = (
        Allocation.objects.live()
        .overlapping(start, end)
        .filter(resource_class=rc, order_line__isnull=True)
        .exclude(pk__in=list(exclude))
        .select_related("project__organisation")
    )
    out = [
        _Commitment(
            a.amount,
            a.start,
            a.end,
            a.project.is_economic,
            a.project.organisation.is_research,
        )
        for a in allocations
    ]
    lines = SectorOrderLine.objects.filter(
        resource_class=rc,
        order__status=OrderStatus.CONFIRMED,
        order__year__gte=start.year,
        order__year__lte=end.year,
    ).select_related("order__organisation")
    for line in lines:
        org = line.order.organisation
        out.append(
            _Commitment(
                line.amount,
                line.order.start,
                line.order.end,
                org.is_economic,
                org.is_research,
            )
        )
    return out


def _years(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    return [
        (dt.date(y, 1, 1), dt.date(y + 1, 1, 1))
        for y in range(start.year, (end - dt.timedelta(days=1)).year + 1)
    ]


def _as_commitment(p: Proposal) -> _Commitment:
    return _Commitment(p.amount, p.start, p.end, p.economic, p.research)


def _check_placement(p: Proposal, settings: PolicySettings) -> list[Violation]:
    system = p.resource_class.system
    level = p.sensitivity
    out = []
    if level >= Sensitivity.RESTRICTED:
        if system.security_zone != SecurityZone.GRADED or system.country != "NO":
            out.append(
                Violation(
                    "placement",
                    (
                        f"{p.label()}: graded work ({Sensitivity(level).label}) runs only on "
                        f"graded systems in Norway; {system} is zone '{system.security_zone}' in "
                        f"{system.country}"
                    ),
                    {
                        "sensitivity": int(level),
                        "zone": system.security_zone,
                        "country": system.country,
                    },
                )
            )
    elif level == Sensitivity.SHIELDED:
        if system.security_zone == SecurityZone.OPEN or system.country not in EEA_COUNTRIES:
            out.append(
                Violation(
                    "placement",
                    (
                        f"{p.label()}: personal or shielded data runs only on systems approved for "
                        f"it in Norway or the EEA; {system} is zone '{system.security_zone}' in "
                        f"{system.country}"
                    ),
                    {
                        "sensitivity": int(level),
                        "zone": system.security_zone,
                        "country": system.country,
                    },
                )
            )
    elif system.country != "NO" and system.country not in settings.security_partner_countries:
        out.append(
            Violation(
                "placement",
                (
                    f"{p.label()}: {system} is in {system.country}, which is not on the list of "
                    f"security partners ({', '.join(settings.security_partner_countries)})"
                ),
                {"country": system.country},
            )
        )
    return out


def static_violations(p: Proposal, settings: PolicySettings) -> list[Violation]:
    """Rules that need no knowledge of other commitments."""
    out: list[Violation] = []
    if p.amount <= 0:
        out.append(Violation("amount", f"{p.label()}: amount must be positive, got {p.amount}"))
    if p.end <= p.start:
        out.append(Violation("period", f"{p.label()}: period {p.start}..{p.end} is empty"))
    out += _check_placement(p, settings)
    system = p.resource_class.system
    if p.required_tier > system.availability_tier:
        purpose = Purpose(p.project.purpose).label if p.project else "this order"
        out.append(
            Violation(
                "availability_tier",
                (
                    f"{p.label()}: {purpose} needs availability tier {p.required_tier}, "
                    f"{system} offers tier {system.availability_tier}"
                ),
                {"required": p.required_tier, "offered": system.availability_tier},
            )
        )
    if system.owner_id is not None and system.owner_id != p.organisation.pk:
        out.append(
            Violation(
                "ownership",
                (
                    f"{p.label()}: {system} is co-located equipment owned by {system.owner}; "
                    f"it serves only the owner's projects"
                ),
                {"owner": str(system.owner)},
            )
        )
    return out


def _check_order_bounds(p: Proposal, earlier: Sequence[Proposal]) -> list[Violation]:
    line = p.order_line
    assert line is not None
    used = sum(
        (
            a.amount
            for a in line.sub_allocations.live()
            if p.replaces is None or a.pk != p.replaces.pk
        ),
        Decimal(0),
    )
    used += sum(
        (q.amount for q in earlier if q.order_line is not None and q.order_line.pk == line.pk),
        Decimal(0),
    )
    if used + p.amount > line.amount:
        return [
            Violation(
                "order_bounds",
                (
                    f"{p.label()}: sub-allocations of {line} would reach {_fmt(used + p.amount)} "
                    f"{line.resource_class.unit}, more than the ordered {_fmt(line.amount)}"
                ),
                {"ordered": str(line.amount), "already": str(used), "requested": str(p.amount)},
            )
        ]
    if p.project is not None and p.project.organisation.sector != line.order.sector:
        return [
            Violation(
                "order_bounds",
                (
                    f"{p.label()}: project belongs to sector '{p.project.organisation.sector}', "
                    f"not to the order's sector '{line.order.sector}'"
                ),
            )
        ]
    if not (line.order.start <= p.start and p.end <= line.order.end):
        return [
            Violation(
                "order_bounds",
                (
                    f"{p.label()}: period {p.start}..{p.end} is outside the order's year "
                    f"{line.order.year}"
                ),
            )
        ]
    return []


@dataclass(frozen=True)
class _YearUse:
    """One calendar year of a class: its capacity and what the shared rules count in it."""

    start: dt.date
    end: dt.date
    capacity: Decimal
    economic: Decimal
    non_research: Decimal

    def economic_allowed(self, settings: PolicySettings) -> Decimal:
        return self.capacity * settings.economic_cap

    def non_research_allowed(self, settings: PolicySettings) -> Decimal:
        return self.capacity * (1 - settings.research_protected_share)


def _year_span(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    return dt.date(start.year, 1, 1), dt.date((end - dt.timedelta(days=1)).year + 1, 1, 1)


def _year_uses(
    rc: ResourceClass, commitments: Sequence[_Commitment], start: dt.date, end: dt.date
) -> list[_YearUse]:
    return [
        _YearUse(
            y_start,
            y_end,
            rc.capacity(y_start, y_end),
            _within(commitments, y_start, y_end, ECONOMIC),
            _within(commitments, y_start, y_end, NON_RESEARCH),
        )
        for y_start, y_end in _years(start, end)
    ]


ALL, ECONOMIC, NON_RESEARCH = "all", "economic", "non_research"


def _counts(c: _Commitment, which: str) -> bool:
    return which == ALL or (c.economic if which == ECONOMIC else not c.research)


def _within(
    commitments: Iterable[_Commitment], start: dt.date, end: dt.date, which: str
) -> Decimal:
    """The units of ``commitments`` (all, the economic ones or the non-research ones) that fall
    within [start, end)."""
    return sum((c.within(start, end) for c in commitments if _counts(c, which)), Decimal(0))


class _Committed:
    """What is committed to each class, for one :func:`check` of many proposals (a round):
    the existing commitments are read once per class, span and exclusion, and each sum is
    carried forward as the proposals before are added, instead of being summed afresh for
    every proposal (which made a round's check quadratic in its applications). The sums are
    the same ones, added in another order."""

    def __init__(self) -> None:
        self._existing: dict[tuple, list[_Commitment]] = {}
        self._earlier: dict[int, list[_Commitment]] = {}
        self._sums: dict[tuple, list] = {}  # key -> [earlier commitments added, running sum]

    def add(self, p: Proposal) -> None:
        if p.order_line is None:
            self._earlier.setdefault(p.resource_class.pk, []).append(_as_commitment(p))

    def within(self, p: Proposal, start: dt.date, end: dt.date, which: str) -> Decimal:
        rc = p.resource_class
        span = _year_span(p.start, p.end)
        exclude = (p.replaces.pk,) if p.replaces is not None else ()
        key = (rc.pk, span, exclude, start, end, which)
        entry = self._sums.get(key)
        if entry is None:
            found = self._existing.get(key[:3])
            if found is None:
                found = self._existing[key[:3]] = _existing_commitments(rc, *span, exclude)
            entry = self._sums[key] = [0, _within(found, start, end, which)]
        earlier = self._earlier.get(rc.pk, [])
        entry[1] += _within(earlier[entry[0] :], start, end, which)
        entry[0] = len(earlier)
        return entry[1]

    def years(self, p: Proposal) -> list[_YearUse]:
        rc = p.resource_class
        return [
            _YearUse(
                y_start,
                y_end,
                rc.capacity(y_start, y_end),
                self.within(p, y_start, y_end, ECONOMIC),
                self.within(p, y_start, y_end, NON_RESEARCH),
            )
            for y_start, y_end in _years(p.start, p.end)
        ]


def _check_shared(
    p: Proposal, settings: PolicySettings, committed_to: _Committed
) -> list[Violation]:
    """Capacity, economic cap and research share against everything already committed (and
    the proposals before ``p`` that ``committed_to`` has been given)."""
    rc = p.resource_class
    out: list[Violation] = []

    capacity = rc.capacity(p.start, p.end)
    limit = capacity * settings.overbooking_factor
    committed = committed_to.within(p, p.start, p.end, ALL)
    if committed + p.amount > limit:
        out.append(
            Violation(
                "capacity",
                (
                    f"{p.label()}: {_fmt(p.amount)} {rc.unit} requested in {p.start}..{p.end}, but "
                    f"{_fmt(committed)} of {_fmt(limit)} (capacity {_fmt(capacity)} x overbooking "
                    f"{settings.overbooking_factor}) are already committed; "
                    f"{_fmt(max(limit - committed, 0))} left"
                ),
                {
                    "requested": str(p.amount),
                    "committed": str(committed),
                    "capacity": str(capacity),
                    "overbooking_factor": str(settings.overbooking_factor),
                },
            )
        )

    if rc.system.owner_id is not None:
        return out  # co-located equipment is its owner's: the shares apply to shared capacity
    mine = _as_commitment(p)
    cap_share = settings.economic_cap
    protected = settings.research_protected_share
    for year in committed_to.years(p):
        share_now = mine.within(year.start, year.end)
        if p.economic and year.economic + share_now > year.economic_allowed(settings):
            allowed = year.economic_allowed(settings)
            out.append(
                Violation(
                    "economic_cap",
                    (
                        f"{p.label()}: economic activity in {year.start.year} would reach "
                        f"{_fmt(year.economic + share_now)} {rc.unit}, above the cap of "
                        f"{cap_share:.1%} of {_fmt(year.capacity)} = {_fmt(allowed)}"
                    ),
                    {
                        "year": year.start.year,
                        "economic": str(year.economic + share_now),
                        "cap": str(allowed),
                        "cap_share": str(cap_share),
                    },
                )
            )
        if not p.research and year.non_research + share_now > year.non_research_allowed(settings):
            allowed = year.non_research_allowed(settings)
            out.append(
                Violation(
                    "research_share",
                    (
                        f"{p.label()}: non-research use in {year.start.year} would reach "
                        f"{_fmt(year.non_research + share_now)} {rc.unit}, above the "
                        f"{1 - protected:.1%} left after research's protected {protected:.1%} of "
                        f"{_fmt(year.capacity)} = {_fmt(allowed)}"
                    ),
                    {
                        "year": year.start.year,
                        "non_research": str(year.non_research + share_now),
                        "allowed": str(allowed),
                        "protected_share": str(protected),
                    },
                )
            )
    return out


def check(proposals: Sequence[Proposal], settings: PolicySettings | None = None) -> list[Violation]:
    """Every rule broken by committing ``proposals`` together (in order) on top of what exists."""
    settings = settings or PolicySettings.current()
    out: list[Violation] = []
    committed_to = _Committed()
    for i, p in enumerate(proposals):
        out += static_violations(p, settings)
        if p.order_line is not None:
            out += _check_order_bounds(p, proposals[:i])
        else:
            out += _check_shared(p, settings, committed_to)
        committed_to.add(p)
    return out


def lock_resource_classes(proposals: Iterable[Proposal]) -> None:
    """Serialise decisions on the same resource classes (PostgreSQL row locks, in id order)."""
    ids = sorted({p.resource_class.pk for p in proposals})
    list(
        ResourceClass.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def enforce(proposals: Sequence[Proposal], settings: PolicySettings | None = None) -> None:
    """Raise :class:`PolicyViolation` if any rule is broken. Call inside ``transaction.atomic``."""
    lock_resource_classes(proposals)
    violations = check(proposals, settings)
    if violations:
        raise PolicyViolation(violations)


def order_category(organisation: Organisation) -> str:
    """The price list a sector order's value (and so its commitment) is priced by: market
    price (C) for industry, which is economic activity, else cost-plus (A)."""
    return PriceCategory.C if organisation.kind == "industry" else PriceCategory.A


def price_category(
    project: Project,
    *,
    dedicated: bool = False,
    requested: Iterable[tuple[str, Decimal]] = (),
    months: Decimal | int = 12,
) -> str:
    """Which price list a grant is charged by. Economic activity always pays market price (C).

    ``requested``: (resource kind, units) for the whole request over ``months``; a research
    project below 200,000 CPU-hours a year and 7 TB held is a small project (category 0).
    """
    if project.is_economic:
        return PriceCategory.C
    if dedicated:
        return PriceCategory.B
    if project.eu_funded:
        return PriceCategory.D
    totals: dict[str, Decimal] = {}
    for kind, amount in requested:
        totals[kind] = totals.get(kind, Decimal(0)) + Decimal(amount)
    months = Decimal(months)
    cpu_per_year = totals.get("cpu", Decimal(0)) * Decimal(12) / months
    tb_held = totals.get("storage", Decimal(0)) / months
    if (
        totals
        and set(totals) <= {"cpu", "storage"}
        and (cpu_per_year < SMALL_PROJECT_CPU_HOURS_PER_YEAR and tb_held < SMALL_PROJECT_STORAGE_TB)
        and project.organisation.is_research
    ):
        return PriceCategory.ZERO
    return PriceCategory.A


def year_use(
    rc: ResourceClass, year: int, settings: PolicySettings | None = None
) -> dict[str, Decimal | bool]:
    """What the shared rules count in one calendar year of a class, as the rules count it (for
    reports)."""
    settings = settings or PolicySettings.current()
    start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    commitments = _existing_commitments(rc, start, end, [])
    (use,) = _year_uses(rc, commitments, start, end)
    committed = sum((c.within(start, end) for c in commitments), Decimal(0))
    return {
        "capacity": use.capacity,
        "committed": committed,
        "economic": use.economic,
        "non_research": use.non_research,
        "research": committed - use.non_research,
        "economic_allowed": use.economic_allowed(settings),
        "non_research_allowed": use.non_research_allowed(settings),
        "shares_apply": rc.system.owner_id is None,  # co-located equipment serves its owner
    }


def remaining(
    rc: ResourceClass, start: dt.date, end: dt.date, settings: PolicySettings | None = None
) -> dict[str, Decimal]:
    """What one more commitment over [start, end) may still take under each shared rule.

    The economic and non-research rooms are checked per calendar year; a commitment puts a
    fixed fraction of itself in each year it touches, so its room is the tightest year's room
    divided by that year's fraction (for the optimiser and reports).
    """
    settings = settings or PolicySettings.current()
    commitments = _existing_commitments(rc, *_year_span(start, end), [])
    capacity = rc.capacity(start, end)
    committed = sum((c.within(start, end) for c in commitments), Decimal(0))
    free = max(capacity * settings.overbooking_factor - committed, Decimal(0))
    if rc.system.owner_id is not None:  # the shares do not apply to co-located equipment
        return {
            "capacity": capacity,
            "committed": committed,
            "free": free,
            "economic_room": free,
            "non_research_room": free,
        }
    days = Decimal((end - start).days)
    economic_room = non_research_room = None
    for year in _year_uses(rc, commitments, start, end):
        fraction = Decimal(overlap_days(year.start, year.end, start, end)) / days
        if fraction <= 0:
            continue
        e = (year.economic_allowed(settings) - year.economic) / fraction
        n = (year.non_research_allowed(settings) - year.non_research) / fraction
        economic_room = e if economic_room is None else min(economic_room, e)
        non_research_room = n if non_research_room is None else min(non_research_room, n)
    return {
        "capacity": capacity,
        "committed": committed,
        "free": free,
        "economic_room": max(economic_room or Decimal(0), Decimal(0)),
        "non_research_room": max(non_research_room or Decimal(0), Decimal(0)),
    }


__all__ = [
    "Proposal",
    "Violation",
    "PolicyViolation",
    "check",
    "enforce",
    "price_category",
    "remaining",
    "static_violations",
    "year_use",
]
