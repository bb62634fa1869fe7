"""Accounts for the sign-in, token and password tests."""

from __future__ import annotations

import pytest

from tests import factories as f


@pytest.fixture
def alice(db):
    """A PI with a password and an e-mail address."""
    return f.person(None, "pi", username="alice", password="Correct-Horse-42")


@pytest.fixture
def operator(db):
    person = f.person(None, "operator", username="op", password="Correct-Horse-42")
    person.user.is_staff = person.user.is_superuser = True
    person.user.save()
    return person
