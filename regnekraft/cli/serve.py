"""``regnekraft serve``: migrate the database and serve the portal, admin and API."""

from __future__ import annotations

import argparse
from typing import Any

from .output import add_command


def serve(host: str, port: int) -> int:
    from django.core.management import call_command

    print(
        f"Regnekraft is listening on http://{host}:{port}/  "
        "(admin: /admin/, API: /api/docs/)  Ctrl-C stops it."
    )
    call_command("runserver", f"{host}:{port}", use_reloader=False, verbosity=0)
    return 0


def add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)


def cmd_serve(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return serve(args.host, args.port)


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers, "serve", cmd_serve, "migrate the database and serve the portal, admin and API"
    )
    add_address(p)
