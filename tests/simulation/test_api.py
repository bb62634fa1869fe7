"""The public API another module (e.g. the allocation app) will call."""

import regnekraft.simulation as sim


def test_workload_from_records_with_groups_and_platform():
    platform = sim.Platform(
        [
            sim.SystemSpec("open", nodes=4, cores_per_node=8, country="NO"),
            sim.SystemSpec("tsd", nodes=2, cores_per_node=8, zone="shielded"),
        ]
    )
    groups = [sim.GroupSpec("research", 0.8), sim.GroupSpec("health", 0.2)]
    records = [
        {"id": 1, "submit": 0, "runtime": 100, "cores": 16, "group": "research"},
        {"id": 2, "submit": 5, "runtime": 50, "cores": 8, "group": "health", "zone": "shielded"},
        {"id": 3, "submit": 1, "runtime": 10, "cores": 8, "user": "someone"},
    ]
    wl = sim.Workload.from_records(records, name="round", map_users=True, seed=1)
    res = sim.simulate(wl, platform, sim.PolicyConfig(policy="easy"), groups)
    assert res.name == "round"
    assert res.summary["jobs"] == 3 and res.summary["completed"] == 3
    by_id = dict(zip(res.jobs["job_id"], res.jobs["system"], strict=True))
    assert by_id[2] == "tsd"
    names = {g["group"] for g in res.groups}
    assert names == {"research", "health"}  # the unknown user was mapped into a group
    assert abs(sum(g["delivered_share"] for g in res.groups) - 1) < 1e-9
    assert "mean_wait" in res.figures()


def test_user_mapping_is_deterministic_and_follows_shares():
    groups = [sim.GroupSpec("a", 0.7), sim.GroupSpec("b", 0.3, users=["vip"])]
    m1 = sim.UserMapper(groups, seed=5)
    m2 = sim.UserMapper(groups, seed=5)
    users = [f"u{i}" for i in range(2000)]
    got = [m1.group_for(u) for u in users]
    assert got == [m2.group_for(u) for u in users]
    assert abs(got.count("a") / len(got) - 0.7) < 0.04
    assert m1.group_for("vip") == "b"
