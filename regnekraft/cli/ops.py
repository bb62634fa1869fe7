"""``regnekraft backup`` and ``regnekraft restore`` (filled in by the operations work)."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    return None
