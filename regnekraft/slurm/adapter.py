"""The platform's side of the Slurm bridge: allocations in the database -> the desired
cluster description; Slurm usage records -> the platform's usage import.

The framework-free core (spec, diff, sync, ingest) never sees Django; this module is the
only place that maps between the two, so the mapping rules live here:

- one Slurm cluster per catalogue system, named by the system's slug;
- account tree root -> user group (research/public/industry) -> organisation -> project;
- a project's ``GrpTRESMins`` is its live grants on the system (CPU core-hours -> ``cpu``,
  GPU-hours -> ``gres/gpu``) in minutes; its Fairshare is proportional to the grants
  weighed in CPU-hour prices (the weights ``TRESBillingWeights`` uses, see
  :func:`billing_weights`), so that a GPU-hour counts as what it costs, not as one hour;
- the group Fairshares follow the policy: research gets the protected share, the economic
  cap goes to industry, the rest to the public sector;
- QOS: one per availability tier, an emergency QOS preempting them, and the economic QOS
  whose ``GrpTRES`` is the cap as absolute CPUs (and GPUs) of the system;
- a project's ``usage_period`` is the first day of its live grants there: when it moves
  on (a new allocation period), the bridge resets the account's usage (sync.py);
- a project with no active allocation left on the system (blocked at 100 %, expired or
  revoked) is blocked (``GrpSubmitJobs=0``, ``GrpJobs=0``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any

from django.db.models import Min, Q

from regnekraft.allocation.models import (
    Allocation,
    AllocationStatus,
    PolicySettings,
)
from regnekraft.catalog.models import PriceCategory, ResourceClass, System
from regnekraft.catalog.prices import NoPrice, PriceBook
from regnekraft.parties.models import Project

from .spec import ClusterSpec, economic_cap_tres, fairshares, hours_to_tres_minutes, standard_qos

TIER_QOS = {1: "moderate", 2: "high", 3: "extreme"}
TIER_PRIORITY = {"moderate": 10, "high": 20, "extreme": 30}
TRES_OF_KIND = {"cpu": "cpu", "gpu": "gres/gpu"}
KIND_OF_TRES = {v: k for k, v in TRES_OF_KIND.items()}

logger = logging.getLogger(__name__)


def _account(name: str) -> str:
    return name.lower().replace(" ", "-")


def _installed(system: System) -> dict[str, int]:
    out = {}
    for rc in system.resource_classes.all():
        if rc.kind in TRES_OF_KIND:
            out[TRES_OF_KIND[rc.kind]] = int(rc.installed_units)
    return out


def billing_weights(system: System, day: dt.date) -> dict[int, float]:
    """Each CPU and GPU class of ``system`` (by primary key) in CPU-hour price units, from
    the research (category A) price list valid on ``day``: the same weights that the
    partition's ``TRESBillingWeights`` should carry (docs/slurm.md). A class without a
    price, or a system with no priced CPU class, weighs 1 per unit."""
    book = PriceBook()

    def price(rc: ResourceClass) -> float | None:
        try:
            return float(book.unit_price(PriceCategory.A, rc, day))
        except NoPrice:
            return None

    classes = [rc for rc in system.resource_classes.all() if rc.kind in TRES_OF_KIND]
    cpu = next((p for rc in classes if rc.kind == "cpu" and (p := price(rc))), None)
    weights = {}
    for rc in classes:
        p = price(rc)
        weights[rc.pk] = p / cpu if p and cpu else 1.0
    return weights


def description(system: System, *, today: dt.date | None = None) -> dict[str, Any]:
    """The desired state of ``system``'s Slurm accounting, as the bridge's plain description."""
    today = today or dt.date.today()
    settings = PolicySettings.current()
    live = (
        Allocation.objects.live()
        .on(today)
        .filter(resource_class__system=system, resource_class__kind__in=list(TRES_OF_KIND))
        .select_related("project__organisation", "project__pi", "resource_class")
        .prefetch_related("project__members")
    )
    grants: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    weighed: dict[str, float] = defaultdict(float)  # grants in CPU-hour price units
    # first day of the grants GrpTRESMins counts; revoked ones included, so that revoking
    # a grant never moves the period (and resets the usage) in the middle of it
    period = {
        _account(row["project__code"]): row["first"]
        for row in Allocation.objects.on(today)
        .filter(resource_class__system=system, resource_class__kind__in=list(TRES_OF_KIND))
        .values("project__code")
        .annotate(first=Min("start"))
    }
    weights = billing_weights(system, today)
    active: set[str] = set()
    projects: dict[str, Project] = {}
    for a in live:
        code = _account(a.project.code)
        projects[code] = a.project
        grants[code][TRES_OF_KIND[a.resource_class.kind]] += float(a.amount)
        weighed[code] += float(a.amount) * weights.get(a.resource_class_id, 1.0)
        if a.status == AllocationStatus.ACTIVE:
            active.add(code)
    cap = float(settings.economic_cap)
    protected = float(settings.research_protected_share)
    group_share = {
        "research": protected,
        "industry": cap,
        "public": max(1.0 - protected - cap, 0.0),
    }
    shares = fairshares(weighed)
    orgs: dict[str, str] = {}
    items = []
    for code, project in sorted(projects.items()):
        org = project.organisation
        orgs[_account(org.short_name)] = org.user_group
        qos = "economic" if project.is_economic else f"tier_{TIER_QOS[project.required_tier]}"
        users = sorted(
            {
                _account(p.slurm_username)
                for p in [project.pi, *project.members.all()]
                if p.slurm_username
            }
        )
        items.append(
            {
                "account": code,
                "organisation": _account(org.short_name),
                "fairshare": shares[code],
                "description": project.title[:60],
                "grp_tres_mins": hours_to_tres_minutes(grants[code]),
                "qos": sorted({qos, "emergency"}) if project.required_tier >= 3 else [qos],
                "default_qos": qos,
                "blocked": code not in active,
                "users": users,
                "usage_period": period[code].isoformat(),
            }
        )
    logger.debug(
        "desired state for %s on %s: %d project(s), %d blocked",
        system.slug,
        today,
        len(items),
        sum(1 for item in items if item["blocked"]),
    )
    return {
        "cluster": _account(system.slug),
        "qos": standard_qos(TIER_PRIORITY, economic_cap=economic_cap_tres(cap, _installed(system))),
        "groups": [
            {"account": g, "kind": g, "fairshare": max(1, round(s * 100))}
            for g, s in group_share.items()
        ],
        "organisations": [{"account": o, "group": g} for o, g in sorted(orgs.items())],
        "projects": items,
    }


def desired_spec(system: System, *, today: dt.date | None = None) -> ClusterSpec:
    return ClusterSpec.from_description(description(system, today=today))


def usage_records(system: System, slurm_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished, chargeable Slurm records -> the importer's records (one per TRES used).

    Only final records are imported: a running job is imported once, when it has ended
    (the ingest window overlaps, and sacct returns jobs active in the window). Each attempt
    of a requeued job is its own record (the attempt is part of the step key).
    """
    out = []
    for r in slurm_records:
        if not (r.get("chargeable") and r.get("final") and r.get("project")):
            continue  # unfinished jobs come back later; unknown accounts are reported by ingest
        start = dt.datetime.fromtimestamp(r["start"], dt.UTC)
        end = dt.datetime.fromtimestamp(r["end"] or r["start"], dt.UTC)
        for tres, kind in KIND_OF_TRES.items():
            hours = r["tres_seconds"].get(tres, 0) / 3600
            if hours <= 0:
                continue
            out.append(
                {
                    "source": "slurm",
                    "cluster": system.slug,
                    "job_id": str(r["job_id"]),
                    "step": f"{r['step'] or 'job'}:{r['attempt']}"[:32],
                    "account": r["project"],
                    "system": system.slug,
                    "kind": kind,
                    "quantity": f"{hours:.4f}",
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "user": r.get("user", ""),
                }
            )
    logger.debug(
        "%s: %d usage record(s) for the importer from %d Slurm record(s)",
        system.slug,
        len(out),
        len(slurm_records),
    )
    return out


def account_map(system: System) -> dict[str, str]:
    """Slurm account -> project code, for every project that ever had a grant on the system."""
    codes = (
        Project.objects.filter(Q(allocations__resource_class__system=system))
        .values_list("code", flat=True)
        .distinct()
    )
    return {_account(c): c for c in codes}
