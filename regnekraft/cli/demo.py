"""``regnekraft demo``: a fresh database with Norway's demo picture, then serve it."""

from __future__ import annotations

import argparse
from typing import Any

from .output import add_command, emit
from .serve import add_address, serve


def cmd_demo(args: argparse.Namespace) -> int:
    from regnekraft import demo

    summary = demo.build(fresh=not args.keep, traces=args.traces, progress=not args.json)
    summary["url"] = f"http://{args.host}:{args.port}/"
    emit(args, summary, demo.describe)
    if args.no_serve:
        return 0
    return serve(args.host, args.port)


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "demo",
        cmd_demo,
        "fresh database, Norway's demo picture, a decided round, usage imported; then serve",
    )
    add_address(p)
    p.add_argument("--no-serve", action="store_true", help="build the demo and exit")
    p.add_argument(
        "--keep", action="store_true", help="keep the existing database instead of starting afresh"
    )
    p.add_argument("--traces", help="folder with the workload traces (default: ../shared/traces)")
