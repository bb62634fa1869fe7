from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"


@pytest.fixture
def traces():
    if not TRACES.is_dir():
        pytest.skip(f"traces not found at {TRACES}")
    return TRACES
