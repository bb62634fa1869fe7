"""The benchmark script runs, verifies its own proposal and reports it (small size)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "optimiser.py"


def load():
    spec = importlib.util.spec_from_file_location("benchmark_optimiser", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_script_runs_and_verifies(capsys):
    bench = load()
    assert bench.main(["--apps", "400", "--seed", "7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["applications"] == 400 and out["resource_classes"] == 10
    assert out["violations"] == []
    assert out["status"] == "optimal"
    assert out["funded"] > 0 and out["binding"]
    assert out["objective"] >= out["greedy_objective"] - 1e-9


def test_benchmark_round_is_seeded_and_scarce():
    bench = load()
    apps1, classes1, eligible1 = bench.generate(500, 3)
    apps2, classes2, eligible2 = bench.generate(500, 3)
    assert apps1 == apps2 and classes1 == classes2 and eligible1 == eligible2
    for c in classes1:
        demand = sum(a.requests.get(c.id, 0.0) for a in apps1)
        assert demand > 1.5 * c.remaining
