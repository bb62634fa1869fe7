"""Bad input to the API gets a clear answer in JSON, not a server error (issue 10, item 8): the
usage import's size bound agrees with its 100,000 records and answers 413 beyond it; a NUL in a
record is refused naming the record and field; OPTIONS on the round simulation describes it."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from regnekraft.accounting.models import UsageRecord
from regnekraft.api.limits import USAGE_IMPORT_MAX_BYTES, USAGE_IMPORT_MAX_RECORDS
from tests import factories as f

pytestmark = pytest.mark.django_db

RECORD = {
    "source": "slurm",
    "cluster": "betzy",
    "job_id": "7",
    "step": "0",
    "account": "nn1000k",
    "kind": "cpu",
    "quantity": "1",
    "start": "2027-02-01T08:00:00",
    "end": "2027-02-01T09:00:00",
    "user": "bob",
}


def _client(*roles):
    person = f.person(f.organisation(), *roles)
    client = APIClient()
    client.force_authenticate(person.user)
    return client


@pytest.fixture
def usage_world():
    f.policy()
    rc = f.resource_class(f.system("betzy"), kind="cpu", units=10_000)
    f.price_list("A", prices={"cpu": "0.04"})
    f.granted(f.project(code="nn1000k"), rc, 1_000_000)


def _post(client, body: str):
    return client.post("/api/usage/import/", body, content_type="application/json")


def test_a_body_above_django_s_default_bound_imports(usage_world):
    """15,000 records are about 3.5 MB: Django's 2.5 MB bound answered 400 in HTML."""
    records = [RECORD | {"job_id": str(n)} for n in range(15_000)]
    body = json.dumps({"source": "slurm", "records": records})
    assert len(body) > 2.5 * 1024 * 1024
    r = _post(_client("operator"), body)
    assert r.status_code == 200, r.content[:300]
    assert r.json()["new"] == 15_000 == UsageRecord.objects.count()


def test_the_byte_bound_fits_the_most_records_at_their_longest():
    longest = {
        "source": "s" * 50,
        "cluster": "c" * 50,
        "job_id": "j" * 64,
        "step": "p" * 32,
        "account": "a" * 32,
        "system": "y" * 50,
        "kind": "storage",
        "gpu_type": "g" * 50,
        "quantity": "999999999999.0000",
        "start": "2027-02-01T08:00:00.000000+01:00",
        "end": "2027-02-01T09:00:00.000000+01:00",
        "user": "u" * 64,
    }
    one = len(json.dumps(longest)) + len(", ")
    assert one * USAGE_IMPORT_MAX_RECORDS < USAGE_IMPORT_MAX_BYTES


def test_a_body_above_the_bound_is_413_in_json(usage_world, settings):
    settings.REGNEKRAFT_USAGE_IMPORT_MAX_BYTES = 10_000
    body = json.dumps({"source": "slurm", "records": [RECORD] * 100})
    r = _post(_client("operator"), body)
    assert r.status_code == 413
    assert r["Content-Type"].startswith("application/json")
    assert "larger than 10,000 bytes" in r.json()["detail"]
    assert "100,000 records" in r.json()["detail"]
    assert UsageRecord.objects.count() == 0


def test_more_records_than_the_bound_are_400_naming_it(usage_world):
    body = json.dumps({"source": "s", "records": [{}] * (USAGE_IMPORT_MAX_RECORDS + 1)})
    r = _post(_client("operator"), body)
    assert r.status_code == 400 and "records" in r.json()


def test_not_json_is_a_clear_400_or_415(usage_world):
    client = _client("operator")
    bad = _post(client, '{"source": "s", "records": [')
    assert bad.status_code == 400 and "JSON parse error" in bad.json()["detail"]
    form = client.post("/api/usage/import/", {"source": "s"})
    assert form.status_code == 415


def test_a_non_operator_is_refused_before_the_body_is_read(usage_world, settings):
    settings.REGNEKRAFT_USAGE_IMPORT_MAX_BYTES = 10
    assert _post(_client("pi"), json.dumps({"source": "s", "records": [RECORD]})).status_code == 403


def test_a_nul_in_a_record_is_refused_naming_record_and_field(usage_world):
    body = json.dumps({"source": "slurm", "records": [RECORD, RECORD | {"user": "b\x00b"}]})
    r = _post(_client("operator"), body)
    assert r.status_code == 400
    assert "line 2: field 'user' contains a NUL character" in json.dumps(r.json())
    assert UsageRecord.objects.count() == 0


def test_options_on_the_round_simulation_is_not_a_server_error():
    call = f.call()
    r = _client("operator").options(f"/api/calls/{call.pk}/simulation/")
    assert r.status_code == 200, r.content[:300]
    assert r.json()["name"] == "Round Simulation"
    for url in ("/api/planning/plan/", "/api/planning/economics/", "/api/slurm/runs/"):
        assert _client("operator").options(url).status_code == 200, url
