"""The Slurm bridge at national scale on the real test cluster (issue 11, item 5).

Generates a synthetic national tree directly as the bridge's description (3,000 projects
under 60 organisations in the three user groups, 20,000 users each in 1-3 projects, about
40,000 user associations; ``--fraction 0.1`` for the 10 % tree), starts the real test
cluster (``testing.slurm``, as root) or uses one (``--slurm-conf``), and prints the time
and the number of ``sacctmgr`` calls of: the first apply, one ``sacctmgr show assoc -P``
read (baseline), a no-op apply, a 1 % change, ``reconcile --repair`` after drift made by
hand, and ``sacctmgr load`` of the same tree (baseline: the cluster's own ``sacctmgr
dump`` after the first apply, loaded as a new cluster), with the ratios to the goals:

- first apply <= 1.5 x sacctmgr load;
- no-op apply and reconcile <= 1.5 x one association read;
- 1 % change <= one association read + 2 s.

    python benchmarks/slurm_national.py --fraction 0.1
    python benchmarks/slurm_national.py              # the national tree

A printed figure, never a timed test (docs/development.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regnekraft.slurm.runner import CommandRunner  # noqa: E402
from regnekraft.slurm.sacctmgr import ASSOC_FIELDS  # noqa: E402
from regnekraft.slurm.spec import ClusterSpec, economic_cap_tres, standard_qos  # noqa: E402
from regnekraft.slurm.sync import SacctmgrBackend, apply, reconcile  # noqa: E402

TIERS = {"moderate": 10, "high": 20, "extreme": 30}
GROUPS = (("research", 0.6), ("public", 0.3), ("industry", 0.1))


def national_description(cluster: str, fraction: float = 1.0, seed: int = 1) -> dict[str, Any]:
    """3,000 x fraction projects, 60 x fraction organisations (at least 3), 20,000 x
    fraction users each in 1-3 projects (mean 2), default account any of them."""
    rng = random.Random(seed)
    n_projects = max(3, round(3000 * fraction))
    n_orgs = max(3, round(60 * fraction))
    n_users = max(3, round(20000 * fraction))
    qos = standard_qos(TIERS, economic_cap=economic_cap_tres(0.05, {"cpu": 4}))
    groups = [
        {"account": name, "kind": name, "fairshare": int(share * 100)} for name, share in GROUPS
    ]
    orgs = []
    for i in range(n_orgs):
        group = GROUPS[i % 3][0] if i >= 3 else GROUPS[i][0]
        orgs.append({"account": f"org{i:03d}", "group": group, "description": f"organisation {i}"})
    org_group = {o["account"]: o["group"] for o in orgs}
    projects = []
    for i in range(n_projects):
        org = orgs[rng.randrange(n_orgs)]["account"]
        industry = org_group[org] == "industry"
        tier = rng.choice(sorted(TIERS))
        tres = {"cpu": rng.randrange(60, 6_000_000)}
        if rng.random() < 0.2:
            tres["gres/gpu"] = rng.randrange(60, 600_000)
        project: dict[str, Any] = {
            "account": f"nn{1000 + i}k",
            "organisation": org,
            "fairshare": rng.randrange(1, 1000),
            "grp_tres_mins": tres,
            "qos": ["economic"] if industry else [f"tier_{tier}"],
            "default_qos": "economic" if industry else f"tier_{tier}",
            "users": [],
        }
        if rng.random() < 0.02:
            project["blocked"] = True
        projects.append(project)
    users: dict[str, Any] = {}
    for u in range(n_users):
        name = f"u{u:05d}"
        count = rng.choices((1, 2, 3), weights=(1, 2, 1))[0]
        mine = rng.sample(range(n_projects), count)
        for index in mine:
            member: Any = name if rng.random() > 0.01 else {"name": name, "fairshare": 2}
            projects[index]["users"].append(member)
        users[name] = {"default_account": projects[rng.choice(mine)]["account"]}
    return {
        "cluster": cluster,
        "qos": qos,
        "groups": groups,
        "organisations": orgs,
        "projects": projects,
        "users": users,
    }


def one_percent_change(data: dict[str, Any], seed: int) -> dict[str, Any]:
    """1 % of the projects get a new share and grant, 1 % of the users join one more
    project, 1 % leave one (keeping at least one), and a few move their default."""
    rng = random.Random(seed + 1)
    changed = json.loads(json.dumps(data))
    projects = changed["projects"]
    n = max(1, len(projects) // 100)
    for project in rng.sample(projects, n):
        project["fairshare"] = project["fairshare"] + 7
        project["grp_tres_mins"]["cpu"] = project["grp_tres_mins"]["cpu"] + 600
    by_user: dict[str, list[dict[str, Any]]] = {}
    for project in projects:
        for member in project["users"]:
            by_user.setdefault(member if isinstance(member, str) else member["name"], []).append(
                project
            )
    names = sorted(by_user)
    n_users = max(1, len(names) // 100)
    for name in rng.sample(names, n_users):
        options = [p for p in projects if p not in by_user[name]]
        target = rng.choice(options)
        target["users"].append(name)
        changed["users"][name]["default_account"] = target["account"]
    for name in rng.sample(names, n_users):
        mine = by_user[name]
        if len(mine) < 2:
            continue
        leave = next(p for p in mine if p["account"] != changed["users"][name]["default_account"])
        leave["users"] = [
            m for m in leave["users"] if (m if isinstance(m, str) else m["name"]) != name
        ]
    return changed


# pids of the daemons whose CPU time is printed with each step (slurmdbd, mariadbd), when
# the script started the cluster itself
DAEMON_PIDS: dict[str, int] = {}


def daemon_cpu() -> float:
    """CPU seconds used so far by the cluster's slurmdbd and mariadbd (0 if unknown)."""
    total = 0.0
    for pid in DAEMON_PIDS.values():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(label: str, runner: CommandRunner, work: Any) -> tuple[float, int, Any]:
    calls = runner.calls
    cpu = daemon_cpu()
    mine = time.process_time()
    start = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - start
    print(
        f"  {label}: {seconds:.2f} s, {runner.calls - calls} sacctmgr call(s); CPU: "
        f"slurmdbd+mariadbd {daemon_cpu() - cpu:.2f} s, this script "
        f"{time.process_time() - mine:.2f} s; {load_average()}",
        flush=True,
    )
    return seconds, runner.calls - calls, value


def inject_drift(runner: CommandRunner, data: dict[str, Any], cluster: str, seed: int) -> int:
    """Changes by hand: shares of some projects, removed user associations, a stray
    account. Returns the number of changes made."""
    rng = random.Random(seed + 2)
    projects = data["projects"]
    n = max(3, len(projects) // 300)
    lines = []
    for project in rng.sample(projects, n):
        lines.append(
            f"modify account where name={project['account']} cluster={cluster} set fairshare=1"
        )
    removable = [
        (p["account"], m)
        for p in projects
        for m in p["users"]
        if isinstance(m, str) and data["users"][m]["default_account"] != p["account"]
    ]
    for account, user in rng.sample(removable, n):
        lines.append(f"delete user where name={user} account={account} cluster={cluster}")
    lines.append(f"add account strayacct cluster={cluster} parent={projects[0]['organisation']}")
    subprocess.run(
        ["sacctmgr", "-i"],
        input="\n".join(lines) + "\n",
        text=True,
        capture_output=True,
        env=runner.env(),
        check=False,
    )
    return len(lines)


def read_once(runner: CommandRunner, cluster: str) -> float:
    start = time.perf_counter()
    runner(
        [
            "sacctmgr",
            "--noheader",
            "--parsable2",
            "show",
            "assoc",
            f"cluster={cluster}",
            "format=" + ",".join(ASSOC_FIELDS),
        ]
    )
    return time.perf_counter() - start


def load_baseline(runner: CommandRunner, cluster: str, folder: Path) -> float:
    """``sacctmgr load`` of the same tree: the cluster's dump, loaded as a new cluster."""
    dump = folder / "tree.cfg"
    runner(["sacctmgr", "-i", "dump", cluster, f"file={dump}"])
    text = dump.read_text().replace(f"Cluster - '{cluster}'", "Cluster - 'natload'", 1)
    copy = folder / "natload.cfg"
    copy.write_text(text)
    start = time.perf_counter()
    status, output = runner.feed(["sacctmgr", "-i", "load", f"file={copy}"], "", 7200)
    seconds = time.perf_counter() - start
    if status != 0:
        print(f"  (sacctmgr load exited {status}: {output[-300:]})")
    runner(["sacctmgr", "-i", "delete", "cluster", "natload"])
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slurm-conf", help="use this running cluster instead of starting one")
    parser.add_argument("--cluster", default="regtest", help="with --slurm-conf: its name")
    parser.add_argument("--no-load-baseline", action="store_true")
    args = parser.parse_args()

    cluster_handle = None
    if args.slurm_conf:
        conf, name = args.slurm_conf, args.cluster
    else:
        from testing.slurm import TestCluster

        cluster_handle = TestCluster.start()
        conf, name = str(cluster_handle.slurm_conf), cluster_handle.config.cluster_name
        for daemon in ("slurmdbd", "mariadbd"):
            if daemon in cluster_handle.daemons:
                DAEMON_PIDS[daemon] = cluster_handle.daemons[daemon].process.pid
    try:
        return run(args, conf, name)
    finally:
        if cluster_handle is not None:
            cluster_handle.stop()


def run(args: argparse.Namespace, conf: str, name: str) -> int:
    runner = CommandRunner(slurm_conf=conf, timeout=600)
    backend = SacctmgrBackend(runner)
    data = national_description(name, args.fraction, args.seed)
    spec = ClusterSpec.from_description(data)
    print(
        f"tree: {len(data['projects'])} projects, {len(data['organisations'])} organisations, "
        f"{len(data['users'])} users, {len(spec.users)} user associations "
        f"(fraction {args.fraction}, seed {args.seed}) on cluster {name}",
        flush=True,
    )
    figures: dict[str, float] = {}
    figures["first"], calls_first, first = timed(
        "first apply", runner, lambda: apply(spec, backend)
    )
    print(f"    {len(first.applied)} operation(s)")
    reads = [read_once(runner, name) for _ in range(3)]
    figures["read"] = sorted(reads)[1]
    print(
        f"  one `sacctmgr show assoc -P` read: {figures['read']:.2f} s (median of 3; "
        f"{', '.join(f'{r:.2f}' for r in reads)}); {load_average()}"
    )
    figures["noop"], _, noop = timed("no-op apply", runner, lambda: apply(spec, backend))
    assert noop.in_sync, noop.render()[:2000]
    changed = ClusterSpec.from_description(one_percent_change(data, args.seed))
    figures["change"], _, change = timed("1 % change", runner, lambda: apply(changed, backend))
    print(f"    {len(change.applied)} operation(s); read in it: {backend.last_read_s:.2f} s")
    # the same change back and forth twice more: the 1 % figure is the median of three
    changes = [figures["change"]]
    for _ in range(2):
        apply(spec, backend)
        seconds, _, again = timed("1 % change (again)", runner, lambda: apply(changed, backend))
        changes.append(seconds)
    figures["change"] = sorted(changes)[1]
    print(f"  1 % change: median {figures['change']:.2f} s of {len(changes)}")
    drift = inject_drift(runner, one_percent_change(data, args.seed), name, args.seed)
    figures["reconcile"], _, found = timed(
        f"reconcile (report) after {drift} change(s) by hand",
        runner,
        lambda: reconcile(changed, backend),
    )
    print(f"    {len(found.operations)} difference(s) found")
    figures["repair"], _, repaired = timed(
        f"reconcile --repair after {drift} change(s) by hand",
        runner,
        lambda: reconcile(changed, backend, repair=True),
    )
    print(f"    {len(repaired.applied)} repair(s)")
    again = reconcile(changed, backend)
    print(f"    then reconcile: {'no drift' if again.in_sync else 'STILL DRIFT'}")
    if not args.no_load_baseline:
        with tempfile.TemporaryDirectory() as folder:
            figures["load"] = load_baseline(runner, name, Path(folder))
        print(f"  `sacctmgr load` of the same tree (baseline): {figures['load']:.2f} s")
    print("goals:")
    if "load" in figures:
        print(
            f"  first apply / sacctmgr load = {figures['first'] / figures['load']:.2f} "
            "(goal <= 1.5)"
        )
    print(f"  no-op apply / read = {figures['noop'] / figures['read']:.2f} (goal <= 1.5)")
    print(f"  reconcile / read = {figures['reconcile'] / figures['read']:.2f} (goal <= 1.5)")
    print(f"  1 % change - read = {figures['change'] - figures['read']:.2f} s (goal <= 2 s)")
    print(f"  {load_average()}")
    print("figures: " + json.dumps({k: round(v, 3) for k, v in figures.items()}))
    _ = calls_first
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
