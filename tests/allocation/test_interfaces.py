"""The same rule refuses the same decision through the API, the CLI and the admin, with the
rule's name in each answer, and nothing is written."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from regnekraft.allocation.models import Allocation
from regnekraft.cli import main
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def over_capacity():
    """An application asking for more than the class can deliver in the call's period."""
    rc = f.resource_class(units=10)
    app = f.application(f.call(), f.project(), {rc: 10**7})
    return app, rc


@pytest.fixture
def operator():
    p = f.person(f.organisation(), "operator", username="op")
    p.user.is_staff = p.user.is_superuser = True
    p.user.save()
    return p.user


def test_api_refuses_with_409_naming_the_rule(over_capacity, operator):
    app, rc = over_capacity
    client = APIClient()
    client.force_authenticate(operator)
    r = client.post(
        f"/api/applications/{app.pk}/decide/",
        {"grants": [{"resource_class": rc.pk, "amount": "10000000"}]},
        format="json",
    )
    assert r.status_code == 409, r.content
    assert r.json()["violations"][0]["rule"] == "capacity"
    assert not Allocation.objects.exists()


def test_cli_refuses_with_exit_3_naming_the_rule(over_capacity, capsys):
    app, rc = over_capacity
    code = main(["decide", str(app.pk), "--grant", f"{rc.pk}=10000000", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3
    assert out["violations"][0]["rule"] == "capacity"
    assert not Allocation.objects.exists()
    assert main(["decide", str(app.pk), "--grant", f"{rc.pk}=1000"]) == 0
    assert Allocation.objects.get().amount == Decimal(1000)


def test_admin_refuses_on_the_form_naming_the_rule(over_capacity, operator, client):
    app, rc = over_capacity
    client.force_login(operator)
    r = client.post(
        "/admin/allocation/allocation/add/",
        {
            "project": app.project.pk,
            "resource_class": rc.pk,
            "amount": "10000000",
            "start": "2027-01-01",
            "end": "2027-07-01",
            "source": "call",
            "price_category": "A",
            "charging_model": "consumption",
            "status": "active",
            "status_reason": "",
        },
    )
    assert r.status_code == 200  # the form again, with the error
    assert "[capacity]" in r.content.decode()
    assert not Allocation.objects.exists()
