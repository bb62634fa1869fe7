"""``regnekraft policy show|set``: the policy rules' knobs (changes are audited)."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from .output import actor, add_command, emit

POLICY_KNOBS = (
    "overbooking_factor",
    "economic_cap_share",
    "research_protected_share",
    "min_grant_share",
)
COUNTRIES = "security_partner_countries"


def _value(key: str, text: str) -> Any:
    if key not in POLICY_KNOBS + (COUNTRIES,):
        raise SystemExit(
            f"error: unknown policy setting {key!r}; "
            f"choose from {', '.join(POLICY_KNOBS)}, {COUNTRIES}"
        )
    if key == COUNTRIES:
        return [c.strip().upper() for c in text.split(",")]
    return Decimal(text)


def cmd_policy(args: argparse.Namespace) -> int:
    from regnekraft.allocation import knobs
    from regnekraft.allocation.models import PolicySettings

    s = PolicySettings.current()
    if args.action == "set":
        s = knobs.set_policy(actor(args), **{args.key: _value(args.key, args.value)})
    data = {k: getattr(s, k) for k in POLICY_KNOBS + (COUNTRIES, "warning_thresholds")}
    emit(args, data, lambda d: "\n".join(f"{k:28} {v}" for k, v in d.items()))
    return 0


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers, "policy", cmd_policy, "show or change the policy rules' settings (audited)"
    )
    p.add_argument("action", choices=["show", "set"])
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
