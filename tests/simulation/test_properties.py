"""Property tests on random workloads (hypothesis)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regnekraft.simulation import Job, Platform, PolicyConfig, SystemSpec, simulate
from regnekraft.simulation.model import ZONES

NODES = 8
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

job_tuples = st.lists(
    st.tuples(
        st.integers(0, 40),  # gap to previous submission
        st.integers(0, 120),  # run time
        st.integers(0, 60),  # walltime - run time
        st.integers(1, NODES),  # nodes
    ),
    min_size=1,
    max_size=40,
)


def make_jobs(tuples):
    t = 0.0
    jobs = []
    for i, (gap, run, slack, nodes) in enumerate(tuples):
        t += gap
        jobs.append(Job(i, t, run, run + slack if run + slack > 0 else 1, nodes=nodes))
    return jobs


def run(tuples, policy, allocation="nodes"):
    jobs = make_jobs(tuples)
    res = simulate(
        jobs,
        Platform.single(NODES),
        PolicyConfig(policy=policy, allocation=allocation),
        record_reservations=True,
    )
    return jobs, res


def assert_no_overallocation(jobs, allocation):
    events = []
    for j in jobs:
        if j.end == j.start:  # a zero-length run holds nothing
            continue
        events.append((j.end, 0, j))
        events.append((j.start, 1, j))
    events.sort(key=lambda e: (e[0], e[1]))
    used = 0
    count = 0
    for _, kind, j in events:
        if kind == 0:
            if allocation == "nodes":
                used &= ~j.alloc
            count -= j.nalloc
        else:
            if allocation == "nodes":
                assert j.alloc.bit_count() == j.nalloc
                assert used & j.alloc == 0, f"node given twice at {j.start}"
                assert j.alloc < (1 << NODES)
                used |= j.alloc
            count += j.nalloc
            assert count <= NODES


@SETTINGS
@given(
    job_tuples,
    st.sampled_from(["fcfs", "easy", "conservative"]),
    st.sampled_from(["nodes", "count"]),
)
def test_no_overallocation_and_no_early_start(tuples, policy, allocation):
    jobs, res = run(tuples, policy, allocation)
    assert res.summary["completed"] == len(jobs)
    for j in jobs:
        assert j.start >= j.submit
        assert j.end == j.start + min(j.runtime, j.walltime)
        assert j.nalloc == j.nodes
    assert_no_overallocation(jobs, allocation)


@SETTINGS
@given(job_tuples, st.sampled_from(["nodes", "count"]))
def test_easy_never_delays_the_head_reservation(tuples, allocation):
    jobs, res = run(tuples, "easy", allocation)
    for j in jobs:
        if np.isfinite(j.first_reservation):
            assert j.start <= j.first_reservation + 1e-9


@SETTINGS
@given(job_tuples, st.sampled_from(["nodes", "count"]))
def test_conservative_never_delays_any_reservation(tuples, allocation):
    jobs, res = run(tuples, "conservative", allocation)
    for j in jobs:
        # every job got a reservation when it arrived
        assert np.isfinite(j.first_reservation)
        assert j.start <= j.first_reservation + 1e-9


@SETTINGS
@given(job_tuples, st.sampled_from(["nodes", "count"]))
def test_fcfs_starts_in_submission_order(tuples, allocation):
    jobs, res = run(tuples, "fcfs", allocation)
    starts = [j.start for j in jobs]
    assert starts == sorted(starts)


systems = st.lists(
    st.tuples(
        st.integers(1, 6),
        st.sampled_from(ZONES),
        st.sampled_from(["NO", "SE", "FI", "US"]),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=4,
)
constraints = st.lists(
    st.tuples(
        st.integers(0, 30),
        st.integers(1, 50),
        st.integers(1, 4),
        st.sampled_from(ZONES),
        st.sampled_from([None, frozenset({"NO"}), frozenset({"NO", "SE"}), frozenset({"US"})]),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=30,
)


@SETTINGS
@given(
    systems,
    constraints,
    st.sampled_from(["fcfs", "easy", "conservative"]),
    st.sampled_from(["earliest", "first"]),
)
def test_federation_respects_zone_country_and_tier(sys_t, job_t, policy, federation):
    platform = Platform(
        [
            SystemSpec(f"s{i}", nodes=n, zone=z, country=c, tier=t)
            for i, (n, z, c, t) in enumerate(sys_t)
        ]
    )
    jobs = []
    t = 0.0
    for i, (gap, run, nodes, zone, countries, tier) in enumerate(job_t):
        t += gap
        jobs.append(Job(i, t, run, run, nodes=nodes, zone=zone, countries=countries, min_tier=tier))
    res = simulate(jobs, platform, PolicyConfig(policy=policy, federation=federation))
    for j in jobs:
        eligible = [s for s in platform.systems if s.allows(j) and s.nodes_for(j) > 0]
        if not eligible:
            assert j.state == 5  # rejected
            continue
        spec = platform.systems[j.system]
        assert spec.allows(j)
        assert spec.nodes_for(j) > 0
        assert j.start >= j.submit
    assert res.summary["rejected"] == sum(1 for j in jobs if j.state == 5)


@SETTINGS
@given(st.integers(1, (1 << 2000) - 1), st.data())
def test_lowest_bits_takes_the_lowest_set_bits(mask, data):
    from regnekraft.simulation.nodes import lowest_bits

    n = data.draw(st.integers(1, mask.bit_count()))
    want = 0
    rest = mask
    for _ in range(n):
        b = rest & -rest
        want |= b
        rest ^= b
    assert lowest_bits(mask, n) == want


@SETTINGS
@given(job_tuples, st.sampled_from(["nodes", "count"]))
def test_fcfs_incremental_passes_match_full_passes(tuples, allocation):
    # recording reservations turns the incremental FCFS pass after arrivals off
    _, full = run(tuples, "fcfs", allocation)
    jobs = make_jobs(tuples)
    fast = simulate(
        jobs, Platform.single(NODES), PolicyConfig(policy="fcfs", allocation=allocation)
    )
    assert np.array_equal(fast.jobs["start_time"], full.jobs["start_time"])
