"""Where the public workload traces are: ``$REGNEKRAFT_TRACES`` or ``../shared/traces`` beside the
checkout."""

from __future__ import annotations

import os
from pathlib import Path


def traces_dir() -> Path:
    env = os.environ.get("REGNEKRAFT_TRACES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "traces"
