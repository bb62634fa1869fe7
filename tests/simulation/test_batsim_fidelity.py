"""EASY backfilling with node-level allocation reproduces Batsim's (batsched easy_bf)
schedule of the medium_late workload exactly."""

import csv

import numpy as np
import pytest

from regnekraft.simulation import Platform, PolicyConfig, open_trace, simulate
from regnekraft.simulation.nodes import mask_to_ranges


def _reference(traces):
    path = traces / "batsim-medium-late" / "easy" / "out_jobs.csv"
    return {row["job_id"]: row for row in csv.DictReader(open(path))}


def _run(traces, allocation="nodes", policy="easy", engine="auto"):
    tr = open_trace(traces / "batsim-medium-late" / "medium_late.json")
    assert tr.max_procs == 32
    return simulate(
        tr,
        Platform.single(tr.max_procs),
        PolicyConfig(policy=policy, allocation=allocation, engine=engine),
    )


def test_run_time_is_profile_delay_and_matches_execution_time(traces):
    ref = _reference(traces)
    tr = open_trace(traces / "batsim-medium-late" / "medium_late.json")
    jobs = list(tr)
    assert len(jobs) == 801
    for j in jobs:
        assert abs(j.runtime - float(ref[str(j.id)]["execution_time"])) < 1e-6
        assert j.runtime <= j.walltime


@pytest.mark.parametrize("engine", ["python", "kernel"])
def test_easy_nodes_reproduces_batsim_starting_times(traces, engine):
    ref = _reference(traces)
    res = _run(traces, engine=engine)
    assert res.summary["jobs"] == 801
    diffs = [
        abs(st - float(ref[str(jid)]["starting_time"]))
        for jid, st in zip(res.jobs["job_id"], res.jobs["start_time"], strict=False)
    ]
    assert len(diffs) == 801
    assert max(diffs) <= 1e-6
    assert res.summary["mean_wait"] == pytest.approx(9.516326, abs=1e-6)
    assert res.summary["makespan"] == pytest.approx(16088.51, abs=1e-6)
    # and the very same nodes
    for jid, alloc in zip(res.jobs["job_id"], res.jobs["_alloc"], strict=False):
        assert mask_to_ranges(alloc) == ref[str(jid)]["allocated_resources"].strip()


def test_count_mode_backfills_more(traces):
    nodes = _run(traces, "nodes")
    count = _run(traces, "count")
    assert count.summary["mean_wait"] < nodes.summary["mean_wait"]
    # some job starts earlier in count mode than Batsim lets it
    assert np.any(count.jobs["start_time"] < nodes.jobs["start_time"] - 1e-6)


def test_documented_count_vs_nodes_example():
    """The example of docs/simulation.md: count-only lets J start at 6, node-level at 10."""
    from regnekraft.simulation import Job

    def run(allocation):
        jobs = [
            Job("Z", 0, 5, 5, nodes=1),
            Job("A", 0, 10, 10, nodes=2),
            Job("H", 1, 100, 100, nodes=2),
            Job("J", 6, 50, 50, nodes=1),
        ]
        simulate(jobs, Platform.single(3), PolicyConfig(policy="easy", allocation=allocation))
        return {j.id: (j.start, mask_to_ranges(j.alloc)) for j in jobs}

    nodes = run("nodes")
    assert nodes["A"] == (0.0, "1-2") and nodes["H"] == (10.0, "0-1") and nodes["J"] == (10.0, "2")
    assert run("count")["J"][0] == 6.0
