import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRACES = Path(os.environ.get("REGNEKRAFT_TRACES", ROOT.parent / "shared" / "traces"))


@pytest.fixture
def traces() -> Path:
    if not TRACES.is_dir():
        pytest.skip(f"workload traces not found at {TRACES} (set REGNEKRAFT_TRACES)")
    return TRACES
