"""Push direction on a real cluster: plan, apply, reconcile, import, and what Slurm then does."""

from __future__ import annotations

import json
import time

import pytest

from regnekraft.slurm.runner import CommandRunner
from regnekraft.slurm.spec import ClusterSpec
from regnekraft.slurm.sync import SacctmgrBackend, apply, import_cluster, plan, reconcile

from .desired import description

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def backend(slurm_cluster):
    return SacctmgrBackend(CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf)))


@pytest.fixture(scope="module")
def desired(slurm_cluster, backend) -> ClusterSpec:
    spec = ClusterSpec.from_description(description(slurm_cluster.config.cluster_name))
    apply(spec, backend)
    return spec


@pytest.fixture
def empty_queue(slurm_cluster):
    slurm_cluster.cancel_all()
    yield
    slurm_cluster.cancel_all()


def test_plan_changes_nothing_then_apply_twice_makes_no_change(slurm_cluster, backend):
    spec = ClusterSpec.from_description(description(slurm_cluster.config.cluster_name, prefix="t0"))
    first = plan(spec, backend)
    assert not first.in_sync
    assert plan(spec, backend).to_dict()["operations"] == first.to_dict()["operations"]
    applied = apply(spec, backend)
    assert len(applied.applied) == len(first.operations)
    again = apply(spec, backend)
    assert again.in_sync and again.applied == []
    # the group subtree is there with the shares and limits we asked for
    current = backend.read(spec.cluster)
    assert current.accounts["t0nn1001k"].parent == "t0uio"
    assert current.accounts["t0nn1001k"].grp_tres_mins == {"cpu": 6000, "gres/gpu": 600}
    assert current.accounts["t0research"].fairshare == 60


_UNFINISHED = ("PENDING", "RUNNING", "COMPLETING")


def test_job_runs_under_the_project_account(slurm_cluster, desired, empty_queue):
    job = slurm_cluster.sbatch("--account=nn1001k", "--time=2", user="nobody", wrap="sleep 1")
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(job)[0] in ("", "COMPLETED"), what=f"job {job} to finish"
    )

    def recorded() -> list[str]:
        # slurmctld sends the job's record to slurmdbd in pieces (start, then end); the
        # job may have left the queue while slurmdbd still holds it as RUNNING.
        out = slurm_cluster.run(
            ["sacct", "-n", "-X", "-P", "-j", job, "--format=Account,User,QOS,State"]
        ).stdout.split()
        whole = out and "Unknown" not in out[0] and out[0].split("|")[-1] not in _UNFINISHED
        return out if whole else []

    assert slurm_cluster.wait_for(recorded, what="the job's accounting record") == [
        "nn1001k|nobody|tier_high|COMPLETED"
    ]


def test_exhausted_allocation_keeps_a_new_job_pending(slurm_cluster, desired, empty_queue):
    # met001 has 1 CPU-minute left; with AccountingStorageEnforce=safe a 10-minute job
    # cannot start until the grant is raised.
    job = slurm_cluster.sbatch("--account=met001", "--time=10")
    state = slurm_cluster.wait_for(
        lambda: (s := slurm_cluster.job_state(job))[1] not in ("", "None") and s,
        what="a pending reason",
    )
    assert state == ("PENDING", "AssocGrpCPUMinutesLimit")


def test_exhausted_gpu_grant_keeps_a_gpu_job_pending(slurm_cluster, desired, backend, empty_queue):
    gpu_spent = desired.with_account("nn1001k", grp_tres_mins={"cpu": 6000, "gres/gpu": 1})
    apply(gpu_spent, backend)
    try:
        job = slurm_cluster.sbatch("--account=nn1001k", "--gres=gpu:1", "--time=10")
        state = slurm_cluster.wait_for(
            lambda: (s := slurm_cluster.job_state(job))[1] not in ("", "None") and s,
            what="a pending reason",
        )
        assert state == ("PENDING", "AssocGrpGRESMinutes")
    finally:
        apply(desired, backend)


def test_blocked_project_refuses_jobs_and_unblocks(slurm_cluster, desired, backend, empty_queue):
    blocked = desired.with_account("nn1001k", grp_submit_jobs=0, grp_jobs=0)
    result = apply(blocked, backend)
    assert [op.summary() for op in result.applied] == [
        "modify account nn1001k (grpsubmitjobs: (none) -> 0; grpjobs: (none) -> 0)"
    ]

    def submit():  # slurmdbd passes the change on to slurmctld a moment after sacctmgr
        return slurm_cluster.run(
            ["sbatch", "--account=nn1001k", "--time=1", "--wrap=true", "-o", "/dev/null"],
            check=False,
        )

    refused = slurm_cluster.wait_for(
        lambda: (r := submit()).returncode != 0 and r, what="the block to reach slurmctld"
    )
    assert "AssocGrpSubmitJobsLimit" in refused.stderr
    apply(desired, backend)
    assert plan(desired, backend).in_sync
    slurm_cluster.wait_for(lambda: submit().returncode == 0, what="the unblock")


def test_a_new_allocation_period_resets_the_accounts_usage(
    slurm_cluster, desired, backend, empty_queue
):
    job = slurm_cluster.sbatch("--account=nn1001k", "--ntasks=2", "--time=2", wrap="sleep 3")
    slurm_cluster.wait_for(
        lambda: slurm_cluster.raw_usage("nn1001k") > 0, what=f"usage of job {job} to be counted"
    )
    known = {"nn1001k": desired.accounts["nn1001k"].usage_period}
    assert apply(desired, backend, known).operations == []  # same period: usage kept
    assert slurm_cluster.raw_usage("nn1001k") > 0
    later = desired.with_account("nn1001k", usage_period="2026-10-01")
    result = apply(later, backend, known)
    assert [op.summary() for op in result.applied] == [
        "modify account nn1001k (usage: accrued since 2026-04-01 -> 0 for the period from "
        "2026-10-01)"
    ]
    slurm_cluster.wait_for(
        lambda: slurm_cluster.raw_usage("nn1001k") == 0, what="the usage to be reset"
    )
    assert apply(later, backend, result.periods).operations == []  # recorded: done once


def test_share_changed_by_hand_is_reported_and_repaired(slurm_cluster, desired, backend):
    slurm_cluster.run(
        [
            "sacctmgr",
            "-i",
            "modify",
            "account",
            "where",
            "name=nn1001k",
            f"cluster={desired.cluster}",
            "set",
            "fairshare=7",
        ]
    )
    slurm_cluster.run(
        ["sacctmgr", "-i", "add", "user", "daemon", "account=met001", f"cluster={desired.cluster}"]
    )
    report = reconcile(desired, backend)
    summaries = [op.summary() for op in report.operations]
    assert "modify account nn1001k (fairshare: 7 -> 100)" in summaries
    assert "delete user daemon@met001 (association: daemon@met001 -> (none))" in summaries
    assert report.applied == []
    assert not plan(desired, backend).in_sync  # reporting changed nothing
    repaired = reconcile(desired, backend, repair=True)
    assert len(repaired.applied) == len(report.operations)
    assert reconcile(desired, backend).in_sync
    assert backend.read(desired.cluster).accounts["nn1001k"].fairshare == 100


def test_emergency_job_preempts_a_lower_tier_job_on_a_full_node(
    slurm_cluster, desired, empty_queue
):
    cpus = slurm_cluster.config.cpus
    low = slurm_cluster.sbatch(
        "--account=nn1001k", "--qos=tier_high", f"--ntasks={cpus}", "--time=10", wrap="sleep 120"
    )
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(low)[0] == "RUNNING",
        what="the tier_high job to fill the node",
    )
    urgent = slurm_cluster.sbatch(
        "--account=nn1001k", "--qos=emergency", "--ntasks=1", "--time=5", wrap="sleep 60"
    )
    slurm_cluster.wait_for(
        lambda: slurm_cluster.job_state(urgent)[0] == "RUNNING", what="the emergency job to start"
    )
    assert slurm_cluster.job_state(low)[0] != "RUNNING"

    def recorded_states() -> list[str]:  # slurmdbd may get the record a moment later
        out = slurm_cluster.run(
            ["sacct", "-n", "-X", "-P", "-D", "-j", low, "--format=State"]
        ).stdout.split()
        return out if "PREEMPTED" in out else []

    assert "PREEMPTED" in slurm_cluster.wait_for(recorded_states, what="the PREEMPTED record")


def test_economic_qos_never_holds_more_than_its_cap(slurm_cluster, desired, empty_queue):
    cap = desired.qos["economic"].grp_tres["cpu"]
    assert cap == slurm_cluster.config.cpus // 2
    jobs = [
        slurm_cluster.sbatch("--account=acme01", "--ntasks=1", "--time=5", wrap="sleep 30")
        for _ in range(cap + 2)
    ]

    def running() -> list[str]:
        return [j for j in jobs if slurm_cluster.job_state(j)[0] == "RUNNING"]

    slurm_cluster.wait_for(lambda: len(running()) >= cap, what=f"{cap} economic jobs to run")
    for _ in range(6):  # look a few times over a few scheduling cycles
        assert len(running()) <= cap
        time.sleep(0.5)

    def held_by_cap() -> list[str]:
        # the scheduler gives the cap as the reason once it has looked at the job
        return [j for j in jobs if slurm_cluster.job_state(j) == ("PENDING", "QOSGrpCpuLimit")]

    assert slurm_cluster.wait_for(held_by_cap, what="a job held by the economic cap")
    assert len(running()) <= cap


def test_import_of_a_hand_made_cluster_then_plan_shows_no_change(slurm_cluster, backend):
    name = "handmade"
    run = slurm_cluster.run
    run(["sacctmgr", "-i", "add", "cluster", name])
    run(["sacctmgr", "-i", "add", "qos", "hm_gold", "priority=50"])
    run(["sacctmgr", "-i", "add", "account", "hm_research", f"cluster={name}", "fairshare=70"])
    run(
        [
            "sacctmgr",
            "-i",
            "add",
            "account",
            "hm_ntnu",
            f"cluster={name}",
            "parent=hm_research",
            "description=NTNU",
            "fairshare=20",
        ]
    )
    run(
        [
            "sacctmgr",
            "-i",
            "add",
            "account",
            "hm_proj1",
            f"cluster={name}",
            "parent=hm_ntnu",
            "fairshare=5",
            "grptresmins=cpu=1200,gres/gpu=30",
            "qos=hm_gold,normal",
            "defaultqos=hm_gold",
        ]
    )
    run(
        [
            "sacctmgr",
            "-i",
            "add",
            "account",
            "hm_proj2",
            f"cluster={name}",
            "parent=hm_ntnu",
            "grpsubmitjobs=0",
            "grpjobs=0",
        ]
    )
    run(["sacctmgr", "-i", "add", "user", "alice", "account=hm_proj1", f"cluster={name}"])
    run(
        [
            "sacctmgr",
            "-i",
            "add",
            "user",
            "alice",
            "account=hm_proj2",
            f"cluster={name}",
            "fairshare=3",
        ]
    )
    run(
        [
            "sacctmgr",
            "-i",
            "add",
            "user",
            "bob",
            "account=hm_proj2",
            f"cluster={name}",
            "maxsubmitjobs=0",
        ]
    )

    imported = import_cluster(backend.read(name))
    described = json.loads(json.dumps(imported.description))  # it is plain JSON
    assert imported.skipped == []
    assert [g["account"] for g in described["groups"]] == ["hm_research"]
    assert [o["account"] for o in described["organisations"]] == ["hm_ntnu"]
    projects = {p["account"]: p for p in described["projects"]}
    assert set(projects) == {"hm_proj1", "hm_proj2"}
    assert projects["hm_proj1"]["grp_tres_mins"] == {"cpu": 1200, "gres/gpu": 30}
    assert projects["hm_proj2"]["blocked"] is True
    assert projects["hm_proj2"]["users"] == [
        {"name": "alice", "fairshare": 3},
        {"name": "bob", "blocked": True},
    ]
    assert described["users"] == {
        "alice": {"default_account": "hm_proj1"},
        "bob": {"default_account": "hm_proj2"},
    }
    again = plan(ClusterSpec.from_description(described), backend)
    assert again.in_sync, again.render()


@pytest.mark.django_db
def test_command_line_import_then_plan(slurm_cluster, backend, tmp_path, capsys):
    from regnekraft.cli.slurm import EXIT_OK, main

    conf = ["--slurm-conf", str(slurm_cluster.slurm_conf), "--state-dir", str(tmp_path)]
    name = "handmade2"
    slurm_cluster.run(["sacctmgr", "-i", "add", "cluster", name])
    slurm_cluster.run(["sacctmgr", "-i", "add", "account", "h2_public", f"cluster={name}"])
    slurm_cluster.run(
        ["sacctmgr", "-i", "add", "account", "h2_nve", f"cluster={name}", "parent=h2_public"]
    )
    slurm_cluster.run(
        [
            "sacctmgr",
            "-i",
            "add",
            "account",
            "h2_flood",
            f"cluster={name}",
            "parent=h2_nve",
            "grptresmins=cpu=100",
        ]
    )
    slurm_cluster.run(
        ["sacctmgr", "-i", "add", "user", "carol", "account=h2_flood", f"cluster={name}"]
    )
    dump = tmp_path / "dump.cfg"
    slurm_cluster.run(["sacctmgr", "-i", "dump", name, f"file={dump}"])
    out = tmp_path / "imported.json"
    assert main(["import", "--dump", str(dump), "--output", str(out), *conf]) == EXIT_OK
    capsys.readouterr()
    assert main(["plan", "--desired", str(out), *conf]) == EXIT_OK
    assert "no change" in capsys.readouterr().out


@pytest.mark.django_db
def test_command_line_plan_apply_reconcile(slurm_cluster, desired, tmp_path, capsys):
    from regnekraft.cli.slurm import EXIT_DRIFT, EXIT_OK, main

    path = tmp_path / "desired.json"
    path.write_text(json.dumps(desired.to_description()))
    common = [
        "--desired",
        str(path),
        "--slurm-conf",
        str(slurm_cluster.slurm_conf),
        "--state-dir",
        str(tmp_path),
    ]
    assert main(["plan", *common]) == EXIT_OK
    assert "no change" in capsys.readouterr().out
    slurm_cluster.run(
        [
            "sacctmgr",
            "-i",
            "modify",
            "account",
            "where",
            "name=met001",
            f"cluster={desired.cluster}",
            "set",
            "grptresmins=cpu=999",
        ]
    )
    assert main(["reconcile", "--json", *common]) == EXIT_DRIFT
    report = json.loads(capsys.readouterr().out)
    assert [c["field"] for c in report[0]["operations"][0]["changes"]] == ["grptresmins"]
    assert main(["reconcile", "--repair", *common]) == EXIT_OK
    assert main(["apply", *common]) == EXIT_OK
    assert "no change" in capsys.readouterr().out
    from regnekraft.slurm.models import SyncRun

    runs = SyncRun.objects.filter(cluster=desired.cluster)
    repaired = runs.filter(mode="reconcile", applied=1).get()
    assert repaired.ok and repaired.details["desired"] == str(path)
    assert runs.filter(mode="apply").get().changes == 0
    assert not (tmp_path / "sync-status.json").exists()  # runs are kept in the database only


@pytest.mark.parametrize("use_load", [True, False], ids=["load-file", "commands"])
def test_first_apply_when_default_accounts_are_not_the_first_project(slurm_cluster, use_load):
    """A user whose default account is not their alphabetically first project: the first
    apply used to stop with "Nothing new added" (7,852 of 20,000 users nationally)."""
    runner = CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf))
    backend = SacctmgrBackend(runner, use_load=use_load)
    p = "t9" if use_load else "t8"
    data = description(slurm_cluster.config.cluster_name, prefix=p)
    for project in data["projects"]:
        project["users"] = [*project["users"], f"{p}dfa", f"{p}dfb"]
    # t?acme01 < t?met001 < t?nn1001k: the defaults are the second and the last
    data["users"] = {f"{p}dfa": {"default_account": f"{p}met001"}}
    data["users"][f"{p}dfb"] = {"default_account": f"{p}nn1001k"}
    data["projects"][2]["users"][-1] = {"name": f"{p}dfb", "fairshare": 3}
    spec = ClusterSpec.from_description(data)
    first = apply(spec, backend)
    assert first.error is None and len(first.applied) == len(first.operations)
    current = backend.read(spec.cluster)
    assert current.default_accounts[f"{p}dfa"] == f"{p}met001"
    assert current.default_accounts[f"{p}dfb"] == f"{p}nn1001k"
    for account in (f"{p}acme01", f"{p}met001", f"{p}nn1001k"):
        assert (f"{p}dfa", account) in current.users
    assert current.users[(f"{p}dfb", f"{p}acme01")].fairshare == 3
    assert apply(spec, backend).in_sync


def test_a_refused_line_in_a_batch_stops_apply_naming_it(slurm_cluster):
    from regnekraft.slurm.diff import Operation
    from regnekraft.slurm.sync import ApplyError

    runner = CommandRunner(slurm_conf=str(slurm_cluster.slurm_conf))
    spec = ClusterSpec.from_description(description(slurm_cluster.config.cluster_name, prefix="t7"))

    class Refusing(SacctmgrBackend):
        def execute_many(self, cluster_name, ops, parents):
            bad = Operation("add", "user", "t7ghost", where=(("account", "t7nosuch"),))
            return super().execute_many(cluster_name, [*ops, bad], parents)

    with pytest.raises(ApplyError) as failed:
        apply(spec, Refusing(runner, use_load=False))
    assert failed.value.op.name == "t7ghost"
    assert "doesn't exist" in str(failed.value.cause)
    # everything before the refused line was done: the tree is there
    assert plan(spec, SacctmgrBackend(runner)).in_sync


@pytest.mark.django_db
def test_apply_all_syncs_every_cluster_with_a_connection(slurm_cluster, tmp_path, capsys):
    from regnekraft.cli.slurm import EXIT_OK, EXIT_USAGE, main

    name = slurm_cluster.config.cluster_name
    path = tmp_path / "desired.json"
    path.write_text(
        json.dumps({"clusters": [description(name, prefix="t6"), description("elsewhere")]})
    )
    common = ["--desired", str(path), "--state-dir", str(tmp_path)]
    # no connections file: a clear refusal
    assert main(["apply", "--all", *common]) == EXIT_USAGE
    assert "no Slurm connections configured" in capsys.readouterr().err
    connections = tmp_path / "connections.json"
    connections.write_text(json.dumps({name: {"slurm_conf": str(slurm_cluster.slurm_conf)}}))
    assert main(["apply", "--all", "--json", *common]) == EXIT_OK
    captured = capsys.readouterr()
    assert "skipped [elsewhere]: no Slurm connection configured" in captured.err
    results = json.loads(captured.out)
    assert [r["cluster"] for r in results] == [name]
    assert results[0]["applied"] > 0
    assert main(["plan", "--all", "--json", *common]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)[0]["in_sync"]


class _Recording(CommandRunner):
    """Counts the write calls (``feed``) and keeps what each was given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fed: list[tuple[list[str], str]] = []

    def feed(self, argv, stdin, timeout=None):
        self.fed.append((list(argv), stdin))
        return super().feed(argv, stdin, timeout)


def test_a_batch_of_changes_lands_in_one_call(slurm_cluster):
    """Shares of three projects, three default accounts and a new user: one load file (one
    slurmdbd commit); then two user associations leaving two accounts: one command line."""
    name = slurm_cluster.config.cluster_name
    runner = _Recording(slurm_conf=str(slurm_cluster.slurm_conf))
    backend = SacctmgrBackend(runner, load_reads=0.0)
    p = "t5"
    data = description(name, prefix=p)
    members = {f"{p}nn1001k": ["ua", "ub"], f"{p}met001": ["ua", "uc"], f"{p}acme01": ["ub", "uc"]}
    for project in data["projects"]:
        project["users"] = [*project["users"], *(p + u for u in members[project["account"]])]
    data["users"] = {
        f"{p}ua": {"default_account": f"{p}nn1001k"},
        f"{p}ub": {"default_account": f"{p}nn1001k"},
        f"{p}uc": {"default_account": f"{p}met001"},
    }
    base = ClusterSpec.from_description(data)
    apply(base, backend)

    changed = json.loads(json.dumps(data))
    for i, project in enumerate(changed["projects"]):
        project["fairshare"] = 200 + i
    changed["projects"][2]["users"].append(f"{p}ud")
    changed["users"] = {
        f"{p}ua": {"default_account": f"{p}met001"},
        f"{p}ub": {"default_account": f"{p}acme01"},
        f"{p}uc": {"default_account": f"{p}acme01"},
        f"{p}ud": {"default_account": f"{p}acme01"},
    }
    spec = ClusterSpec.from_description(changed)
    calls, runner.fed = runner.calls, []
    result = apply(spec, backend)
    # the shares of the organisations and groups follow their projects'
    assert len(result.applied) == len(result.operations) == 10 and result.error is None
    assert runner.calls - calls == 5  # the four reads, and one write
    ((argv, text),) = runner.fed
    assert argv[-2:] == ["load", "file=/dev/stdin"]
    assert f"User - '{p}ua':DefaultAccount='{p}met001'" in text
    current = backend.read(name)
    assert current.default_accounts[f"{p}ua"] == f"{p}met001"
    assert current.default_accounts[f"{p}ud"] == f"{p}acme01"
    assert current.accounts[f"{p}acme01"].fairshare == 202
    assert current.users[(f"{p}ub", f"{p}acme01")].fairshare == 1
    assert plan(spec, backend).in_sync

    for project in changed["projects"]:
        leaving = {f"{p}nn1001k": f"{p}ub", f"{p}met001": f"{p}uc"}.get(project["account"])
        project["users"] = [u for u in project["users"] if u != leaving]
    spec = ClusterSpec.from_description(changed)
    runner.fed = []
    result = apply(spec, backend)
    assert len(result.applied) == 2
    ((argv, text),) = runner.fed
    assert text.count("\n") == 1 and text.startswith("delete user where name=")
    current = backend.read(name)
    assert (f"{p}ub", f"{p}nn1001k") not in current.users
    assert (f"{p}uc", f"{p}met001") not in current.users
    assert (f"{p}ua", f"{p}met001") in current.users
    assert apply(spec, backend).in_sync
