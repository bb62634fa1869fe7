"""Figures for planners: demand against capacity with bands, the plan as a timeline, NPV by
category. matplotlib with the Agg backend (files only, no display)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .capacity import Timeline
from .economics import Comparison, MonteCarloResult
from .forecast import Forecast
from .model import Quarter, ResourceClass, UsagePoint
from .plan import Plan


def _x(qs: Sequence[Quarter]) -> list[float]:
    return [q.decimal_year + 0.125 for q in qs]


def demand_vs_capacity(
    path: Path,
    resource: ResourceClass,
    demand: Forecast,
    capacity: Timeline,
    history: Sequence[UsagePoint] = (),
    target_utilisation: float = 0.75,
    planned: Timeline | None = None,
    components: Sequence[Forecast] = (),
) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.8))
    hist = sorted((p.period, p.quantity) for p in history if p.resource == resource.key)
    if hist:
        ax.plot(
            _x([q for q, _ in hist]),
            [v for _, v in hist],
            color="black",
            lw=1.5,
            label="usage (history)",
        )
    x = _x(demand.periods)
    ax.fill_between(x, demand.lower, demand.upper, color="tab:blue", alpha=0.2, label="demand band")
    ax.plot(x, demand.central, color="tab:blue", lw=2, label=f"demand ({demand.method})")
    for comp in components:
        ax.plot(_x(comp.periods), comp.central, lw=0.8, ls=":", label=comp.method)
    cx = _x(capacity.periods)
    ax.step(
        cx, capacity.total, where="mid", color="tab:red", lw=2, label="capacity (today's systems)"
    )
    ax.step(
        cx,
        [c * target_utilisation for c in capacity.total],
        where="mid",
        color="tab:red",
        lw=1,
        ls="--",
        label=f"{target_utilisation:.0%} of capacity",
    )
    if planned is not None:
        ax.step(
            _x(planned.periods),
            planned.total,
            where="mid",
            color="tab:green",
            lw=2,
            label="capacity with the plan",
        )
    ax.set_title(f"{resource.label or resource.key}: demand against capacity")
    ax.set_ylabel(
        f"{resource.quantity_unit} per quarter" if resource.hourly else resource.quantity_unit
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plan_timeline(path: Path, plan: Plan, horizon: Quarter) -> Path:
    systems = sorted(plan.systems, key=lambda s: (s.planned, s.commissioned))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(systems) + 1.5))
    x_end = horizon.end.year + (horizon.end.timetuple().tm_yday - 1) / 365.25
    for i, s in enumerate(systems):
        a = s.commissioned.year + (s.commissioned.timetuple().tm_yday - 1) / 365.25
        d = s.decommissioned
        b = x_end if d is None else min(x_end, d.year + (d.timetuple().tm_yday - 1) / 365.25)
        ax.barh(i, b - a, left=a, color="tab:green" if s.planned else "tab:gray", alpha=0.8)
        classes = ", ".join(f"{k} {v * s.share:,.0f}" for k, v in s.units.items())
        ax.text(a, i, f" {s.name} ({classes})", va="center", fontsize=7)
    for act in plan.actions:
        if act.kind == "buy" and act.order_quarter is not None:
            y = next(i for i, s in enumerate(systems) if s.name == act.system)
            ax.plot([act.order_quarter.decimal_year], [y], marker="v", color="tab:orange")
    ax.axvspan(plan.start.decimal_year, plan.start.year + plan.years, color="tab:blue", alpha=0.07)
    ax.set_yticks([])
    ax.set_xlim(min(2017, plan.start.year - 1), x_end)
    ax.set_title(
        "Systems in service; green: bought by the plan (orange mark: order); blue: plan years"
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def npv_by_category(path: Path, comparison: Comparison, mc: MonteCarloResult | None = None) -> Path:
    cats = ("investment", "operation", "tax")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, basis in zip(axes, ("gross", "net"), strict=True):
        npvs = [
            (r.key, npv)
            for r in comparison.results
            if (npv := r.gross if basis == "gross" else r.net) is not None
        ]
        keys = [key for key, _ in npvs]
        bottom = [0.0] * len(npvs)
        for cat, colour in zip(cats, ("tab:blue", "tab:orange", "tab:gray"), strict=True):
            vals = [npv.as_dict()[cat] for _, npv in npvs]
            ax.bar(keys, vals, bottom=bottom, color=colour, label=cat)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        for i, (key, npv) in enumerate(npvs):
            total = npv.total
            ax.text(i, total, f"{total:,.0f}", ha="center", va="top", fontsize=8)
            if mc is not None:
                src: Mapping = mc.gross if basis == "gross" else mc.net
                if key in src:
                    p = src[key]["total"]
                    ax.errorbar(
                        i + 0.25,
                        p.p50,
                        yerr=[[p.p50 - p.p10], [p.p90 - p.p50]],
                        fmt="o",
                        color="black",
                        ms=3,
                    )
        ax.set_title(
            f"NPV 2026-30, {'absolute' if basis == 'gross' else 'net of ' + comparison.zero} (MNOK)"
        )
        ax.axhline(0, color="black", lw=0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
