import pytest

from . import world as world_module

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The world makes a dozen accounts per test; the real hasher would spend seconds on them.
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def world(db, _fast_passwords):
    return world_module.build()
