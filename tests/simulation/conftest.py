import os
from pathlib import Path

import pytest

TRACES = Path(
    os.environ.get(
        "REGNEKRAFT_TRACES", Path(__file__).resolve().parents[2].parent / "shared" / "traces"
    )
)


@pytest.fixture
def traces():
    if not TRACES.is_dir():
        pytest.skip(f"workload traces not found at {TRACES}")
    return TRACES
