"""The compiled kernel gives exactly the Python event loop's schedules and figures."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regnekraft.simulation import (
    GroupSpec,
    Job,
    Platform,
    PolicyConfig,
    QOSSpec,
    Simulator,
    SystemSpec,
    TraceError,
    open_trace,
    simulate,
)
from regnekraft.simulation.columns import columns_from_jobs

SHIPPED = [
    "NASA-iPSC-1993-3.1-cln.swf.gz",
    "hpc2n-first3171.swf",
    "lublin-aaroh.swf.gz",
    "batsim-medium-late/medium_late.json",
]
CONFIGS = [(p, a) for p in ("fcfs", "easy") for a in ("nodes", "count")]
VOLATILE = {"wall_seconds", "jobs_per_second"}


def assert_same(a, b):
    """Every job column, every figure but the timings, every group row."""
    for col, x in a.jobs.items():
        y = b.jobs[col]
        if col == "_alloc":
            assert (x is None) == (y is None)
            if x is not None:
                assert list(x) == list(y)
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=col)
        else:
            assert list(x) == list(y), col
    assert {k: v for k, v in a.summary.items() if k not in VOLATILE} == {
        k: v for k, v in b.summary.items() if k not in VOLATILE
    }
    assert a.groups == b.groups
    assert a.series == b.series


def both(jobs_factory, platform, groups=None, **policy):
    py = simulate(jobs_factory(), platform, PolicyConfig(engine="python", **policy), groups)
    kern = simulate(jobs_factory(), platform, PolicyConfig(engine="kernel", **policy), groups)
    return py, kern


@pytest.mark.parametrize("trace", SHIPPED)
@pytest.mark.parametrize("policy,allocation", CONFIGS)
def test_shipped_traces_identical(traces, trace, policy, allocation):
    path = traces / trace
    reader = open_trace(path)
    procs = reader.max_procs or reader.max_nodes
    py, kern = both(
        lambda: open_trace(path), Platform.single(procs), policy=policy, allocation=allocation
    )
    assert py.summary["passes"] > 100  # a real replay, not an empty one
    assert_same(py, kern)


@pytest.mark.parametrize("trace", SHIPPED[:3])
def test_columnar_swf_reader_matches_the_line_reader(traces, trace):
    fast_reader = open_trace(traces / trace)
    fast = fast_reader.columns()
    line_reader = open_trace(traces / trace)
    slow = columns_from_jobs(line_reader)
    assert fast.ids == slow.ids
    assert fast_reader.dropped == line_reader.dropped
    for field in (
        "submit",
        "runtime",
        "walltime",
        "cores",
        "gpus",
        "mem",
        "nodes",
        "economic",
        "zone",
        "min_tier",
    ):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)
    assert [str(u) for u in fast.user] == list(slow.user)
    assert [str(g) for g in fast.group] == list(slow.group)


SWF_HEAD = "; MaxProcs: 4\n"
SWF_ROW = "{id} {submit} 0 {run} 1 -1 -1 1 {req} -1 1 7 3 -1 1 -1 -1 -1\n"


def test_columnar_reader_names_the_malformed_line(tmp_path):
    path = tmp_path / "bad.swf"
    path.write_text(
        SWF_HEAD
        + SWF_ROW.format(id=1, submit=0, run=5, req=10)
        + "2 x 0 5 1 -1 -1 1 10 -1 1 7 3 -1 1 -1 -1 -1\n"
    )
    with pytest.raises(TraceError, match=r"bad\.swf:3: malformed SWF line"):
        open_trace(path).columns()
    reader = open_trace(path, skip_malformed=True)
    assert len(reader.columns()) == 1 and reader.skipped == 1


def test_unsorted_trace_is_refused_naming_the_job(tmp_path):
    path = tmp_path / "unsorted.swf"
    path.write_text(
        SWF_HEAD
        + SWF_ROW.format(id=1, submit=50, run=5, req=10)
        + SWF_ROW.format(id=2, submit=10, run=5, req=10)
    )
    for engine in ("python", "kernel"):
        with pytest.raises(ValueError, match="not sorted by submission time at job 2"):
            simulate(open_trace(path), Platform.single(4), PolicyConfig(engine=engine))


def test_kernel_only_where_it_applies():
    one = Platform.single(4)
    assert Simulator(one, PolicyConfig(policy="easy")).kernel_applies()
    not_kernel = [
        (one, PolicyConfig(policy="conservative")),
        (one, PolicyConfig(priority="multifactor")),
        (one, PolicyConfig(fairshare="classic")),
        (one, PolicyConfig(quotas=True)),
        (one, PolicyConfig(economic_cap=0.2)),
        (one, PolicyConfig(qos=[QOSSpec("normal"), QOSSpec("emergency", preempts=["normal"])])),
        (Platform([SystemSpec("a", 4), SystemSpec("b", 4)]), PolicyConfig()),
    ]
    for platform, policy in not_kernel:
        assert not Simulator(platform, policy).kernel_applies()
        policy.engine = "kernel"
        with pytest.raises(ValueError, match="engine 'kernel'"):
            Simulator(platform, policy).run([Job(1, 0, 10, nodes=1)])
    with pytest.raises(ValueError, match="engine must be"):
        PolicyConfig(engine="fortran")


NODES = 8
SYSTEM = SystemSpec(
    "s", NODES, cores_per_node=2, gpus_per_node=1, mem_per_node=100.0, zone="shielded", tier=2
)
jobs_strategy = st.lists(
    st.tuples(
        st.integers(0, 30),  # gap to the previous submission (0: same instant)
        st.integers(0, 100),  # run time
        st.integers(-20, 60),  # requested time minus run time (< 0: killed at the limit)
        st.integers(0, 2 * NODES + 2),  # cores (> 2 * NODES: rejected as too large)
        st.integers(0, NODES),  # explicit node count (0: from cores, GPUs, memory)
        st.integers(0, 2),  # GPUs
        st.sampled_from([0.0, 150.0]),  # memory
        st.sampled_from(["open", "shielded", "graded"]),  # graded is rejected here
        st.integers(1, 3),  # minimum tier (3 is rejected here)
        st.sampled_from(["", "g1", "g2"]),
        st.sampled_from(["u1", "u2", "u3"]),
    ),
    min_size=1,
    max_size=60,
)


def make_jobs(rows):
    t = 0.0
    out = []
    for i, (gap, run, slack, cores, nodes, gpus, mem, zone, tier, group, user) in enumerate(rows):
        t += gap
        out.append(
            Job(
                i,
                t,
                run,
                max(run + slack, 0),
                cores=cores,
                gpus=gpus,
                mem=mem,
                nodes=nodes,
                user=user,
                group=group,
                zone=zone,
                min_tier=tier,
            )
        )
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=jobs_strategy,
    policy=st.sampled_from(CONFIGS),
    max_job_test=st.integers(1, 4),
    with_groups=st.booleans(),
)
def test_random_workloads_identical(rows, policy, max_job_test, with_groups):
    groups = (
        [GroupSpec("g1", 0.7, users=["u1"]), GroupSpec("g2", 0.3, users=["u2"])]
        if with_groups
        else None
    )
    py, kern = both(
        lambda: make_jobs(rows),
        Platform([SYSTEM]),
        groups,
        policy=policy[0],
        allocation=policy[1],
        bf_max_job_test=max_job_test,
    )
    assert_same(py, kern)


def test_both_readers_read_whole_numbers_alike(tmp_path):
    path = tmp_path / "odd.swf"
    path.write_text(
        SWF_HEAD
        + "1 0 0 5 1 -1 -1 1.0 10 -1 1 07 05 -1 1 -1 -1 -1\n"
        + "2 1 0 5 1 -1 -1 2e0 10 -1 1 7 5 -1 1 -1 -1 -1\n"
    )
    [a, b] = list(open_trace(path))
    assert (a.cores, a.user, a.group, b.cores, b.user, b.group) == (1, "7", "5", 2, "7", "5")
    py, kern = both(lambda: open_trace(path), Platform.single(4))
    assert_same(py, kern)
    assert list(kern.jobs["group"]) == ["5", "5"]
    bad = tmp_path / "half.swf"
    bad.write_text(SWF_HEAD + "1 0 0 5 1 -1 -1 1.5 10 -1 1 7 5 -1 1 -1 -1 -1\n")
    for engine in ("python", "kernel"):
        with pytest.raises(TraceError, match=r"half\.swf:2: .*not a whole number"):
            simulate(open_trace(bad), Platform.single(4), PolicyConfig(engine=engine))


def test_the_callers_jobs_get_their_results_from_either_engine():
    for engine in ("python", "kernel"):
        jobs = [Job(1, 0, 10, nodes=2), Job(2, 0, 10, nodes=2), Job(3, 1, 5, nodes=1)]
        simulate((j for j in jobs), Platform.single(3), PolicyConfig(engine=engine))
        assert [(j.start, j.end) for j in jobs] == [(0.0, 10.0), (10.0, 20.0), (1.0, 6.0)], engine
