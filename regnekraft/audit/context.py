"""Who is acting right now: set by the web middleware, the CLI and the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_actor: ContextVar[Any] = ContextVar("regnekraft_actor", default=None)


def current_actor() -> Any:
    return _actor.get()


@contextmanager
def acting_as(actor: Any) -> Iterator[None]:
    """Attribute changes made inside the block to ``actor`` (a user or a label such as 'cli')."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)
