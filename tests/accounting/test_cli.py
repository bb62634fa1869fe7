"""The import, invoice and report commands, end to end on a small world."""

from __future__ import annotations

import json

import pytest

from regnekraft.cli import main
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_import_twice_then_invoice_and_report(tmp_path, capsys):
    system = f.system("Betzy")
    rc = f.resource_class(system, units=100)
    f.price_list("A")
    project = f.project(code="nn1000k")
    f.granted(project, rc, 300_000)  # above the category-0 limit, so category A
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "cluster,job_id,account,system,kind,quantity,start,end\n"
        "betzy,1,nn1000k,betzy,cpu,100,2027-01-10T10:00:00,2027-01-10T11:00:00\n"
    )
    assert main(["import-usage", str(usage), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["import-usage", str(usage), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (first["new"], again["new"], again["duplicate"]) == (1, 0, 1)
    assert main(["invoice", "--start", "2027-01-01", "--end", "2027-02-01", "--json"]) == 0
    invoices = json.loads(capsys.readouterr().out)
    assert [i["total_nok"] for i in invoices] == ["4.00"]  # 100 core-hours x 0.04 NOK
    assert main(["report", "--start", "2027-01-01", "--end", "2027-02-01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["used"] for r in report["capacity"]] == ["100.0000"]


def test_a_bad_line_is_refused_with_its_number(tmp_path, capsys):
    f.resource_class(f.system("Betzy"), units=100)
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "cluster,job_id,account,system,kind,quantity,start,end\n"
        "betzy,1,nope,betzy,cpu,-5,2027-01-10T10:00:00,2027-01-10T11:00:00\n"
    )
    assert main(["import-usage", str(usage)]) == 2
    assert "line 2" in capsys.readouterr().out
