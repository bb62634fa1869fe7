"""``regnekraft manage ...``: any Django management command."""

from __future__ import annotations

import argparse
from typing import Any

from .output import with_django


def cmd_manage(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["regnekraft manage", *args.rest])
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "manage", help="run a Django management command (migrate, createsuperuser, ...)"
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=with_django(cmd_manage))
