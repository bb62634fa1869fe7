"""The framework-free core without a cluster: spec, diff, dump and sacct parsing, watermark."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from regnekraft.slurm.diff import diff
from regnekraft.slurm.ingest import ingest, parse_json, parse_parsable
from regnekraft.slurm.runner import SlurmdbdUnavailable, looks_like_dbd_down
from regnekraft.slurm.sacctmgr import parse_dump
from regnekraft.slurm.spec import (
    ClusterSpec,
    SpecError,
    UserAssoc,
    clear_tres,
    economic_cap_tres,
    fairshares,
    format_tres,
    hours_to_tres_minutes,
    parse_tres,
)
from regnekraft.slurm.state import UsagePeriodsFile, WatermarkFile
from regnekraft.slurm.sync import import_cluster, periods_after, usage_resets

from .desired import description


def spec() -> ClusterSpec:
    return ClusterSpec.from_description(description("c1"))


def test_tres_strings():
    assert parse_tres("cpu=600,gres/gpu=60,mem=4G,node=1") == {
        "cpu": 600,
        "gres/gpu": 60,
        "mem": 4096,
        "node": 1,
    }
    assert parse_tres("") == {}
    assert format_tres({"gres/gpu": 2, "cpu": 10}) == "cpu=10,gres/gpu=2"
    assert clear_tres({"cpu": 5, "gres/gpu": 1}, {"cpu": 7}) == "cpu=7,gres/gpu=-1"


def test_units_and_shares():
    assert hours_to_tres_minutes({"cpu": 1000, "gres/gpu": 2.5}) == {"cpu": 60000, "gres/gpu": 150}
    assert economic_cap_tres(0.05, {"cpu": 1000, "gres/gpu": 250}) == {"cpu": 50, "gres/gpu": 12}
    with pytest.raises(SpecError):
        economic_cap_tres(1.5, {"cpu": 10})
    shares = fairshares({"a": 2, "b": 1, "c": 0.0001, "d": 0}, total=300)
    assert shares["a"] == 2 * shares["b"] and shares["c"] >= 1 and shares["d"] == 1


def test_description_round_trip_is_canonical():
    first = spec().to_description()
    again = ClusterSpec.from_description(json.loads(json.dumps(first))).to_description()
    assert again == first
    assert ClusterSpec.from_description(first).accounts["uio"].fairshare == 100  # sum of projects


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["projects"][0].update(organisation="nowhere"), "unknown organisation"),
        (lambda d: d["projects"][0].update(qos=["gold"]), "not declared"),
        (lambda d: d["projects"][0].update(account="Big Project"), "lower case"),
        (lambda d: d.update(users={"root": {"default_account": "met001x"}}), "not one of theirs"),
    ],
)
def test_bad_descriptions_are_refused(change, message):
    data = description("c1")
    change(data)
    with pytest.raises(SpecError, match=message):
        ClusterSpec.from_description(data)


def test_diff_from_empty_orders_parents_and_preempted_qos_first():
    ops = diff(spec(), ClusterSpec("c1"))
    kinds = [(op.action, op.entity) for op in ops]
    assert kinds == sorted(kinds, key=lambda k: ["qos", "account", "user"].index(k[1]))
    qos_names = [op.name for op in ops if op.entity == "qos"]
    assert qos_names[-1] == "emergency"  # it names the others in Preempt
    accounts = [op.name for op in ops if op.entity == "account"]
    assert accounts.index("research") < accounts.index("uio") < accounts.index("nn1001k")
    add = next(op for op in ops if op.name == "nn1001k")
    assert add.argv()[:5] == ["sacctmgr", "--immediate", "add", "account", "nn1001k"]
    assert "grptresmins=cpu=6000,gres/gpu=600" in add.argv()
    assert diff(spec(), spec()) == []


def test_diff_blocks_unblocks_and_clears_limits():
    desired, current = spec(), spec()
    blocked = desired.with_account(
        "nn1001k", grp_submit_jobs=0, grp_jobs=0, grp_tres_mins={"cpu": 6000}
    )
    (op,) = diff(blocked, current)
    assert op.argv()[-3:] == ["grptresmins=cpu=6000,gres/gpu=-1", "grpsubmitjobs=0", "grpjobs=0"]
    (back,) = diff(current, blocked)
    assert back.argv()[-2:] == ["grpsubmitjobs=-1", "grpjobs=-1"]


def test_diff_touches_only_managed_subtrees():
    desired = spec()
    current = spec()
    current.accounts["physics"] = current.accounts["uio"].__class__(
        name="physics", parent="root", level="group"
    )
    current.accounts["stale"] = current.accounts["nn1001k"].__class__(
        name="stale", parent="uio", level="project"
    )
    current.users[("eve", "stale")] = current.users[("root", "nn1001k")].__class__(
        user="eve", account="stale"
    )
    ops = [op.summary() for op in diff(desired, current)]
    assert ops == [
        "delete user eve@stale (association: eve@stale -> (none))",
        "delete account stale (account: stale -> (none))",
    ]


# a `sacctmgr dump` file, one line per string
DUMP = "".join(
    line + "\n"
    for line in (
        "Cluster - 'regtest':Fairshare=1:QOS='normal'",
        "Parent - 'root'",
        "User - 'root':DefaultAccount='root':AdminLevel='Administrator':Fairshare=1",
        "Account - 'research':Description='research':Organization='research':Fairshare=70",
        "Parent - 'research'",
        "Account - 'uio':Description='univ oslo':Organization='uio':Fairshare=10",
        "Parent - 'uio'",
        "Account - 'nn1234k':Description='proj':Organization='uio':DefaultQOS='tier_high'"
        ":Fairshare=5:GrpTRESMins=cpu=600,gres/gpu=60:QOS='emergency,tier_high'",
        "Account - 'nn9k':Description='blocked one':Organization='uio'"
        ":Fairshare=1:GrpJobs=0:GrpSubmitJobs=0",
        "Parent - 'nn1234k'",
        "User - 'nobody':DefaultAccount='nn1234k':Fairshare=1",
        "User - 'alice':DefaultAccount='nn1234k':Fairshare=4:MaxSubmitJobs=0",
    )
)


def test_parse_dump_and_import():
    current = parse_dump(DUMP)
    assert current.cluster == "regtest"
    assert current.accounts["nn1234k"].grp_tres_mins == {"cpu": 600, "gres/gpu": 60}
    assert current.accounts["nn1234k"].qos == {"emergency", "tier_high"}
    assert current.accounts["nn9k"].blocked
    assert [current.accounts[n].level for n in ("research", "uio", "nn1234k")] == [
        "group",
        "organisation",
        "project",
    ]
    assert current.users[("alice", "nn1234k")].blocked
    current.qos = {}
    imported = import_cluster(current).description
    project = next(p for p in imported["projects"] if p["account"] == "nn1234k")
    assert project["users"] == [{"name": "alice", "fairshare": 4, "blocked": True}, "nobody"]
    assert imported["users"]["alice"] == {"default_account": "nn1234k"}


# sacct --parsable2 lines, one job row per string (SACCT_FIELDS order)
SACCT = "".join(
    line + "\n"
    for line in (
        "c1|7|7|wrap|nn1001k|alice|tier_high|batch|PREEMPTED|None"
        "|1795477501|1795477501|1795477517|1795477522|5|10|4|1|rk1"
        "|billing=4,cpu=4,mem=400M,node=1|billing=4,cpu=4,mem=400M,node=1||0:0",
        "c1|7.batch|7.batch|batch|nn1001k||||CANCELLED by 0|"
        "|1795477517|1795477517|1795477517|1795477522|5||4|1|rk1"
        "|cpu=4,mem=400M,node=1||1234|0:15",
        "c1|7|7|wrap|nn1001k|alice|tier_high|batch|RUNNING|None"
        "|1795477522|1795477600|1795477600|Unknown|30|10|4|1|rk1"
        "|billing=4,cpu=4,mem=400M,node=1|billing=4,cpu=4,mem=400M,node=1||0:0",
        "c1|8|8|wrap|ghost|bob|normal|batch|CANCELLED by 0|None"
        "|1795477530|1795477530|Unknown|1795477540|0|10|1|0|None assigned"
        "||billing=1,cpu=1,node=1||0:0",
    )
)


def test_parse_parsable_keys_states_and_charges():
    records = parse_parsable(SACCT, {"nn1001k": "p1"})
    keys = [r["key"] for r in records]
    assert keys == [
        "slurm:c1:7::1795477501",
        "slurm:c1:7:batch:1795477501",
        "slurm:c1:7::1795477522",
        "slurm:c1:8::1795477530",
    ]
    first, step, again, ghost = records
    assert (first["state"], first["final"], first["chargeable"]) == ("PREEMPTED", True, True)
    assert first["tres_seconds"]["cpu"] == 20 and first["billing_hours"] == pytest.approx(20 / 3600)
    assert (step["user"], step["qos"], step["energy_j"], step["chargeable"]) == (
        "alice",
        "tier_high",
        1234,
        False,
    )
    assert (again["final"], again["end"], again["project"]) == (False, None, "p1")
    assert (ghost["state"], ghost["chargeable"], ghost["project"]) == ("CANCELLED", False, None)


def test_parse_json_matches_the_parsable_shape():
    doc = {
        "jobs": [
            {
                "account": "nn1001k",
                "cluster": "c1",
                "job_id": 9,
                "name": "wrap",
                "user": "alice",
                "qos": "tier_high",
                "partition": "batch",
                "nodes": "rk1",
                "allocation_nodes": 1,
                "state": {"current": "COMPLETED", "reason": "None"},
                "time": {
                    "elapsed": 60,
                    "submission": 100,
                    "eligible": 100,
                    "start": 110,
                    "end": 170,
                    "limit": 5,
                },
                "exit_code": {"status": "SUCCESS", "return_code": 0},
                "required": {"CPUs": 2},
                "tres": {
                    "allocated": [
                        {"type": "cpu", "name": None, "count": 2},
                        {"type": "gres", "name": "gpu", "count": 1},
                        {"type": "energy", "name": None, "count": None},
                        {"type": "billing", "name": None, "count": 142},
                    ],
                    "requested": [],
                },
                "steps": [
                    {
                        "step": {"id": "batch", "name": "batch"},
                        "state": "COMPLETED",
                        "time": {"elapsed": 60, "start": 110, "end": 170},
                        "nodes": {"count": 1, "range": "rk1"},
                        "statistics": {"energy": {"consumed": 42}},
                        "tres": {"allocated": [{"type": "cpu", "count": 2}]},
                    }
                ],
            }
        ]
    }
    job, step = parse_json(json.dumps(doc), {"nn1001k": "p1"})
    assert job["key"] == "slurm:c1:9::100" and step["key"] == "slurm:c1:9:batch:100"
    assert job["alloc_tres"] == {"cpu": 2, "gres/gpu": 1, "billing": 142}
    assert job["gpu_hours"] == pytest.approx(60 / 3600) and job["project"] == "p1"
    assert step["energy_j"] == 42 and not step["chargeable"]


def test_watermark_moves_only_on_success(tmp_path):
    state = WatermarkFile(tmp_path / "s.json")
    calls = []

    def ok(argv, env=None):
        calls.append(argv)
        return SACCT

    def down(argv, env=None):
        raise SlurmdbdUnavailable(argv, 1, "", "sacct: error: Problem talking to the database")

    first = ingest(ok, "c1", state, now=10_000, first_lookback_s=1000, overlap_s=100)
    assert state.watermark("c1") == 10_000 and len(first.records) == 4
    assert any(a.startswith("--starttime=") for a in calls[0])
    with pytest.raises(SlurmdbdUnavailable, match="slurmdbd"):
        ingest(down, "c1", state, now=20_000)
    assert state.watermark("c1") == 10_000
    assert "database" in state.status("c1")["last_error"]
    ingest(ok, "c1", state, now=30_000, overlap_s=100)
    assert state.watermark("c1") == 30_000 and state.status("c1")["last_error"] is None


def test_dbd_down_words():
    assert looks_like_dbd_down("sacct: error: Problem talking to the database: Connection refused")
    assert not looks_like_dbd_down("sacctmgr: error: Invalid field requested")


def test_usage_is_reset_only_when_the_allocation_period_moves_on(tmp_path):
    now = spec()
    assert now.accounts["nn1001k"].usage_period == "2026-04-01"
    assert usage_resets(now, {}) == []  # first sighting: adopted, not reset
    assert periods_after(now, {}) == {"nn1001k": "2026-04-01"}
    assert usage_resets(now, {"nn1001k": "2026-04-01"}) == []
    later = now.with_account("nn1001k", usage_period="2026-10-01")
    [op] = usage_resets(later, {"nn1001k": "2026-04-01"})
    assert op.command() == (
        "sacctmgr --immediate modify account where name=nn1001k cluster=c1 set RawUsage=0"
    )
    assert "0 for the period from 2026-10-01" in op.summary()
    assert usage_resets(now, {"nn1001k": "2026-10-01"}) == []  # never backwards
    store = UsagePeriodsFile(tmp_path / "usage-periods.json")
    store.record("c1", periods_after(later, {"nn1001k": "2026-04-01", "gone01": "2025-10-01"}))
    assert store.known("c1") == {"nn1001k": "2026-10-01", "gone01": "2025-10-01"}
    assert store.known("c2") == {}
    bad = description("c1")
    bad["projects"][0]["usage_period"] = "1 April"
    with pytest.raises(SpecError, match="usage_period"):
        ClusterSpec.from_description(bad)


def test_a_failed_apply_records_the_resets_that_ran_and_retries_the_rest():
    from regnekraft.slurm.runner import SlurmCommandError
    from regnekraft.slurm.sync import ApplyError, apply

    desired = (
        spec()
        .with_account("nn1001k", usage_period="2026-10-01")
        .with_account("met001", usage_period="2026-10-01")
    )

    class FailsOnMet:
        def read(self, cluster):
            return desired  # Slurm already matches: only the resets are due

        def execute(self, op):
            if op.name == "met001":
                raise SlurmCommandError(op.argv(), 1, "", "sacctmgr: error")

    known = {"nn1001k": "2026-04-01", "met001": "2026-04-01"}
    with pytest.raises(ApplyError) as failed:
        apply(desired, FailsOnMet(), known)
    # met001 sorts first and fails: nothing ran, both are still due
    assert failed.value.periods == known

    class FailsOnNn(FailsOnMet):
        def execute(self, op):
            if op.name == "nn1001k":
                raise SlurmCommandError(op.argv(), 1, "", "sacctmgr: error")

    with pytest.raises(ApplyError) as failed:
        apply(desired, FailsOnNn(), known)
    assert failed.value.periods == {"met001": "2026-10-01", "nn1001k": "2026-04-01"}


def test_a_new_user_is_created_with_its_default_accounts_association_first():
    data = description("c1")
    for project in data["projects"][:2]:
        project["users"] = ["alice", *project.get("users", [])]
    first, second = sorted([data["projects"][0]["account"], data["projects"][1]["account"]])
    data["users"] = {"alice": {"default_account": second}}
    desired = ClusterSpec.from_description(data)
    ops = [op for op in diff(desired, ClusterSpec("c1")) if op.entity == "user"]
    alice = [op for op in ops if op.name == "alice"]
    assert [dict(op.where)["account"] for op in alice][0] == second
    assert dict(alice[0].settings)["defaultaccount"] == second
    assert all("defaultaccount" not in dict(op.settings) for op in alice[1:])
    assert first in [dict(op.where)["account"] for op in alice]


def test_ingest_reads_sacct_window_by_window_and_keeps_one_record_per_key():
    from regnekraft.slurm.ingest import ingest_window

    windows = []

    def run(argv, env=None):
        start = next(a for a in argv if a.startswith("--starttime="))
        windows.append(start)
        return SACCT  # every window sees the same jobs (active across the boundaries)

    one = ingest_window(run, "c1", 0, 3600, {"nn1001k": "p1"}, window_s=3600)
    three = ingest_window(run, "c1", 0, 3 * 3600, {"nn1001k": "p1"}, window_s=3600)
    assert len(windows) == 4
    assert [r["key"] for r in three.records] == [r["key"] for r in one.records]
    assert three.unknown_accounts == one.unknown_accounts


def test_refused_lines_of_a_batch_are_found_by_their_echo():
    from regnekraft.slurm.sync import refused_lines

    lines = ["add account a cluster=c", "add account a cluster=c", "modify qos where name=q"]
    output = (
        "sacctmgr: add account a cluster=c\n Adding Account(s)\n  a\n"
        "sacctmgr: add account a cluster=c\n Nothing new added.\n"
    )
    refused = refused_lines(lines, output)
    assert sorted(refused) == [1, 2]
    assert "Nothing new added" in refused[1]
    assert "not run" in refused[2]


def test_a_first_apply_is_qos_commands_then_one_load_file():
    from regnekraft.slurm.diff import batches

    desired = spec()
    ops = diff(desired, ClusterSpec("c1"))
    parents = {name: acc.parent for name, acc in desired.accounts.items()}
    calls = batches(ops, "c1", parents)
    assert [b.kind for b in calls] == ["commands", "load"]
    assert all(op.entity == "qos" for op in calls[0].ops)
    assert sum(len(b.ops) for b in calls) == len(ops)
    text = calls[1].text
    assert text.startswith("Cluster - 'c1'\nParent - 'root'\nAccount - 'industry':")
    assert "Parent - 'uio'\nAccount - 'nn1001k':Description='nn1001k'" in text
    assert "QOS='emergency,tier_high':DefaultQOS='tier_high'" in text
    # a new user's default account on each of its lines, whichever creates it
    assert "Parent - 'nn1001k'\nUser - 'nobody':Fairshare=1:DefaultAccount='acme01'" in text
    # without the load file: the same operations as commands, many to a call
    plain = batches(ops, "c1", parents, use_load=False)
    assert {b.kind for b in plain} == {"commands"}
    assert sum(len(b.lines) for b in plain) == len(ops)


def test_commands_that_differ_only_in_the_name_are_merged():
    from regnekraft.slurm.diff import batches

    desired = spec()
    current = ClusterSpec.from_description(description("c1"))
    for user in ("u1", "u2", "u3"):
        current.users[(user, "nn1001k")] = UserAssoc(user, "nn1001k")
    ops = diff(desired, current)
    assert len(ops) == 3
    (call,) = batches(ops, "c1", {})
    assert call.lines == ("delete user where name=u1,u2,u3 account=nn1001k cluster=c1",)


def test_a_big_load_is_split_in_chunks_parents_and_defaults_first():
    from regnekraft.slurm.diff import batches

    desired = spec()
    ops = diff(desired, ClusterSpec("c1"))
    parents = {name: acc.parent for name, acc in desired.accounts.items()}
    loads = [b for b in batches(ops, "c1", parents, load_chunk=4) if b.kind == "load"]
    assert len(loads) > 2 and all(len(b.ops) <= 4 for b in loads)
    seen: set[str] = {"root"}
    for call in loads:
        for op in call.ops:
            settings = dict(op.settings)
            if op.entity == "account":
                assert settings["parent"] in seen
                seen.add(op.name)
            else:
                assert dict(op.where)["account"] in seen


def test_deletions_from_several_accounts_share_a_line_only_where_that_is_safe():
    """``delete user where name=u1,u2 account=a1,a2`` deletes all four pairs: users leaving
    different accounts share a line unless the product names a pair that must stay."""
    from regnekraft.slurm.diff import batches

    desired = spec()
    current = ClusterSpec.from_description(description("c1"))
    current.users[("u1", "nn1001k")] = UserAssoc("u1", "nn1001k")
    current.users[("u2", "met001")] = UserAssoc("u2", "met001")
    current.users[("u3", "acme01")] = UserAssoc("u3", "acme01")
    ops = diff(desired, current)
    assert len(ops) == 3
    (call,) = batches(ops, "c1", {}, existing=set(current.users))
    assert len(call.lines) == 1 and call.lines[0].startswith("delete user where name=u")
    assert sorted(op.name for op in call.line_ops[0]) == ["u1", "u2", "u3"]
    # u2 is also (and stays) in nn1001k: u2 x nn1001k must not be in a product
    desired.users[("u2", "nn1001k")] = UserAssoc("u2", "nn1001k")
    current.users[("u2", "nn1001k")] = UserAssoc("u2", "nn1001k")
    ops = diff(desired, current)
    (call,) = batches(ops, "c1", {}, existing=set(current.users))
    for line_ops in call.line_ops:
        users = {op.name for op in line_ops}
        accounts = {dict(op.where)["account"] for op in line_ops}
        assert not ("u2" in users and "nn1001k" in accounts)
    assert sum(len(u) for u in call.line_ops) == 3 and len(call.lines) == 2
    # without the cluster's pairs: one line per account, as before
    plain = batches(ops, "c1", {})
    assert len(plain[0].lines) == 3


def test_changes_with_the_same_settings_are_one_command():
    from regnekraft.slurm.diff import batches

    desired = spec()
    current = ClusterSpec.from_description(description("c1"))
    for name in ("nn1001k", "met001"):
        desired.accounts[name] = replace(desired.accounts[name], fairshare=7)
    ops = diff(desired, current)
    (call,) = batches(ops, "c1", {}, use_load=False)
    assert call.lines == ("modify account where name=met001,nn1001k cluster=c1 set fairshare=7",)


def test_default_account_changes_go_into_the_load_file_without_other_settings():
    from regnekraft.slurm.diff import batches, loadable

    desired = spec()
    current = ClusterSpec.from_description(description("c1"))
    desired.default_accounts["nobody"] = "acme01"
    current.default_accounts["nobody"] = "nn1001k"
    for name in ("nn1001k", "met001", "acme01"):
        desired.accounts[name] = replace(desired.accounts[name], fairshare=9 + len(name))
    ops = diff(desired, current)
    assert all(loadable(op) for op in ops)
    (call,) = batches(ops, "c1", {n: a.parent for n, a in current.accounts.items()})
    assert call.kind == "load"
    # on the line of that association, and nothing else: its share (2) stays
    assert "Parent - 'acme01'\nUser - 'nobody':DefaultAccount='acme01'\n" in call.text


def test_a_deletion_line_never_names_an_association_the_same_run_adds():
    """u1 joins met001 and leaves nn1001k, u2 leaves met001: ``name=u1,u2
    account=nn1001k,met001`` would also delete the new u1@met001."""
    from regnekraft.slurm.diff import batches

    desired = spec()
    current = ClusterSpec.from_description(description("c1"))
    current.users[("u1", "nn1001k")] = UserAssoc("u1", "nn1001k")
    current.users[("u2", "met001")] = UserAssoc("u2", "met001")
    current.users[("u1", "acme01")] = UserAssoc("u1", "acme01")
    desired.users[("u1", "acme01")] = UserAssoc("u1", "acme01")
    desired.users[("u1", "met001")] = UserAssoc("u1", "met001")
    ops = diff(desired, current)
    assert sorted(op.action for op in ops) == ["add", "delete", "delete"]
    for call in batches(ops, "c1", {}, use_load=False, existing=set(current.users)):
        for line_ops in call.line_ops:
            users = {op.name for op in line_ops}
            accounts = {dict(op.where)["account"] for op in line_ops if op.action == "delete"}
            assert not ("u1" in users and "met001" in accounts)
