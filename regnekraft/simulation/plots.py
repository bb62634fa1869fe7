"""Plots of one or several runs (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .metrics import RunResult


def plot_runs(results: Sequence[RunResult], outdir: str | os.PathLike[str]) -> list[str]:
    """Write utilisation.png, waits.png and shares.png for the runs; return the paths."""
    os.makedirs(outdir, exist_ok=True)
    return [
        _save(_utilisation(results), os.path.join(outdir, "utilisation.png")),
        _save(_waits(results), os.path.join(outdir, "waits.png")),
        _save(_shares(results), os.path.join(outdir, "shares.png")),
    ]


def _save(fig: Figure, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _finish(ax: Axes, title: str) -> None:
    ax.set_title(title)
    ax.legend(fontsize=8)


def _utilisation(results: Sequence[RunResult]) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 4))
    for r in results:
        t = np.asarray(r.series["t"])
        t = (t - t[0]) / 86400.0 if t.size else t
        ax.plot(t, r.series["utilisation"], label=f"{r.name or 'run'} utilisation")
        if max(r.series["economic_share"], default=0) > 0:
            ax.plot(
                t,
                r.series["economic_share"],
                linestyle="--",
                label=f"{r.name or 'run'} economic share",
            )
    ax.set_xlabel("days since first submission")
    ax.set_ylabel("share of capacity held")
    ax.set_ylim(0, 1.05)
    _finish(ax, "Utilisation over time")
    return fig


def _waits(results: Sequence[RunResult]) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 4))
    for r in results:
        w = np.asarray(r.jobs["wait_time"], float)
        w = np.sort(w[np.isfinite(w)])
        if w.size:
            ax.plot(np.maximum(w, 1.0), np.arange(1, w.size + 1) / w.size, label=r.name or "run")
    ax.set_xscale("log")
    ax.set_xlabel("wait time (s, waits under 1 s shown at 1 s)")
    ax.set_ylabel("share of jobs waiting at most this long")
    _finish(ax, "Wait distribution")
    return fig


def _shares(results: Sequence[RunResult]) -> Figure:
    names: list[str] = []
    for r in results:
        for g in r.groups:
            if g["group"] not in names:
                names.append(g["group"])
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names) * max(1, len(results))), 4))
    width = 0.8 / max(1, len(results))
    x = np.arange(len(names))
    for k, r in enumerate(results):
        by = {g["group"]: g for g in r.groups}
        got = [by[n]["delivered_share"] if n in by else 0 for n in names]
        ent = [by[n]["entitlement"] if n in by else 0 for n in names]
        ax.bar(x + k * width, got, width, label=f"{r.name or 'run'} delivered")
        ax.scatter(
            x + k * width,
            ent,
            marker="_",
            s=400,
            color="black",
            label="entitlement" if k == 0 else None,
        )
    ax.set_xticks(x + width * (len(results) - 1) / 2)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("share of delivered core-hours")
    _finish(ax, "Delivered share vs entitlement")
    return fig
