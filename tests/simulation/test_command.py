import argparse
import csv
import json

import pytest

from regnekraft.cli.simulate import main, register


def test_register_adds_simulate_with_func():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(
        [
            "simulate",
            "t.swf",
            "--policy",
            "fcfs",
            "--allocation",
            "count",
            "--jobs-out",
            "j.csv",
            "--json",
        ]
    )
    assert args.policy == "fcfs" and args.allocation == "count" and args.json
    assert callable(args.func)


def test_simulate_batsim_json(traces, tmp_path, capsys):
    out = tmp_path / "jobs.csv"
    rc = main(
        [
            str(traces / "batsim-medium-late" / "medium_late.json"),
            "--policy",
            "easy",
            "--jobs-out",
            str(out),
            "--json",
            "--no-progress",
        ]
    )
    assert rc == 0
    figs = json.loads(capsys.readouterr().out)
    for key in (
        "jobs",
        "utilisation",
        "mean_wait",
        "mean_bounded_slowdown",
        "makespan",
        "jobs_per_second",
    ):
        assert key in figs
    assert figs["jobs"] == 801
    assert figs["mean_wait"] == pytest.approx(9.516326, abs=1e-6)
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 801
    assert {"job_id", "submit_time", "start_time", "end_time", "wait_time", "system"} <= set(
        rows[0]
    )


def test_malformed_line_named_or_skipped(tmp_path, capsys):
    trace = tmp_path / "bad.swf"
    good = "1 0 -1 10 2 -1 -1 2 20 -1 1 1 1 -1 -1 -1 -1 -1\n"
    trace.write_text(
        "; MaxProcs: 4\n"
        + good
        + "2 5 -1 ten 2 -1 -1 2 20 -1 1 1 1 -1 -1 -1 -1 -1\n"
        + good.replace("1 0", "3 6", 1)
    )
    rc = main([str(trace), "--jobs-out", str(tmp_path / "j.csv"), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.swf:3" in err
    rc = main(
        [
            str(trace),
            "--jobs-out",
            str(tmp_path / "j.csv"),
            "--no-progress",
            "--json",
            "--skip-malformed",
        ]
    )
    assert rc == 0
    figs = json.loads(capsys.readouterr().out)
    assert figs["jobs"] == 2 and figs["skipped_lines"] == 1


def test_scenarios_side_by_side(traces, tmp_path, capsys):
    sc = tmp_path / "sc.toml"
    sc.write_text("""
seed = 3
[policy]
priority = "multifactor"
fairshare = "classic"
[[groups]]
name = "research"
share = 0.8
[[groups]]
name = "industry"
share = 0.2
economic = true
[[scenarios]]
name = "open"
[[scenarios]]
name = "capped"
policy = {economic_cap = 0.05}
""")
    summary = tmp_path / "summary.csv"
    rc = main(
        [
            str(traces / "hpc2n-first3171.swf"),
            "--scenario",
            str(sc),
            "--jobs-out",
            str(tmp_path / "jobs.csv"),
            "--summary-out",
            str(summary),
            "--plots",
            str(tmp_path / "plots"),
            "--json",
            "--no-progress",
            "--workers",
            "2",
        ]
    )
    assert rc == 0
    figs = json.loads(capsys.readouterr().out)
    names = [s["name"] for s in figs["scenarios"]]
    assert names == ["open", "capped"]
    capped = figs["scenarios"][1]
    assert capped["economic_share_max"] <= 0.05 + 1e-9
    assert (tmp_path / "jobs-open.csv").exists() and (tmp_path / "jobs-capped.csv").exists()
    assert len(list(csv.DictReader(open(summary)))) == 2
    for png in ("utilisation.png", "waits.png", "shares.png"):
        assert (tmp_path / "plots" / png).stat().st_size > 1000
