"""The ``regnekraft`` command line. ``regnekraft --help`` lists the commands; each has ``--help``.

Every command that changes data goes through the same services and policy rules as the API
and the admin, acts as the user named by ``--as`` (default: 'cli') in the audit log, and
prints a machine-readable answer with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import accounting, demo, manage, ops, plan, policy, round, serve, simulate, slurm, worker

GROUPS = (demo, serve, worker, ops, manage, policy, round, accounting, simulate, plan, slurm)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regnekraft",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def run_group(name: str, argv: Sequence[str] | None = None) -> int:
    """One command group on its own: ``run_group("slurm", ["plan", ...])``."""
    return main([name, *(sys.argv[1:] if argv is None else argv)])
