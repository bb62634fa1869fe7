"""Planning fed from the platform's catalogue and accounting."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from regnekraft.accounting import aggregates
from regnekraft.accounting.models import UsageRecord
from regnekraft.planning.from_db import raw_input
from regnekraft.planning.inputs import input_from_dict
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_systems_and_usage_come_from_the_database():
    sys = f.system("Olivia", decommissioned=dt.date(2032, 1, 1))
    sys.power_kw = Decimal(1100)
    sys.save()
    cpu = f.resource_class(sys, units=64_512, availability="0.97")
    f.resource_class(sys, kind="gpu", units=304, gpu_type="GH200")
    project = f.project(code="nn1234k")
    when = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
    UsageRecord.objects.create(
        source="t",
        cluster="olivia",
        job_id="1",
        project=project,
        resource_class=cpu,
        start=when,
        end=when,
        usage_date=when.date(),
        quantity=Decimal(1000),
    )
    aggregates.rebuild()  # records written directly: sum them as the importer would
    data = raw_input({"resources": [{"key": "cpu"}, {"key": "gpu"}], "settings": {}})
    assert [s["name"] for s in data["systems"]] == ["Olivia"]
    assert data["systems"][0]["units"] == {"cpu": 64_512.0, "gpu": 304.0}
    assert data["systems"][0]["decommissioned"] == "2032-01-01"
    assert data["energy"]["usage"] == [
        {
            "project": "nn1234k",
            "system": "Olivia",
            "resource": "cpu",
            "period": "2026Q2",
            "quantity": 1000.0,
        }
    ]
    assert "history" not in data  # one quarter is too short a history to replace the base's
    inp = input_from_dict(data)
    assert inp.systems[0].power_kw == {"cpu": 1100.0}
