import datetime as dt
from decimal import Decimal

import pytest

from regnekraft.accounting.importer import import_records
from regnekraft.accounting.reports import (
    report_balances,
    report_by_group,
    report_capacity,
    report_economic_share,
    report_research_share,
    report_unallocated,
)
from regnekraft.allocation import services
from tests import factories as f

pytestmark = pytest.mark.django_db

H1 = (dt.date(2027, 1, 1), dt.date(2027, 7, 1))
YEAR = (dt.date(2027, 1, 1), dt.date(2028, 1, 1))


def use(account: str, job: str, quantity: str, kind: str = "cpu", gpu_type: str = "") -> None:
    import_records(
        [
            {
                "cluster": "betzy",
                "job_id": job,
                "account": account,
                "kind": kind,
                "gpu_type": gpu_type,
                "quantity": quantity,
                "start": "2027-02-01T08:00:00",
                "end": "2027-02-01T10:00:00",
            }
        ],
        source="t",
    )


@pytest.fixture
def mixed(world):
    research = f.project(f.organisation("research", name="UiO"), code="uio1")
    f.granted(research, world.cpu, 2_000_000, period=YEAR)
    company = f.organisation("industry", name="Acme")
    shop = f.project(company, purpose="commercial", code="acme1")
    services.purchase(shop, world.cpu, Decimal(1_000_000), *YEAR)
    use("uio1", "1", "300000")
    use("acme1", "2", "100000")
    f.project(code="stray1")
    use("stray1", "3", "5")
    return world


def test_capacity_report_per_class(mixed):
    rows = {r["resource_class"]: r for r in report_capacity(*YEAR)}
    cpu = rows["betzy:cpu"]
    assert cpu["capacity"] == Decimal(10_000 * 24 * 365)
    assert cpu["allocated"] == Decimal(3_000_000)
    assert cpu["used"] == Decimal(400_005)
    assert cpu["used_unallocated"] == Decimal(5)
    assert cpu["available"] == cpu["capacity"] - Decimal(3_000_000)
    assert cpu["utilisation"] == (Decimal(400_005) / cpu["capacity"]).quantize(Decimal("0.0001"))
    assert rows["betzy:gpu A100"]["used"] == 0
    half = {r["resource_class"]: r for r in report_capacity(*H1)}["betzy:cpu"]
    assert half["allocated"] == (Decimal(3_000_000) * 181 / 365).quantize(Decimal("0.0001"))


def test_by_user_group_and_organisation(mixed):
    report = report_by_group(*YEAR)
    groups = {(g["user_group"], g["kind"]): g for g in report["groups"]}
    assert groups[("research", "cpu")]["used"] == Decimal(300_005)
    assert groups[("industry", "cpu")]["used"] == Decimal(100_000)
    assert groups[("industry", "cpu")]["allocated"] == Decimal(1_000_000)
    orgs = {o["organisation"] for o in report["organisations"]}
    assert {"UiO", "Acme"} <= orgs


def test_economic_share_against_cap(mixed):
    [cpu] = [r for r in report_economic_share(2027) if r["resource_class"] == "betzy:cpu"]
    capacity = Decimal(10_000 * 24 * 365)
    assert cpu["cap_share"] == Decimal("0.05")
    assert cpu["economic_committed"] == Decimal(1_000_000)
    assert cpu["economic_used"] == Decimal(100_000)
    assert cpu["committed_share"] == (Decimal(1_000_000) / capacity).quantize(Decimal("0.0001"))
    assert cpu["within_cap"] is True
    f.policy(economic_cap_share=Decimal("0.001"))
    [cpu] = [r for r in report_economic_share(2027) if r["resource_class"] == "betzy:cpu"]
    assert cpu["within_cap"] is False


def test_research_share_against_floor(mixed):
    [cpu] = [r for r in report_research_share(2027) if r["resource_class"] == "betzy:cpu"]
    assert cpu["protected_share"] == Decimal("0.6")
    assert cpu["research_committed"] == Decimal(2_000_000)
    assert cpu["non_research_committed"] == Decimal(1_000_000)
    assert cpu["research_used_share_of_use"] == (Decimal(300_005) / Decimal(400_005)).quantize(
        Decimal("0.0001")
    )
    assert cpu["floor_kept"] is True
    f.policy(research_protected_share=Decimal("0.999"))
    [cpu] = [r for r in report_research_share(2027) if r["resource_class"] == "betzy:cpu"]
    assert cpu["floor_kept"] is False


def test_balances_and_unallocated_reports(mixed):
    rows = {r["project"]: r for r in report_balances()}
    assert rows["uio1"]["used"] == Decimal(300_000)
    assert rows["uio1"]["remaining"] == Decimal(1_700_000)
    assert report_balances(["acme1"])[0]["used_share"] == Decimal("0.1")
    assert report_unallocated(*YEAR) == [
        {"project": "stray1", "resource_class": "betzy:cpu", "quantity": Decimal(5), "records": 1}
    ]


def test_integrity_report_finds_orphaned_usage(mixed):
    from django.db import connection

    from regnekraft.accounting.models import UsageRecord
    from regnekraft.accounting.reports import report_integrity

    assert report_integrity() == {"project": 0, "resource_class": 0, "allocation": 0, "batch": 0}
    with connection.cursor() as c:  # what only raw SQL could do: the ORM's PROTECT forbids it
        c.execute(
            f"UPDATE {UsageRecord._meta.db_table} SET allocation_id = 999999 WHERE job_id = '1'"
        )
    assert report_integrity()["allocation"] == 1
