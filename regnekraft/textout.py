"""Plain data and text out of results, for every interface (the CLI prints them, the API
answers with them). Framework-free: no Django, so the planning and simulation commands run
without a database."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _iso(value: dt.date | dt.time) -> str:
    """ISO 8601 as Django's JSON encoder writes it: milliseconds at most, UTC as ``Z``."""
    text = value.isoformat()
    if isinstance(value, dt.datetime | dt.time) and value.microsecond:
        text = text[:23] + text[26:]
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def jsonable(x: Any) -> Any:
    """``x`` as JSON's own types: mappings with text keys, lists, numbers, text and null.

    NumPy values become Python numbers, NaN and infinities null, Decimals text (exact),
    dates ISO 8601, and any other object (a quarter, a path, a translated label) its text."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, bool | int | float | str):
        return x
    if isinstance(x, dt.date | dt.time):
        return _iso(x)
    return str(x)


def to_json(data: Any, *, sort_keys: bool = False) -> str:
    """The ``--json`` answer: indented, UTF-8 as it is (Norwegian letters stay readable)."""
    return json.dumps(jsonable(data), indent=2, ensure_ascii=False, sort_keys=sort_keys)


def table(
    rows: Sequence[Sequence[object]],
    header: Sequence[str],
    *,
    right: bool | Sequence[bool] = False,
) -> str:
    """A fixed-width text table; ``right`` aligns all cells, or each column, to the right
    (the header stays left-aligned)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(header)]
    align = [right] * len(header) if isinstance(right, bool) else list(right)
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    for row in cells:
        lines.append(
            "  ".join(
                c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, align, strict=True)
            )
        )
    return "\n".join(lines)
