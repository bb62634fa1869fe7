"""`regnekraft plan ...`: every subcommand runs on the shipped inputs, as text and JSON, with
plots."""

import argparse
import json

import pytest

from regnekraft import cli


def run(capsys, *argv):
    code = cli.main(["plan", *argv])
    out = capsys.readouterr().out
    assert code == 0
    return out


def test_register_adds_plan_with_its_subcommands():
    parser = argparse.ArgumentParser()
    cli.plan.register(parser.add_subparsers(dest="command"))
    for sub in ("forecast", "timeline", "thresholds", "economics", "energy"):
        args = parser.parse_args(["plan", sub, "--json"])
        assert callable(args.func) and args.json


def test_economics_json_reproduces_table_9_5(capsys):
    data = json.loads(run(capsys, "economics", "--json", "--runs", "500"))
    by_key = {c["key"]: c for c in data["concepts"]}
    k0 = by_key["K0"]["npv_gross"]
    expected = {"investment": -170, "operation": -610, "tax": -160, "total": -940}
    assert all(abs(k0[k] - v) <= 10 for k, v in expected.items())
    assert abs(by_key["K2"]["npv_net"]["total"] - -3110) <= 10
    assert abs(by_key["K3"]["npv_net"]["total"] - -2840) <= 10
    assert (
        by_key["K3"]["monte_carlo_net"]["total"]["p10"]
        < by_key["K3"]["monte_carlo_net"]["total"]["p90"]
    )
    assert data["ranking_least_costly_first"] == ["K3", "K2"]


def test_economics_text(capsys):
    out = run(capsys, "economics", "--runs", "0")
    assert "K3 net of K0" in out and "-2,840" in out


def test_forecast_reports_backtest(capsys):
    data = json.loads(run(capsys, "forecast", "--json", "--class", "cpu"))
    bt = data["classes"]["cpu"]["backtest"]
    assert bt["mape_percent"] > 0 and bt["origins"] == 4
    assert "back-test" in run(capsys, "forecast", "--class", "cpu")


def test_timeline_and_thresholds(capsys):
    data = json.loads(run(capsys, "timeline", "--json", "--target-utilisation", "0.8"))
    assert data["target_utilisation"] == 0.8
    assert data["classes"]["cpu"]["gap"][0]["period"] == "2026Q1"
    plan = json.loads(run(capsys, "thresholds", "--json"))
    assert plan["years"] == [2026, 2027, 2028, 2029]
    assert plan["crossings"]["cpu"]["quarter"]
    text = run(capsys, "thresholds")
    assert "ORDER" in text and "RETIRE Betzy" in text and "why:" in text


def test_thresholds_wait_override_changes_the_cpu_plan(capsys):
    calm = json.loads(run(capsys, "thresholds", "--json"))
    busy = json.loads(run(capsys, "thresholds", "--json", "--p95-wait", "cpu=48"))
    assert busy["actions"] != calm["actions"]
    assert any("p95 wait" in a["reason"] for a in busy["actions"])
    with pytest.raises(SystemExit):
        cli.main(["plan", "thresholds", "--p95-wait", "gpu=48"])


def test_energy(capsys):
    data = json.loads(run(capsys, "energy", "--json"))
    total = sum(v["facility_kwh"] for v in data["by_system"].values())
    attributed = (
        sum(v["facility_kwh"] for v in data["projects"].values())
        + data["unattributed"]["facility_kwh"]
    )
    assert attributed == pytest.approx(total)
    assert "Effect goal 4" in run(capsys, "energy")


def test_plots_are_written(tmp_path, capsys):
    run(capsys, "economics", "--runs", "200", "--plots", str(tmp_path))
    run(capsys, "thresholds", "--plots", str(tmp_path))
    run(capsys, "forecast", "--class", "gpu", "--plots", str(tmp_path))
    for name in ("npv_by_category.png", "plan_timeline.png", "plan_cpu.png", "forecast_gpu.png"):
        f = tmp_path / name
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG"


def test_input_file_in_json(tmp_path, capsys):
    from regnekraft.planning import inputs

    raw = inputs.load_raw()
    raw["systems"] = [s for s in raw["systems"] if s["name"] != "B2"]
    p = tmp_path / "input.json"
    p.write_text(json.dumps(raw))
    data = json.loads(run(capsys, "timeline", "--json", "--input", str(p), "--class", "cpu"))
    assert "B2" not in data["classes"]["cpu"]["timeline"]["by_system"]
