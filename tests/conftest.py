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


@pytest.fixture(autouse=True)
def _platform_today(settings):
    """The test worlds live in 2027 (tests/factories.YEAR); the platform's today is after it,
    so their periods have ended. A test of today's rules sets REGNEKRAFT_TODAY itself."""
    settings.REGNEKRAFT_TODAY = "2028-01-01"


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing(django_test_environment):
    """Tests create many users; the production hasher (PBKDF2) is deliberately slow."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
