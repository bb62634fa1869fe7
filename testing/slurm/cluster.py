"""``TestCluster``: the daemons brought up in order, and Slurm's clients run against them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .config import DB_NAME, DB_PASSWORD, DB_USER, ClusterConfig, Layout, write_files
from .daemons import ClusterStartError, Daemon, free_port, port_open, spawn
from .install import SBIN_DIRS, ClusterUnavailable, ensure_installed, find_program, program

T = TypeVar("T")
PORTS = ("mysql", "slurmdbd", "slurmctld", "slurmd", "slurmrestd")
# Stopped in this order (newest first); anything else started is stopped after them.
STOP_ORDER = ("slurmrestd", "slurmd", "slurmctld", "slurmdbd", "munged", "mariadbd")


@dataclass
class TestCluster:
    """A running cluster; use ``TestCluster.start()`` and ``stop()`` (or ``with``)."""

    __test__ = False  # not a pytest test class despite the name

    config: ClusterConfig
    base: Path
    ports: dict[str, int]
    daemons: dict[str, Daemon] = field(default_factory=dict)
    owns_base: bool = True

    # ---- paths -----------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        return Layout(self.base)

    @property
    def slurm_conf(self) -> Path:
        return self.layout.slurm_conf

    @property
    def munge_socket(self) -> Path:
        return self.layout.munge_socket

    @property
    def jwt_key(self) -> Path:
        return self.layout.jwt_key

    @property
    def mysql_socket(self) -> Path:
        return self.layout.mysql_socket

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['slurmrestd']}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.slurm_conf)
        env.pop("SLURM_JOB_ID", None)
        path = env.get("PATH", "")
        for folder in SBIN_DIRS:
            if folder not in path.split(":"):
                path = f"{path}:{folder}" if path else folder
        env["PATH"] = path
        return env

    # ---- life cycle ----------------------------------------------------------------
    @classmethod
    def start(
        cls,
        config: ClusterConfig | None = None,
        base: Path | None = None,
        allow_install: bool = True,
    ) -> TestCluster:
        ensure_installed(allow_install)
        owns = base is None
        base = Path(tempfile.mkdtemp(prefix="regnekraft-slurm-")) if base is None else base
        ports = {name: free_port() for name in PORTS}
        cluster = cls(config=config or ClusterConfig(), base=base, ports=ports, owns_base=owns)
        try:
            cluster._bring_up()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _bring_up(self) -> None:
        write_files(self.layout, self.config, self.ports)
        self._start_mariadb()
        self._start_munge()
        self.start_slurmdbd()
        self._register_cluster()
        self._start_slurmctld()
        self._start_slurmd()
        self._wait_node_idle()

    def __enter__(self) -> TestCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, keep_files: bool = False) -> None:
        """Stop every daemon by PID, newest first, then remove the folder we made."""
        if "slurmctld" in self.daemons and self.daemons["slurmctld"].alive():
            self._cancel_jobs_quietly()
        for name in STOP_ORDER:
            daemon = self.daemons.pop(name, None)
            if daemon is not None:
                daemon.stop()
        for daemon in self.daemons.values():
            daemon.stop()
        self.daemons.clear()
        self._kill_job_leftovers()
        if self.owns_base and not keep_files and not os.environ.get("REGNEKRAFT_SLURM_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    def _cancel_jobs_quietly(self) -> None:
        """Best effort before shutting down: a hanging client must not keep daemons up."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            states = "--state=RUNNING,PENDING,SUSPENDED"
            self.run(["scancel", "--quiet", states, "-u", "root"], check=False, timeout=10)
            ids = self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=10).stdout.split()
            if ids:
                self.run(["scancel", "--quiet", *ids], check=False, timeout=10)

    def _kill_job_leftovers(self) -> None:
        """Kill what our slurmd left running: ``slurmstepd`` detaches from slurmd (setsid),
        so each one that carries this cluster's SLURM_CONF is killed with every process
        below it (the job's own). Nothing else is touched: not the caller, its shell or
        any other process that merely has SLURM_CONF in its environment."""
        for pid in step_leftovers(self.slurm_conf):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    # ---- commands --------------------------------------------------------------
    def run(
        self, argv: Sequence[str], check: bool = True, timeout: float = 60, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client with this cluster's SLURM_CONF (as ``user`` via runuser)."""
        full = list(argv)
        if user is not None and user != "root":
            full = ["runuser", "-u", user, "--", *full]
        result = subprocess.run(
            full, capture_output=True, text=True, env=self.env, timeout=timeout, cwd="/tmp"
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, full, result.stdout, result.stderr
            )
        return result

    def sbatch(self, *args: str, user: str | None = None, wrap: str = "sleep 30") -> str:
        """Submit a job, return its job id."""
        out = self.run(
            ["sbatch", "--parsable", "--output=/dev/null", "--chdir=/tmp", *args, f"--wrap={wrap}"],
            user=user,
        ).stdout.strip()
        return out.split(";")[0]

    def job_state(self, job_id: str) -> tuple[str, str]:
        """(state, reason) from squeue, or ("", "") when slurmctld no longer lists it."""
        out = self.run(["squeue", "-h", "-j", job_id, "-o", "%T|%r"], check=False).stdout.strip()
        if "|" not in out:
            return "", ""
        state, reason = out.splitlines()[0].split("|", 1)
        return state, reason

    def raw_usage(self, account: str) -> int:
        """The account's accrued usage (``sshare`` RawUsage, CPU-seconds x weights)."""
        out = self.run(
            ["sshare", "-A", account, "-n", "-P", "-o", "Account,User,RawUsage"], check=False
        ).stdout
        for line in out.splitlines():
            name, user, raw = (line.strip().split("|") + ["", ""])[:3]
            if name == account and not user:
                return int(raw or 0)
        return 0

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 60,
        interval: float = 0.5,
        what: str = "condition",
    ) -> T:
        """Poll ``predicate()`` until it returns something truthy; raise TimeoutError after."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.snapshot()}"
                )
            time.sleep(interval)

    def snapshot(self) -> str:
        """The queue and the node as the controller sees them, for timeout messages."""
        queue = self.run(["squeue", "-h", "-o", "%i %T %r %S"], check=False)
        nodes = self.run(["sinfo", "-h", "-N", "-o", "%N %T %E"], check=False)
        return (
            f"squeue: {queue.stdout.strip() or queue.stderr.strip()}\n"
            f"sinfo: {nodes.stdout.strip() or nodes.stderr.strip()}"
        )

    def cancel_all(self) -> None:
        self.run(["scancel", "--full", "-u", "root"], check=False)
        out = self.run(["squeue", "-h", "-o", "%i"], check=False).stdout.split()
        if out:
            self.run(["scancel", *out], check=False)
        self.wait_for(
            lambda: not self.run(["squeue", "-h", "-o", "%i"], check=False).stdout.strip(),
            timeout=60,
            what="the queue to empty",
        )

    def token(self, user: str = "root", lifespan_s: int = 3600) -> str:
        out = self.run(
            ["scontrol", "token", f"username={user}", f"lifespan={lifespan_s}"]
        ).stdout.strip()
        return out.split("=", 1)[1] if "=" in out else out

    # ---- daemons ---------------------------------------------------------------
    def _spawn(
        self,
        name: str,
        argv: Sequence[str],
        user: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> Daemon:
        daemon = spawn(
            name,
            argv,
            self.layout.log(name),
            env={**self.env, **(extra_env or {})},
            cwd=self.base,
            user=user,
        )
        self.daemons[name] = daemon
        return daemon

    def _mariadb_client(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        argv = [program("mariadb"), "--no-defaults", f"--socket={self.mysql_socket}", "-uroot"]
        return subprocess.run([*argv, *args], capture_output=True)

    def _init_mariadb_datadir(self) -> None:
        result = subprocess.run(
            [
                program("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.layout.mysql_data}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ClusterStartError(
                "mariadb-install-db failed:\n" + (result.stdout + result.stderr)[-2000:]
            )

    def _start_mariadb(self) -> None:
        self._init_mariadb_datadir()
        layout = self.layout
        daemon = self._spawn(
            "mariadbd",
            [
                program("mariadbd"),
                "--no-defaults",
                f"--datadir={layout.mysql_data}",
                f"--socket={layout.mysql_socket}",
                f"--port={self.ports['mysql']}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--pid-file={layout.pid_file('mysqld')}",
                f"--log-error={layout.log('mariadbd')}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=128M",
                "--innodb-lock-wait-timeout=900",
                "--innodb-flush-log-at-trx-commit=2",
                "--max-allowed-packet=16M",
            ],
        )
        daemon.wait_until(
            lambda: self._mariadb_client("-e", "SELECT 1").returncode == 0,
            60,
            "MariaDB to accept connections",
        )
        self._create_accounting_db_user()

    def _create_accounting_db_user(self) -> None:
        sql = "".join(
            f"CREATE USER '{DB_USER}'@'{host}' IDENTIFIED BY '{DB_PASSWORD}';"
            f"GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'{host}';"
            for host in ("127.0.0.1", "localhost")
        )
        result = self._mariadb_client("-e", sql)
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, result.args, result.stdout, result.stderr
            )

    def _start_munge(self) -> None:
        layout = self.layout
        daemon = self._spawn(
            "munged",
            [
                program("munged"),
                "--foreground",
                "--force",
                f"--key-file={layout.munge_key}",
                f"--socket={layout.munge_socket}",
                f"--pid-file={layout.pid_file('munged')}",
                f"--log-file={layout.log('munged')}",
                f"--seed-file={layout.base}/munge/munged.seed",
            ],
        )
        daemon.wait_until(layout.munge_socket.exists, 20, "the munge socket")

    def start_slurmdbd(self) -> None:
        """(Re)start slurmdbd; the tests stop and start it to see ingest fail cleanly."""
        daemon = self._spawn("slurmdbd", [program("slurmdbd"), "-D"])
        daemon.wait_until(lambda: port_open(self.ports["slurmdbd"]), 90, "slurmdbd to listen")

    def stop_slurmdbd(self) -> None:
        daemon = self.daemons.pop("slurmdbd", None)
        if daemon is not None:
            daemon.stop()

    def start_slurmrestd(self, user: str = "nobody") -> str:
        """Start slurmrestd (JWT auth) on 127.0.0.1 and return its base URL.

        slurmrestd refuses to run as root, so it runs as ``user`` (uid switched by Popen) with
        ``SLURM_JWT=daemon`` in its own environment; clients pass a token from
        ``token()``. Needs the slurmrestd and slurm-wlm-jwt-plugin packages."""
        if "slurmrestd" in self.daemons and self.daemons["slurmrestd"].alive():
            return self.rest_url
        restd = find_program("slurmrestd")
        if restd is None:
            raise ClusterUnavailable("slurmrestd not installed (package slurmrestd)")
        address = f"127.0.0.1:{self.ports['slurmrestd']}"
        plugins = "openapi/v0.0.38,openapi/dbv0.0.38"
        daemon = self._spawn(
            "slurmrestd",
            [restd, "-a", "rest_auth/jwt", "-s", plugins, address],
            user=user,
            extra_env={"SLURM_JWT": "daemon"},
        )
        daemon.wait_until(lambda: port_open(self.ports["slurmrestd"]), 30, "slurmrestd to listen")
        return self.rest_url

    def _register_cluster(self) -> None:
        def added() -> bool:
            result = self.run(
                ["sacctmgr", "-i", "add", "cluster", self.config.cluster_name], check=False
            )
            text = result.stdout + result.stderr
            return result.returncode == 0 or "already exists" in text

        self.daemons["slurmdbd"].wait_until(added, 30, "the cluster to be registered")

    def _start_slurmctld(self) -> None:
        daemon = self._spawn("slurmctld", [program("slurmctld"), "-D", "-i"])
        daemon.wait_until(
            lambda: self.run(["scontrol", "ping"], check=False).stdout.count("UP") > 0,
            60,
            "slurmctld to answer",
        )

    def _start_slurmd(self) -> None:
        self._spawn("slurmd", [program("slurmd"), "-D", "-N", self.config.node_name])

    def _wait_node_idle(self) -> None:
        def idle() -> bool:
            return "idle" in self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout

        self.daemons["slurmd"].wait_until(idle, 60, "the node to be idle")


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(command name, parent pid) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, int(text[text.rindex(")") + 2 :].split()[1])


def step_leftovers(slurm_conf: Path | str) -> list[int]:
    """Pids of the ``slurmstepd`` processes started under ``slurm_conf`` and of everything
    below them; never this process or one of its ancestors."""
    marker = f"SLURM_CONF={slurm_conf}".encode()
    parents: dict[int, int] = {}
    steps: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _proc_stat(pid)
        if stat is None:
            continue
        parents[pid] = stat[1]
        if stat[0] != "slurmstepd":
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            steps.add(pid)
    protected = set()
    pid = os.getpid()
    while pid > 1 and pid not in protected:
        protected.add(pid)
        pid = parents.get(pid, 1)
    found = []
    for pid in parents:
        walk, seen = pid, set()
        while walk > 1 and walk not in seen:
            if walk in steps:
                found.append(pid)
                break
            seen.add(walk)
            walk = parents.get(walk, 1)
    return [pid for pid in found if pid not in protected]
