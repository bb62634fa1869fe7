"""A small priced world for the accounting tests: one system with a CPU and a GPU class, and
price lists for categories A, 0, B and C."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from regnekraft.catalog.models import Price, PriceList, ResourceClass, System
from tests import factories as f


@dataclass
class World:
    system: System
    cpu: ResourceClass
    gpu: ResourceClass
    list_a: PriceList
    list_0: PriceList


@pytest.fixture
def world(db) -> World:
    f.policy()
    sys = f.system("betzy", tier=1)
    cpu = f.resource_class(sys, kind="cpu", units=10_000)
    gpu = f.resource_class(sys, kind="gpu", units=100, gpu_type="A100")
    list_a = f.price_list("A", prices={"cpu": "0.04", "gpu": "5.6", "storage": "66.67"})
    Price.objects.create(price_list=list_a, kind="gpu", gpu_type="A100", unit_price=Decimal("7.2"))
    list_0 = f.price_list("0", prices={"cpu": "0.04", "gpu": "5.6"})
    list_0.free_allowance_nok = Decimal("50000")
    list_0.save()
    f.price_list("B", prices={"cpu": "0.08", "gpu": "10"})
    f.price_list("C", prices={"cpu": "0.12", "gpu": "16"})
    return World(sys, cpu, gpu, list_a, list_0)


CSV_HEADER = [
    "source",
    "cluster",
    "job_id",
    "step",
    "account",
    "kind",
    "gpu_type",
    "quantity",
    "start",
    "end",
    "user",
]


def usage_row(
    account: str,
    job: int | str,
    quantity: str | Decimal,
    *,
    kind: str = "gpu",
    gpu_type: str = "A100",
    day: dt.date = dt.date(2027, 2, 1),
    step: str = "0",
    cluster: str = "betzy",
) -> list[str]:
    start = dt.datetime.combine(day, dt.time(8, 0))
    end = start + dt.timedelta(hours=2)
    return [
        "slurm",
        cluster,
        str(job),
        step,
        account,
        kind,
        gpu_type,
        str(quantity),
        start.isoformat(),
        end.isoformat(),
        "alice",
    ]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = CSV_HEADER) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path
