"""The readable reports of ``regnekraft plan ...`` (``--json`` prints the figures instead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from regnekraft.planning import economics as ec
from regnekraft.planning import inputs
from regnekraft.planning import plan as pl


def fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.2f}G"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:,.0f}"


def forecast_lines(label: str, r: Any, f: Any, components: Sequence, entry: dict) -> list[str]:
    lines = [
        f"{label} ({r.quantity_unit}{' per year' if r.hourly else ', year end'}):",
        f"  method: {f.method} of {', '.join(c.method for c in components)}",
    ]
    ys = entry["yearly"]
    full = {q.year for q in f.periods if q.q == 1} & {q.year for q in f.periods if q.q == 4}
    for y in sorted(full):
        lines.append(
            f"  {y}: {fmt(ys['central'][y]):>8}"
            f"  band {fmt(ys['lower'][y]):>8} - {fmt(ys['upper'][y]):>8}"
        )
    bt = entry.get("backtest")
    if bt and "error" not in bt:
        lines.append(
            f"  back-test ({bt['model']}, last {bt['horizon_quarters']} quarters held back, "
            f"{bt['origins']} origin(s)): MAPE {bt['mape_percent']:.1f} %, "
            f"bias {bt['bias_percent']:+.1f} %, {bt['interval_level']:.0%} band covered "
            f"{bt['interval_coverage']:.0%}"
        )
    return lines


def timeline_lines(label: str, r: Any, periods: list, tl: Any, rows: list) -> list[str]:
    lines = [
        f"\n{label} ({r.quantity_unit} per quarter)",
        f"  {'quarter':8} {'capacity':>9} {'demand':>9} {'required':>9} {'gap':>9} {'util':>6}"
        "  systems",
    ]
    for i, q in enumerate(periods):
        g = next((x for x in rows if x.period == q), None)
        names = ", ".join(n for n, v in tl.by_system.items() if v[i] > 0)
        if g:
            lines.append(
                f"  {str(q):8} {fmt(g.capacity):>9} {fmt(g.demand):>9} {fmt(g.required):>9} "
                f"{fmt(g.gap):>9} {g.utilisation:>6.0%}  {names}"
            )
        else:
            lines.append(f"  {str(q):8} {fmt(tl.total[i]):>9}  {names}")
    return lines


def _action_line(key: str, unit: str, a: Any) -> str:
    if a.kind == "buy":
        return (
            f"  {key}: ORDER {fmt(a.units)} {unit}s ({a.system}) in {a.order_quarter}, "
            f"in service {a.online_quarter}, {a.cost_mnok:,.0f} MNOK\n      why: {a.reason}"
        )
    return (
        f"  {key}: RETIRE {a.system} ({fmt(a.units)} {unit}s) from {a.online_quarter}"
        f"\n      why: {a.reason}"
    )


def plan_text(plan: pl.Plan, inp: inputs.PlanningInput) -> str:
    lines = [
        f"Rolling plan {plan.plan_years[0]}-{plan.plan_years[-1]} "
        f"(target utilisation {plan.target_utilisation:.0%})",
        "",
        "Thresholds and where today's capacity crosses them:",
    ]
    for key, c in plan.crossings.items():
        rules = "; ".join(plan.rules.get(key, ())) or "no rules"
        where = f"crossed in {c.quarter} ({c.reason()})" if c else "not crossed before the horizon"
        lines.append(f"  {key}: {rules}\n      -> {where}")
    for year, classes in plan.by_year().items():
        lines.append(f"\n{year}")
        if not classes:
            lines.append("  nothing to buy or retire")
        for key, acts in classes.items():
            unit = inp.resource(key).unit
            lines.extend(_action_line(key, unit, a) for a in acts)
    later = plan.outlook()
    if later:
        lines.append("\nOutlook after the plan years (for the next revision):")
        for a in later:
            if a.kind == "buy":
                lines.append(
                    f"  {a.year} {a.resource}: order {fmt(a.units)} for {a.online_quarter}"
                    f" - {a.reason}"
                )
    return "\n".join(lines)


def _npv_tables(rep: dict) -> list[str]:
    rows = []
    for c in rep["concepts"]:
        net = bool(c["npv_net_rounded"])
        v = c["npv_net_rounded"] if net else c["npv_gross_rounded"]
        label = f"{c['key']} {'net of ' + rep['zero_alternative'] if net else 'absolute'}"
        rows.append([label, *(f"{v[k]:,.0f}" for k in ("investment", "operation", "tax", "total"))])
    gross = [
        [
            c["key"],
            *(
                f"{c['npv_gross_rounded'][k]:,.0f}"
                for k in ("investment", "operation", "tax", "total")
            ),
        ]
        for c in rep["concepts"]
    ]
    need = [
        [c["key"], f"{c['undiscounted_total']:,.0f}", f"{c['financing_need_incl_vat']:,.0f}"]
        for c in rep["concepts"]
    ]
    return [
        ec.table(rows, ["concept", "investment", "operation", "tax cost", "sum"]),
        "",
        ec.table(gross, ["absolute (Table 10.1)", "investment", "operation", "tax cost", "sum"]),
        "",
        ec.table(need, ["financing need 2026-30", "excl. VAT", "incl. VAT"]),
    ]


def _monte_carlo_lines(rep: dict) -> list[str]:
    m = rep["monte_carlo"]
    lines = [f"\nMonte Carlo ({m['n']:,} runs, {m['distribution']}, seed {m['seed']}), total NPV:"]
    for c in rep["concepts"]:
        key = "monte_carlo_net" if "monte_carlo_net" in c else "monte_carlo_gross"
        p = c[key]["total"]
        extra = ""
        if c.get("probability_least_costly") is not None:
            extra = f", least costly in {c['probability_least_costly']:.0%} of runs"
        lines.append(
            f"  {c['key']} {'net' if key.endswith('net') else 'absolute'}: "
            f"P10 {p['p10']:,.0f}  P50 {p['p50']:,.0f}  P90 {p['p90']:,.0f}"
            f"  mean {p['mean']:,.0f}{extra}"
        )
    return lines


def _check_lines(rep: dict) -> list[str]:
    lines = [
        "\nAgainst the study's published figures, rounded to 10 MNOK (Table 10.1's K3 tax cost"
        " -640\ncontradicts its own sum: -2,310 - 840 - tax = -3,780 gives -630):"
    ]
    for row in rep["check"]:
        if row["computed_rounded"] == row["published"]:
            ok = "same"
        elif abs(row["difference"]) <= 10:
            ok = "within 10"
        else:
            ok = "DIFFERS"
        lines.append(
            f"  {row['table']:10} {row['concept']} {row['category']:10}"
            f" published {row['published']:>7,.0f}"
            f"  computed {row['computed']:>9,.1f}  ({ok})"
        )
    return lines


def economics_text(rep: dict) -> str:
    a = rep["assumptions"]
    lines = [
        f"Priced effects, NPV {a['period'][0]}-{a['period'][1]} in MNOK "
        f"({a['base_year']} = year 0, discount rate {a['discount_rate']:.0%}, "
        f"tax financing cost {a['tax_cost_rate']:.0%}, VAT excluded), rounded to 10 MNOK",
        "",
        *_npv_tables(rep),
        f"\nLeast costly first: {', '.join(rep['ranking_least_costly_first'])}",
    ]
    if "monte_carlo" in rep:
        lines += _monte_carlo_lines(rep)
    if "check" in rep:
        lines += _check_lines(rep)
    return "\n".join(lines)


def energy_text(rep: Any, periods: list) -> str:
    lines = [f"Energy and carbon, {', '.join(str(p) for p in periods)}", ""]
    rows = [
        [
            f"{p.system} / {p.resource}",
            f"{p.power_kw:,.0f}",
            f"{p.utilisation:.0%}",
            f"{p.share:g}",
            f"{p.pue:.2f}",
            f"{p.intensity_g_per_kwh:g}",
            f"{p.facility_kwh / 1000:,.1f}",
            f"{p.co2_kg / 1000:,.2f}",
        ]
        for p in rep.partitions
    ]
    lines.append(
        ec.table(
            rows, ["system / partition", "kW", "util", "share", "PUE", "gCO2/kWh", "MWh", "t CO2"]
        )
    )
    lines.append("")
    lines.append(ec.table(_energy_by_project(rep), ["project", "MWh", "t CO2"]))
    lines += _indicator_lines(rep.indicators)
    return "\n".join(lines)


def _energy_by_project(rep: Any) -> list[list[str]]:
    def row(label: str, kwh: float, co2: float) -> list[str]:
        return [label, f"{kwh / 1000:,.1f}", f"{co2 / 1000:,.2f}"]

    rows = [row(k, v["facility_kwh"], v["co2_kg"]) for k, v in sorted(rep.projects.items())]
    rows.append(
        row("(no recorded usage)", rep.unattributed["facility_kwh"], rep.unattributed["co2_kg"])
    )
    systems = rep.by_system.values()
    rows.append(
        row(
            "sum = all systems",
            sum(v["facility_kwh"] for v in systems),
            sum(v["co2_kg"] for v in systems),
        )
    )
    return rows


def _indicator_lines(ind: dict) -> list[str]:
    lines = [
        "\nEffect goal 4 indicators (000:3730-3750):",
        f"  carbon footprint: {ind['co2_tonnes']:,.1f} t CO2"
        f" ({ind['grams_co2_per_kwh']:.1f} g/kWh on average)",
    ]
    if ind["renewable_share"] is not None:
        lines.append(f"  renewable share of energy: {ind['renewable_share']:.1%}")
    if ind["energy_weighted_pue"] is not None:
        lines.append(f"  energy-weighted PUE: {ind['energy_weighted_pue']:.2f}")
    return lines
