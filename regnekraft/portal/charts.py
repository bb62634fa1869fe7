"""Server-side SVG charts with matplotlib's Agg backend; every chart is shown with a table
that carries the same numbers (the text alternative)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Colour-blind-safe palette (Okabe-Ito) with at least 3:1 contrast on white for large marks.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00")
TEXT = "#1a1a1a"
_lock = threading.Lock()  # pyplot keeps global state; the server renders from many threads
_SVG_START = re.compile(r"^.*?(<svg)", re.S)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    # Drop the XML prolog and DOCTYPE so the SVG can sit inline in HTML; the figure is
    # decorative for assistive technology because the table next to it carries the data.
    text = _SVG_START.sub(r"\1", buf.getvalue(), count=1)
    return text.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


def _style(ax, title: str, ylabel: str) -> None:
    ax.set_title(title, color=TEXT, fontsize=11, loc="left")
    ax.set_ylabel(ylabel, color=TEXT)
    ax.tick_params(colors=TEXT, labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#d0d0d0", linewidth=0.6)
    ax.set_axisbelow(True)


def lines(
    title: str,
    ylabel: str,
    x: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    reference: tuple[str, float] | None = None,
) -> str:
    with _lock:
        fig, ax = plt.subplots(figsize=(7, 3))
        for i, (name, ys) in enumerate(series.items()):
            ax.plot(list(x), list(ys), marker="o", color=PALETTE[i % len(PALETTE)], label=name)
        if reference:
            ax.axhline(reference[1], color=TEXT, linestyle="--", linewidth=1, label=reference[0])
        _style(ax, title, ylabel)
        if len(x) > 8:
            ax.tick_params(axis="x", rotation=45)
        ax.legend(fontsize=8, frameon=False)
        return _svg(fig)


def bars(
    title: str,
    ylabel: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    reference: tuple[str, float] | None = None,
) -> str:
    with _lock:
        fig, ax = plt.subplots(figsize=(7, 3))
        n = max(len(series), 1)
        width = 0.8 / n
        for i, (name, ys) in enumerate(series.items()):
            xs = [k + (i - (n - 1) / 2) * width for k in range(len(categories))]
            ax.bar(xs, list(ys), width=width, color=PALETTE[i % len(PALETTE)], label=name)
        if reference:
            ax.axhline(reference[1], color=TEXT, linestyle="--", linewidth=1, label=reference[0])
        ax.set_xticks(
            range(len(categories)),
            list(categories),
            rotation=30 if len(categories) > 4 else 0,
            ha="right" if len(categories) > 4 else "center",
        )
        _style(ax, title, ylabel)
        ax.legend(fontsize=8, frameon=False)
        return _svg(fig)
