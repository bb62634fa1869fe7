"""What every command shares: its ``--json`` or text answer, argument types, and running a
command inside Django as the user named by ``--as``."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from regnekraft.textout import to_json

Command = Callable[[argparse.Namespace], int]


def emit(
    args: argparse.Namespace,
    data: Any,
    text: str | Callable[[Any], str] | None = None,
    *,
    sort_keys: bool = False,
) -> None:
    """Print ``data`` as JSON with ``--json`` (or when there is no text form), else the text."""
    if getattr(args, "json", False) or text is None:
        print(to_json(data, sort_keys=sort_keys))
    else:
        print(text(data) if callable(text) else text)


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def add_command(
    subparsers: Any, name: str, func: Command, help: str, *, django: bool = True
) -> argparse.ArgumentParser:
    """A command with ``--json`` and ``--as``; ``django``: run it inside Django
    (:func:`with_django`)."""
    p = subparsers.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--as", dest="actor", metavar="USER", help="act as this user (audit log); default 'cli'"
    )
    p.set_defaults(func=with_django(func) if django else func)
    return p


def actor(args: argparse.Namespace) -> Any:
    """The user named by ``--as``, or the platform itself (audited as 'cli')."""
    from django.contrib.auth import get_user_model

    from regnekraft.parties.actors import SYSTEM

    name = getattr(args, "actor", None)
    if not name:
        return SYSTEM
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise SystemExit(f"error: --as {name!r}: no such user")
    return user


def named_user(args: argparse.Namespace) -> Any:
    """The user named by ``--as``, or None when the command line acts for itself."""
    return actor(args) if getattr(args, "actor", None) else None


def with_django(func: Command) -> Command:
    """Set Django up, act as ``--as`` in the audit log, and answer a refusal by the policy
    rules (exit 3) or a validation error (exit 2) in the command's output format."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from regnekraft.bootstrap import setup_django

        setup_django()
        from django.core.exceptions import PermissionDenied, ValidationError

        from regnekraft.allocation.policy import PolicyViolation
        from regnekraft.audit.context import acting_as

        try:
            with acting_as(actor(args)):
                return func(args)
        except PolicyViolation as exc:
            _refused(args, exc)
            return 3
        except PermissionDenied as exc:
            refusal = str(exc)
            emit(args, {"error": "forbidden", "detail": refusal}, lambda d: f"error: {refusal}")
            return 2
        except ValidationError as exc:
            messages = exc.messages
            emit(
                args,
                {"error": "invalid", "detail": messages},
                lambda d: "error: " + "; ".join(messages),
            )
            return 2

    return run


def _refused(args: argparse.Namespace, exc: Any) -> None:
    found = exc.violations
    emit(
        args,
        {
            "error": "policy",
            "violations": [
                {"rule": v.rule, "message": v.message, "numbers": v.numbers} for v in found
            ],
        },
        lambda d: "refused by the policy rules:\n" + "\n".join(f"  - {v}" for v in found),
    )
