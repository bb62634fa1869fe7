"""Decision makers: utilisation over time, allocated vs used vs available, user-group balance
against the research floor, economic share against its cap, and the planning figures.

The figures come from ``accounting.reports`` (one place for them); charts are SVG rendered
on the server, each next to a table with the same numbers. The rendered parts are cached
under a fingerprint of the data, so a change to allocations, usage, settings or the
catalogue (all audited) shows at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _

from regnekraft.accounting import reports as accounting_reports
from regnekraft.allocation.models import PolicySettings, SimulationRun

from .. import charts, reports
from ..tables import Column, Table
from .base import page, requires, year_param

CACHE_SECONDS = 300
UTILISATION_MONTHS = 12
UTILISATION_RULE_OF_THUMB = 75  # per cent (000:1356-1362)
GROUP_NAMES = {
    "research": gettext_noop("Research"),
    "public": gettext_noop("Public sector"),
    "industry": gettext_noop("Industry"),
}

logger = logging.getLogger(__name__)


def _pct(share: Decimal | None) -> float:
    return float(100 * share) if share is not None else 0.0


def _ratio(part: Decimal, whole: Decimal) -> float:
    return float(100 * part / whole) if whole else 0.0


def _utilisation(today: dt.date) -> tuple[str, Table]:
    rows = reports.monthly_utilisation(UTILISATION_MONTHS, today)
    table = Table(
        "utilisation",
        _("Utilisation per month (used share of capacity, %)"),
        [
            Column(_("Month")),
            Column(_("CPU"), kind="percent", decimals=1),
            Column(_("GPU"), kind="percent", decimals=1),
        ],
    )
    for r in rows:
        table.add(f"{r['month']:%Y-%m}", 100 * r["cpu"], 100 * r["gpu"])
    svg = charts.lines(
        _("Utilisation over time"),
        "%",
        [f"{r['month']:%Y-%m}" for r in rows],
        {
            _("CPU"): [float(100 * r["cpu"]) for r in rows],
            _("GPU"): [float(100 * r["gpu"]) for r in rows],
        },
        # xgettext:no-python-format
        reference=(_("75 % rule of thumb"), UTILISATION_RULE_OF_THUMB),
    )
    return svg, table


def _capacity(year: int) -> tuple[str, Table]:
    start, end = reports.year_bounds(year)
    rows = accounting_reports.report_capacity(start, end)
    table = Table(
        "allocated_used",
        _("Allocated, used and available in %(year)s") % {"year": year},
        [
            Column(_("Resource")),
            Column(_("Unit"), kind="unit"),
            Column(_("Capacity"), numeric=True),
            Column(_("Allocated"), numeric=True),
            Column(_("Ordered by sectors"), numeric=True),
            Column(_("Used"), numeric=True),
            Column(_("Available"), numeric=True),
        ],
    )
    for r in rows:
        table.add(
            r["resource_class"],
            r["unit"],
            r["capacity"],
            r["allocated"],
            r["ordered"],
            r["used"],
            r["available"],
        )
    svg = charts.bars(
        # xgettext:no-python-format
        _("Allocated, used and available (% of capacity)"),
        "%",
        [r["resource_class"] for r in rows],
        {
            _("Allocated"): [_ratio(r["allocated"] + r["ordered"], r["capacity"]) for r in rows],
            _("Used"): [_ratio(r["used"], r["capacity"]) for r in rows],
            _("Available"): [_ratio(r["available"], r["capacity"]) for r in rows],
        },
    )
    return svg, table


def _research_floor(year: int) -> tuple[str, Table]:
    rows = accounting_reports.report_research_share(year)
    floor = _pct(PolicySettings.current().research_protected_share)
    table = Table(
        "research_floor",
        _("User-group balance against the research floor in %(year)s") % {"year": year},
        [
            Column(_("Resource")),
            # xgettext:no-python-format
            Column(_("Research committed (% of capacity)"), kind="percent", decimals=1),
            # xgettext:no-python-format
            Column(_("Others committed (% of capacity)"), kind="percent", decimals=1),
            Column(_("Research floor (%)"), kind="percent", decimals=1),
            Column(_("Floor kept")),
        ],
    )
    for r in rows:
        table.add(
            r["resource_class"],
            _pct(r["research_committed_share"]),
            _ratio(r["non_research_committed"], r["capacity"]),
            floor,
            r["floor_kept"],
        )
    svg = charts.bars(
        _("Research and other users' commitments against the research floor"),
        "%",
        [r["resource_class"] for r in rows],
        {
            _("Research"): [_pct(r["research_committed_share"]) for r in rows],
            _("Other users"): [_ratio(r["non_research_committed"], r["capacity"]) for r in rows],
        },
        reference=(_("Research floor"), floor),
    )
    return svg, table


def _groups(year: int) -> Table:
    start, end = reports.year_bounds(year)
    groups = accounting_reports.report_by_group(start, end)["groups"]
    table = Table(
        "user_groups",
        _("Allocated, used and charged per user group in %(year)s") % {"year": year},
        [
            Column(_("User group")),
            Column(_("Resource kind")),
            Column(_("Allocated"), numeric=True),
            Column(_("Used"), numeric=True),
            Column(_("Charged"), kind="money"),
        ],
    )
    for g in groups:
        table.add(
            _(GROUP_NAMES.get(g["user_group"], g["user_group"])),
            g["kind"],
            g["allocated"],
            g["used"],
            g["charged_nok"],
        )
    return table


def _economic(year: int) -> tuple[str, Table]:
    rows = accounting_reports.report_economic_share(year)
    table = Table(
        "economic_share",
        _("Economic activity against the cap in %(year)s") % {"year": year},
        [
            Column(_("Resource")),
            Column(_("Committed (units)"), numeric=True),
            Column(_("Used (units)"), numeric=True),
            # xgettext:no-python-format
            Column(_("Committed (% of capacity)"), kind="percent", decimals=2),
            Column(_("Cap (%)"), kind="percent", decimals=1),
            Column(_("Within the cap")),
        ],
    )
    for r in rows:
        table.add(
            r["resource_class"],
            r["economic_committed"],
            r["economic_used"],
            _pct(r["committed_share"]),
            _pct(r["cap_share"]),
            r["within_cap"],
        )
    cap = _pct(rows[0]["cap_share"]) if rows else 0.0
    svg = charts.bars(
        _("Economic share against its cap"),
        "%",
        [r["resource_class"] for r in rows],
        {_("Economic activity"): [_pct(r["committed_share"]) for r in rows]},
        reference=(_("Cap"), cap),
    )
    return svg, table


def _planning() -> Table | None:
    try:
        from regnekraft.planning import economics

        comparison = economics.compare(economics.load_study())
    except Exception:  # a broken study file costs this section, not the decision makers' page
        logger.exception("the dashboard's cost/benefit section is left out")
        return None
    table = Table(
        "planning_npv",
        _("Cost/benefit: present value per concept, 2026-2030 (MNOK, costs negative)"),
        [
            Column(_("Concept")),
            Column(_("Investment"), numeric=True),
            Column(_("Operation"), numeric=True),
            Column(_("Tax financing cost"), numeric=True),
            Column(_("Total"), numeric=True),
        ],
    )
    for r in comparison.results:
        v = r.gross.rounded()
        table.add(r.name, v["investment"], v["operation"], v["tax"], v["total"])
    return table


def _simulation() -> dict | None:
    """The latest stored round simulation (``allocation.whatif``): its scenarios side by
    side, and each user group's delivered share against its entitlement. A stored run
    never changes, so its rendering is cached under its id."""
    run = SimulationRun.objects.select_related("call").first()
    if run is None:
        return None
    key = f"portal-simulation:{get_language()}:{run.pk}:{run.created.timestamp()}"
    built = cache.get(key)
    if built is None:
        built = _render_simulation(run)
        cache.set(key, built, PLAN_CACHE_SECONDS)
    return built


def _render_simulation(run: SimulationRun) -> dict:
    label = _("as proposed") if run.proposed else _("as decided")
    figures = Table(
        "simulation",
        _("Round %(call)s %(label)s, replayed on %(trace)s")
        % {"call": run.call.name, "label": label, "trace": run.trace},
        [
            Column(_("Scenario")),
            Column(_("Jobs"), numeric=True),
            Column(_("Utilisation (%)"), kind="percent", decimals=1),
            Column(_("Mean wait (h)"), numeric=True, decimals=2),
            Column(_("95th percentile wait (h)"), numeric=True, decimals=2),
            Column(_("Mean bounded slowdown"), numeric=True, decimals=2),
        ],
    )
    for sc in run.results:
        figures.add(
            sc["name"],
            int(sc["jobs"]),
            100 * sc["utilisation"],
            sc["mean_wait"] / 3600,
            sc["p95_wait"] / 3600,
            sc["mean_bounded_slowdown"],
        )
    groups = sorted({g for sc in run.results for g in sc.get("user_groups", {})})
    names = [_(GROUP_NAMES.get(g, g)) for g in groups]
    shares = Table(
        "simulation_shares",
        _("Delivered share against entitlement per user group (%)"),
        [
            Column(_("User group")),
            Column(_("Entitlement"), kind="percent", decimals=1),
            *[Column(sc["name"], kind="percent", decimals=1) for sc in run.results],
        ],
    )
    entitled = (
        [100 * run.results[0]["user_groups"][g]["entitlement"] for g in groups]
        if run.results
        else []
    )
    delivered = {
        sc["name"]: [100 * sc["user_groups"].get(g, {}).get("delivered_share", 0.0) for g in groups]
        for sc in run.results
    }
    for i, name in enumerate(names):
        shares.add(name, entitled[i], *[values[i] for values in delivered.values()])
    svg = charts.bars(
        _("Delivered share against entitlement per user group"),
        "%",
        names,
        {_("Entitlement"): entitled, **delivered},
    )
    return {"run": run, "figures": figures, "shares": shares, "svg": svg}


PLAN_CACHE_SECONDS = 3600


def _four_year_plan() -> list[Table]:
    """The rolling four-year plan and its thresholds, from the planning input file (it does not
    depend on the database, so it is cached on its own for an hour)."""
    cached = cache.get(f"portal-plan:{get_language()}")
    if cached is not None:
        return cached
    try:
        from regnekraft.planning import inputs, rolling

        inp = inputs.load_input()
        plan, _demand = rolling.make_plan(inp)
    except Exception:  # a broken planning input costs this section, not the page
        logger.exception("the dashboard's four-year plan is left out")
        return []
    crossings = Table(
        "thresholds",
        _("Investment thresholds: where today's capacity crosses them"),
        [
            Column(_("Resource")),
            Column(_("Quarter")),
            Column(_("Why")),
        ],
    )
    for key, c in plan.crossings.items():
        crossings.add(
            key, str(c.quarter) if c else _("not before the horizon"), c.reason() if c else ""
        )
    actions = Table(
        "four_year_plan",
        _("Rolling four-year plan %(first)s-%(last)s")
        % {"first": plan.plan_years[0], "last": plan.plan_years[-1]},
        [
            Column(_("Year")),
            Column(_("Action")),
            Column(_("Resource")),
            Column(_("System")),
            Column(_("Units"), numeric=True),
            Column(_("In service")),
            Column(_("Cost (MNOK)"), numeric=True),
            Column(_("Why")),
        ],
    )
    kinds = {"buy": _("buy"), "retire": _("retire")}
    for a in plan.actions:
        if a.year in plan.plan_years:
            actions.add(
                a.year,
                kinds.get(a.kind, a.kind),
                a.resource,
                a.system,
                round(a.units),
                str(a.online_quarter),
                round(a.cost_mnok),
                a.reason,
            )
    tables = [crossings, actions]
    cache.set(f"portal-plan:{get_language()}", tables, PLAN_CACHE_SECONDS)
    return tables


def _build(year: int) -> dict:
    today = dt.date.today()
    charts_ = {}
    for key, (svg, table) in {
        "utilisation": _utilisation(today),
        "allocated": _capacity(year),
        "groups": _research_floor(year),
        "economic": _economic(year),
    }.items():
        charts_[key] = {"svg": svg, "table": table}
    return {"charts": charts_, "groups": _groups(year), "planning": _planning()}


@requires("portal:dashboard")
def dashboard(request: HttpRequest) -> HttpResponse:
    year = year_param(request)
    fingerprint = "-".join(map(str, reports.data_fingerprint()))
    key = f"portal-dashboard:{get_language()}:{year}:{fingerprint}"
    built = cache.get(key)
    if built is None:
        built = _build(year)
        cache.set(key, built, CACHE_SECONDS)
    tables = [c["table"] for c in built["charts"].values()] + [built["groups"]]
    if built["planning"] is not None:
        tables.append(built["planning"])
    plan_tables = _four_year_plan()
    simulation = _simulation()
    if simulation is not None:
        tables += [simulation["figures"], simulation["shares"]]
    return page(
        request,
        "portal/dashboard.html",
        {
            "title": _("Dashboard"),
            "year": year,
            "charts": built["charts"],
            "groups": built["groups"],
            "planning": built["planning"],
            "plan_tables": plan_tables,
            "simulation": simulation,
        },
        tables=tables + plan_tables,
    )
