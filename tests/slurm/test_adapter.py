"""The platform's allocations as the Slurm bridge's desired state (no cluster needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from regnekraft.allocation import services
from regnekraft.allocation.models import AllocationStatus
from regnekraft.slurm import adapter
from tests import factories as f

pytestmark = pytest.mark.django_db
TODAY = dt.date(f.YEAR, 3, 1)


def _grant(project, rc, amount):
    app = f.application(f.call(), project, {rc: amount})
    return services.decide_application(app, {rc.pk: Decimal(amount)})[0]


def test_grants_become_limits_shares_and_qos():
    system = f.system("Betzy", tier=1)
    cpu = f.resource_class(system, units=100)
    gpu = f.resource_class(system, kind="gpu", units=4, gpu_type="A100")
    f.policy(economic_cap_share=Decimal("0.10"))
    research = f.project(f.organisation(name="UiO"), code="nn1000k")
    _grant(research, cpu, 1000)
    _grant(research, gpu, 10)
    commercial = f.project(
        f.organisation("industry", name="Acme"), purpose="commercial", code="acme01"
    )
    services.purchase(commercial, cpu, Decimal(100), *f.H1)
    spec = adapter.desired_spec(system, today=TODAY)
    nn = spec.accounts["nn1000k"]
    assert nn.grp_tres_mins == {"cpu": 60_000, "gres/gpu": 600}
    assert nn.default_qos == "tier_moderate" and not nn.blocked
    assert nn.usage_period == f.H1[0].isoformat()  # usage counts from the grants' first day
    assert spec.accounts["acme01"].default_qos == "economic"
    assert spec.accounts["nn1000k"].fairshare > spec.accounts["acme01"].fairshare
    assert spec.qos["economic"].grp_tres == {
        "cpu": 10,
        "gres/gpu": 0,
    }  # 10 % of 100 cores, of 4 GPUs
    assert "tier_moderate" in spec.qos["emergency"].preempt
    assert spec.accounts["uio"].parent == "research" and spec.accounts["acme"].parent == "industry"


def test_fairshare_weighs_gpu_hours_by_price():
    """10 GPU-hours cost what 1,400 CPU-hours cost (5.6 vs 0.04 NOK): the GPU project's
    Fairshare is above that of a project granted 1,000 CPU-hours."""
    system = f.system("Olivia")
    cpu = f.resource_class(system, units=100)
    gpu = f.resource_class(system, kind="gpu", units=4, gpu_type="GH200")
    f.price_list("A", prices={"cpu": "0.04", "gpu": "5.6"})
    _grant(f.project(code="nn3000k"), cpu, 1000)
    _grant(f.project(code="nn3001k"), gpu, 10)
    assert adapter.billing_weights(system, TODAY) == {cpu.pk: 1.0, gpu.pk: pytest.approx(140.0)}
    accounts = adapter.desired_spec(system, today=TODAY).accounts
    assert accounts["nn3001k"].fairshare / accounts["nn3000k"].fairshare == pytest.approx(
        1.4, rel=0.01
    )


def test_revoking_a_grant_does_not_move_the_usage_period():
    """Else the bridge would reset the account's usage in the middle of the period."""
    system = f.system("Lumi")
    cpu = f.resource_class(system, units=100)
    project = f.project(code="nn4000k")
    first = f.granted(project, cpu, 1000)  # from 1 January
    f.granted(project, cpu, 500, period=(dt.date(f.YEAR, 2, 1), dt.date(f.YEAR, 7, 1)))
    assert (
        adapter.desired_spec(system, today=TODAY).accounts["nn4000k"].usage_period
        == f"{f.YEAR}-01-01"
    )
    first.status = AllocationStatus.REVOKED
    first.save()
    assert (
        adapter.desired_spec(system, today=TODAY).accounts["nn4000k"].usage_period
        == f"{f.YEAR}-01-01"
    )


def test_blocked_or_expired_allocations_block_the_account():
    system = f.system("Saga")
    cpu = f.resource_class(system, units=100)
    project = f.project(code="nn2000k")
    allocation = _grant(project, cpu, 1000)
    assert not adapter.desired_spec(system, today=TODAY).accounts["nn2000k"].blocked
    allocation.status = AllocationStatus.BLOCKED
    allocation.save()
    assert adapter.desired_spec(system, today=TODAY).accounts["nn2000k"].blocked


def test_final_slurm_records_become_usage_records():
    system = f.system("Fram")
    records = [
        {
            "chargeable": True,
            "final": True,
            "start": 1_700_000_000,
            "end": 1_700_003_600,
            "job_id": "17",
            "step": "",
            "attempt": 1_699_999_000,
            "project": "nn1k",
            "account": "nn1k",
            "user": "ola",
            "tres_seconds": {"cpu": 4 * 3600, "gres/gpu": 3600},
        },
        {
            "chargeable": True,
            "final": False,
            "start": 1_700_000_000,
            "end": None,
            "job_id": "18",
            "step": "",
            "attempt": 1,
            "project": "nn1k",
            "account": "nn1k",
            "user": "ola",
            "tres_seconds": {"cpu": 3600},
        },
    ]
    out = adapter.usage_records(system, records)
    assert [(r["job_id"], r["kind"], r["quantity"]) for r in out] == [
        ("17", "cpu", "4.0000"),
        ("17", "gpu", "1.0000"),
    ]
    assert out[0]["step"] == "job:1699999000"
