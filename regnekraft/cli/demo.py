"""``regnekraft demo``: a fresh database with Norway's demo picture, then serve it.

``--scale national`` builds the national data set instead (regnekraft/national, docs/demo.md).
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import add_command, emit
from .serve import add_address, serve

MIN_FRACTION = 0.002  # regnekraft.national.world.MIN_FRACTION (which needs Django set up)


def _fraction(value: str) -> float:
    try:
        fraction = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from exc
    if not MIN_FRACTION <= fraction <= 1:
        raise argparse.ArgumentTypeError(f"between {MIN_FRACTION} and 1, not {value}")
    return fraction


def cmd_demo(args: argparse.Namespace) -> int:
    if args.scale == "national":
        from regnekraft import national

        summary = national.build(
            args.fraction,
            args.seed,
            progress=not args.json,
            rebuild=args.rebuild,
            usage_dir=args.usage_dir,
        )
        describe = national.describe
    else:
        from regnekraft import demo

        summary = demo.build(fresh=not args.keep, traces=args.traces, progress=not args.json)
        describe = demo.describe
    summary["url"] = f"http://{args.host}:{args.port}/"
    emit(args, summary, describe)
    if args.no_serve:
        return 0
    return serve(args.host, args.port, with_worker=True)


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
    national = p.add_argument_group(
        "national scale", "--scale national: the national data set (docs/demo.md)"
    )
    national.add_argument(
        "--scale",
        choices=("demo", "national"),
        default="demo",
        help="demo (default): the plain demo; national: 3,000 projects, 20,000 users, "
        "four clusters, two decided rounds, 10,000,000 usage records",
    )
    national.add_argument(
        "--fraction",
        type=_fraction,
        default=1.0,
        help="build this fraction of the national size (0.1: 300 projects, 2,000 users, "
        "1,000,000 records; default 1)",
    )
    national.add_argument(
        "--seed", type=int, default=2026, help="random seed: the same seed, the same data"
    )
    national.add_argument(
        "--rebuild",
        action="store_true",
        help="empty the database and build again even if it holds a national data set",
    )
    national.add_argument(
        "--usage-dir", help="keep the monthly usage CSV files in this folder (default: removed)"
    )
