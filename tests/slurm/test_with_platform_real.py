"""End to end on the real cluster: a grant made in the platform is synced to Slurm, a job runs
under the project's account, and ingest brings its usage back, rated, once."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from regnekraft.accounting.importer import import_records
from regnekraft.accounting.models import UsageRecord
from regnekraft.slurm import adapter
from regnekraft.slurm.ingest import ingest_window
from regnekraft.slurm.runner import CommandRunner
from regnekraft.slurm.spec import ClusterSpec
from regnekraft.slurm.sync import SacctmgrBackend, apply
from tests import factories as f

pytestmark = [pytest.mark.slurm, pytest.mark.django_db]
PREFIX = "pf"  # keeps this tree apart from the other modules' on the shared test cluster


def _prefixed(desc: dict) -> dict:
    groups = {g["account"] for g in desc["groups"]}
    orgs = {o["account"] for o in desc["organisations"]}
    for g in desc["groups"]:
        g["account"] = PREFIX + g["account"]
    for o in desc["organisations"]:
        o["account"], o["group"] = PREFIX + o["account"], PREFIX + o["group"]
    for p in desc["projects"]:
        p["organisation"] = PREFIX + p["organisation"]
    assert groups and orgs
    return desc


def test_grant_sync_job_ingest_charge(slurm_cluster):
    today = dt.date.today()
    system = f.system("Test cluster", tier=1)
    system.slug = slurm_cluster.config.cluster_name
    system.save()
    cpu = f.resource_class(system, units=4)
    for category in ("A", "0"):  # a grant this small is a category-0 project; same prices here
        f.price_list(category, valid_from=today - dt.timedelta(days=400))
    pi = f.person(f.organisation(name="E2E Uni"), "pi", username="nobody")
    project = f.project(pi.organisation, pi=pi, code="e2e1000k")
    period = (today - dt.timedelta(days=10), today + dt.timedelta(days=170))
    f.granted(project, cpu, 10_000, period=period)

    desc = _prefixed(adapter.description(system, today=today))
    assert desc["projects"][0]["grp_tres_mins"] == {"cpu": 600_000}
    runner = CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf))
    backend = SacctmgrBackend(runner)
    spec = ClusterSpec.from_description(desc)
    apply(spec, backend)
    assert apply(spec, backend).applied == []  # the second run changes nothing

    started = int(time.time()) - 5
    slurm_cluster.cancel_all()
    job = slurm_cluster.sbatch(
        "--account=e2e1000k", "--time=2", "--ntasks=2", user="nobody", wrap="sleep 2"
    )
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(job)[0] in ("", "COMPLETED"), what=f"job {job} to end"
    )

    def finished():
        result = ingest_window(
            runner, spec.cluster, started, int(time.time()) + 5, adapter.account_map(system)
        )
        mine = [r for r in result.records if r["job_id"] == job and r["step"] == "" and r["final"]]
        return result if mine and mine[0]["end"] else None

    result = slurm_cluster.wait_for(finished, what="the job's accounting record")
    records = adapter.usage_records(system, result.records)
    first = import_records(records, source="slurm", filename="sacct")
    again = import_records(records, source="slurm", filename="sacct")
    assert (first.new, again.new) == (1, 0)
    usage = UsageRecord.objects.get(job_id=job)
    assert usage.project == project and usage.allocation is not None
    assert usage.quantity > 0
    assert usage.charge_nok == (usage.quantity * Decimal("0.04")).quantize(Decimal("0.0001"))
