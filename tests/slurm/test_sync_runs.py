"""Bridge runs are recorded for operators (admin, API, portal) when the database is in use."""

from __future__ import annotations

import argparse

import pytest

from regnekraft.cli import slurm as slurm_cli
from regnekraft.slurm.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_failed_plan_is_recorded_with_its_error(tmp_path, monkeypatch):
    f.resource_class(f.system("Betzy"), units=10)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "missing-slurm.conf"))
    args = argparse.Namespace(
        desired=None,
        cluster="betzy",
        json=True,
        state_dir=str(tmp_path),
        rest_url=None,
        slurm_conf=str(tmp_path / "missing-slurm.conf"),
        timeout=5,
    )
    status = slurm_cli.sync_command("plan")(args)
    assert status != 0
    run = SyncRun.objects.get()
    assert (run.cluster, run.mode, run.ok) == ("betzy", "plan", False) and run.error


def test_operators_see_the_runs_on_the_sync_page(client):
    operator = f.person(f.organisation(), "operator")
    SyncRun.objects.create(cluster="betzy", mode="apply", ok=True, changes=3, applied=3)
    client.force_login(operator.user)
    page = client.get("/en/operator/sync/")
    assert page.status_code == 200 and "betzy" in page.content.decode()
