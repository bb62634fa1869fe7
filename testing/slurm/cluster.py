"""A real single-node Slurm cluster with accounting, for tests and for trying the bridge.

Everything runs as root without systemd, on 127.0.0.1, with all state (configuration,
MariaDB data, sockets, spool, logs) in one temporary folder. Every daemon runs in the
foreground (``-D``/``-F``) as our child, so stopping is a signal to a PID we own and no
zombie is left behind when PID 1 does not reap.

    with TestCluster.start() as cluster:
        cluster.run(["sinfo"])

or, to keep one up for a shell session::

    python -m regnekraft.slurm.testcluster      # prints the SLURM_CONF to export

Facts this relies on (Debian 12, Slurm 22.05.8, MariaDB 10.11, munge 0.5.15):

- munged refuses to start unless its socket folder is mode 0755;
- ``sacctmgr`` and slurmctld reach slurmdbd through the munge socket named by
  ``AccountingStoragePass`` in slurm.conf, not the one in ``AuthInfo``;
- without ``DefMemPerCPU`` a job without ``--mem`` takes all of the node's memory;
- slurmdbd reads ``slurmdbd.conf`` from the folder of ``$SLURM_CONF`` and wants it 0600.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED_PROGRAMS = (
    "mariadbd",
    "mariadb-install-db",
    "mariadb",
    "munged",
    "slurmdbd",
    "slurmctld",
    "slurmd",
    "sacctmgr",
    "sbatch",
    "squeue",
    "sacct",
)
SBIN_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm" / "install.sh"


class ClusterUnavailable(RuntimeError):
    """The Slurm packages are missing (and could not be installed) or we are not root."""


class ClusterStartError(RuntimeError):
    """A daemon did not come up; the message carries the tail of its log."""


def find_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_programs() -> list[str]:
    return [name for name in REQUIRED_PROGRAMS if find_program(name) is None]


def ensure_installed(allow_install: bool = True) -> None:
    """Raise ClusterUnavailable unless every program is there (installing them if allowed)."""
    if os.name != "posix" or os.geteuid() != 0:
        raise ClusterUnavailable(
            "the Slurm test cluster must run as root (it starts munged, "
            "slurmdbd, slurmctld and slurmd without systemd)"
        )
    missing = missing_programs()
    if missing and allow_install and INSTALL_SCRIPT.is_file() and shutil.which("apt-get"):
        import fcntl

        # one install at a time (parallel test workers would fight over the dpkg lock)
        with open(Path(tempfile.gettempdir()) / "regnekraft-slurm-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-1500:]
            raise ClusterUnavailable(f"{INSTALL_SCRIPT} failed (exit {result.returncode}):\n{tail}")
        missing = missing_programs()
    if missing:
        raise ClusterUnavailable(
            "Slurm/munge/MariaDB programs not found: "
            + ", ".join(missing)
            + f"; install them with `sudo bash {INSTALL_SCRIPT}` (Debian 12 packages)"
        )


try:  # loaded here, in the parent: a child that switched to another uid may not read it
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us when the test process dies, so that a crashed
    or killed pytest leaves no daemon behind."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@dataclass
class ClusterConfig:
    """Knobs of the test cluster. The defaults fit a 2-core CI machine."""

    cluster_name: str = "regtest"
    node_name: str = "rk1"
    # Slurm may be told a node has more CPUs than the machine (config_overrides); the
    # tests use 4 so that a cap of 50 % and a "full node" are both easy to reach.
    cpus: int = 4
    real_memory_mb: int = 4000
    def_mem_per_cpu_mb: int = 100
    gpus: int = 2  # count-only GRES (no device files), enough for gres/gpu limits and TRES
    partition: str = "batch"
    # Billing weights in units of one CPU-hour's price: 5.6 NOK / 0.04 NOK = 140.
    billing_weights: str = "CPU=1.0,GRES/gpu=140.0"
    preempt_mode: str = "REQUEUE"
    extra_slurm_conf: str = ""


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
    def slurm_conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.base / "munge" / "munge.socket"

    @property
    def jwt_key(self) -> Path:
        return self.base / "etc" / "jwt_hs256.key"

    @property
    def mysql_socket(self) -> Path:
        return self.base / "mysql" / "mysqld.sock"

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
        config = config or ClusterConfig()
        owns = base is None
        base = Path(tempfile.mkdtemp(prefix="regnekraft-slurm-")) if base is None else base
        ports = {
            name: free_port() for name in ("mysql", "slurmdbd", "slurmctld", "slurmd", "slurmrestd")
        }
        cluster = cls(config=config, base=base, ports=ports, owns_base=owns)
        try:
            cluster._write_files()
            cluster._start_mariadb()
            cluster._start_munge()
            cluster.start_slurmdbd()
            cluster._register_cluster()
            cluster._start_slurmctld()
            cluster._start_slurmd()
            cluster._wait_node_idle()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> TestCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, keep_files: bool = False) -> None:
        """Stop every daemon by PID, newest first, then remove the folder we made."""
        if "slurmctld" in self.daemons and self.daemons["slurmctld"].alive():
            with contextlib.suppress(Exception):
                self.run(
                    ["scancel", "--quiet", "--state=RUNNING,PENDING,SUSPENDED", "-u", "root"],
                    check=False,
                    timeout=10,
                )
                ids = self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=10).stdout.split()
                if ids:
                    self.run(["scancel", "--quiet", *ids], check=False, timeout=10)
        for name in ("slurmrestd", "slurmd", "slurmctld", "slurmdbd", "munged", "mariadbd"):
            daemon = self.daemons.pop(name, None)
            if daemon is not None:
                daemon.stop()
        for daemon in self.daemons.values():
            daemon.stop()
        self.daemons.clear()
        self._kill_job_leftovers()
        if self.owns_base and not keep_files and not os.environ.get("REGNEKRAFT_SLURM_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    def _kill_job_leftovers(self) -> None:
        """slurmstepd detaches from slurmd (setsid); find ours by the SLURM_CONF in its
        environment, which only processes started under this cluster carry."""
        marker = f"SLURM_CONF={self.slurm_conf}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)

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
        self, predicate, timeout: float = 60, interval: float = 0.5, what: str = "condition"
    ):
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

    # ---- daemons ---------------------------------------------------------------
    def _spawn(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        user: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> Daemon:
        out = open(log, "ab")  # noqa: SIM115 - handed to the child, closed with it
        env = {**self.env, **(extra_env or {})}
        as_user: dict[str, object] = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            os.chown(log, entry.pw_uid, entry.pw_gid)
        try:
            process = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.base,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                **as_user,
            )
        finally:
            out.close()
        daemon = Daemon(name, process, log)
        self.daemons[name] = daemon
        return daemon

    def _wait(self, daemon: Daemon, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if not daemon.alive():
                raise ClusterStartError(
                    f"{daemon.name} exited ({daemon.process.returncode}) "
                    f"before {what}:\n{daemon.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"{daemon.name}: timed out waiting for {what}:\n{daemon.log_tail()}"
                )
            time.sleep(0.2)

    def _write_files(self) -> None:
        for sub in ("etc", "log", "mysql", "munge", "state", "spool", "run"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        os.chmod(self.base / "munge", 0o755)  # munged insists on this
        key = self.base / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        # JWT as a second authentication type, for slurmrestd (scontrol token makes tokens)
        self.jwt_key.write_bytes(os.urandom(32))
        os.chmod(self.jwt_key, 0o600)
        self.slurm_conf.write_text(self._slurm_conf_text())
        dbd = self.base / "etc" / "slurmdbd.conf"
        dbd.write_text(self._slurmdbd_conf_text())
        os.chmod(dbd, 0o600)
        gres_lines = ["AutoDetect=off"]
        if self.config.gpus:
            # Count-only GPUs: regular files stand in for /dev/nvidiaN (task/none binds nothing).
            (self.base / "dev").mkdir(exist_ok=True)
            for index in range(self.config.gpus):
                (self.base / "dev" / f"gpu{index}").touch()
            gres_lines.append(
                f"NodeName={self.config.node_name} Name=gpu "
                f"File={self.base}/dev/gpu[0-{self.config.gpus - 1}]"
            )
        (self.base / "etc" / "gres.conf").write_text("\n".join(gres_lines) + "\n")

    def _slurm_conf_text(self) -> str:
        c, b, p = self.config, self.base, self.ports
        gres = f" Gres=gpu:{c.gpus}" if c.gpus else ""
        return f"""# written by regnekraft.slurm.testcluster
ClusterName={c.cluster_name}
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={p["slurmctld"]}
SlurmdPort={p["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={self.jwt_key}
CredType=cred/munge
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool/slurmd-%n
SlurmctldPidFile={b}/run/slurmctld.pid
SlurmdPidFile={b}/run/slurmd-%n.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
AcctGatherEnergyType=acct_gather_energy/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={c.def_mem_per_cpu_mb}
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
KillWait=2
InactiveLimit=0
Waittime=0
SchedulerParameters=sched_interval=2,bf_interval=2
JobRequeue=1
GresTypes=gpu
# Accounting
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={p["slurmdbd"]}
AccountingStoragePass={self.munge_socket}
AccountingStorageEnforce=associations,limits,qos,safe
AccountingStorageTRES=gres/gpu,billing
JobCompType=jobcomp/none
# Priority and fair share; no decay, so GrpTRESMins usage is a plain running total
PriorityType=priority/multifactor
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=NONE
PriorityCalcPeriod=1
PriorityWeightFairshare=10000
PriorityWeightQOS=100000
PriorityWeightAge=100
# Preemption by QOS: the emergency QOS lists the lower tiers in its Preempt field
PreemptType=preempt/qos
PreemptMode={c.preempt_mode}
NodeName={c.node_name} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={c.cpus} RealMemory={c.real_memory_mb}{gres} State=UNKNOWN
PartitionName={c.partition} Nodes={c.node_name} Default=YES MaxTime=INFINITE State=UP TRESBillingWeights="{c.billing_weights}"
{c.extra_slurm_conf}
"""

    def _slurmdbd_conf_text(self) -> str:
        b, p = self.base, self.ports
        return f"""# written by regnekraft.slurm.testcluster
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={self.jwt_key}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={p["slurmdbd"]}
SlurmUser=root
PidFile={b}/run/slurmdbd.pid
LogFile={b}/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={p["mysql"]}
StorageUser=slurm
StoragePass=regnekraft-test
StorageLoc=slurm_acct_db
"""

    def _start_mariadb(self) -> None:
        data = self.base / "mysql" / "data"
        result = subprocess.run(
            [
                find_program("mariadb-install-db") or "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
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
        log = self.base / "log" / "mariadb.log"
        daemon = self._spawn(
            "mariadbd",
            [
                find_program("mariadbd") or "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.mysql_socket}",
                f"--port={self.ports['mysql']}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--pid-file={self.base}/run/mysqld.pid",
                f"--log-error={log}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=128M",
                "--innodb-lock-wait-timeout=900",
                "--innodb-flush-log-at-trx-commit=2",
                "--max-allowed-packet=16M",
            ],
            log,
        )

        def ready() -> bool:
            return (
                subprocess.run(
                    [
                        find_program("mariadb") or "mariadb",
                        "--no-defaults",
                        f"--socket={self.mysql_socket}",
                        "-uroot",
                        "-e",
                        "SELECT 1",
                    ],
                    capture_output=True,
                ).returncode
                == 0
            )

        self._wait(daemon, ready, 60, "MariaDB to accept connections")
        sql = (
            "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'regnekraft-test';"
            "CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'regnekraft-test';"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
        )
        subprocess.run(
            [
                find_program("mariadb") or "mariadb",
                "--no-defaults",
                f"--socket={self.mysql_socket}",
                "-uroot",
                "-e",
                sql,
            ],
            check=True,
            capture_output=True,
        )

    def _start_munge(self) -> None:
        log = self.base / "log" / "munged.log"
        daemon = self._spawn(
            "munged",
            [
                find_program("munged") or "munged",
                "--foreground",
                "--force",
                f"--key-file={self.base}/munge/munge.key",
                f"--socket={self.munge_socket}",
                f"--pid-file={self.base}/run/munged.pid",
                f"--log-file={log}",
                f"--seed-file={self.base}/munge/munged.seed",
            ],
            log,
        )
        self._wait(daemon, self.munge_socket.exists, 20, "the munge socket")

    def start_slurmdbd(self) -> None:
        """(Re)start slurmdbd; the tests stop and start it to see ingest fail cleanly."""
        log = self.base / "log" / "slurmdbd.log"
        daemon = self._spawn("slurmdbd", [find_program("slurmdbd") or "slurmdbd", "-D"], log)
        self._wait(
            daemon, lambda: self._port_open(self.ports["slurmdbd"]), 90, "slurmdbd to listen"
        )

    def start_slurmrestd(self, user: str = "nobody") -> str:
        """Start slurmrestd (JWT auth) on 127.0.0.1 and return its base URL.

        slurmrestd refuses to run as root, so it runs as ``user`` (uid switched by Popen) with
        ``SLURM_JWT=daemon`` in its own environment; clients pass a token from
        ``token()``. Needs the slurmrestd and slurm-wlm-jwt-plugin packages."""
        if "slurmrestd" in self.daemons and self.daemons["slurmrestd"].alive():
            return self.rest_url
        program = find_program("slurmrestd")
        if program is None:
            raise ClusterUnavailable("slurmrestd not installed (package slurmrestd)")
        log = self.base / "log" / "slurmrestd.log"
        log.touch()
        daemon = self._spawn(
            "slurmrestd",
            [
                program,
                "-a",
                "rest_auth/jwt",
                "-s",
                "openapi/v0.0.38,openapi/dbv0.0.38",
                f"127.0.0.1:{self.ports['slurmrestd']}",
            ],
            log,
            user=user,
            extra_env={"SLURM_JWT": "daemon"},
        )
        self._wait(
            daemon, lambda: self._port_open(self.ports["slurmrestd"]), 30, "slurmrestd to listen"
        )
        return self.rest_url

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['slurmrestd']}"

    def token(self, user: str = "root", lifespan_s: int = 3600) -> str:
        out = self.run(
            ["scontrol", "token", f"username={user}", f"lifespan={lifespan_s}"]
        ).stdout.strip()
        return out.split("=", 1)[1] if "=" in out else out

    def stop_slurmdbd(self) -> None:
        daemon = self.daemons.pop("slurmdbd", None)
        if daemon is not None:
            daemon.stop()

    def _register_cluster(self) -> None:
        def added() -> bool:
            result = self.run(
                ["sacctmgr", "-i", "add", "cluster", self.config.cluster_name], check=False
            )
            text = result.stdout + result.stderr
            return result.returncode == 0 or "already exists" in text

        self._wait(self.daemons["slurmdbd"], added, 30, "the cluster to be registered")

    def _start_slurmctld(self) -> None:
        log = self.base / "log" / "slurmctld.log"
        daemon = self._spawn(
            "slurmctld", [find_program("slurmctld") or "slurmctld", "-D", "-i"], log
        )
        self._wait(
            daemon,
            lambda: self.run(["scontrol", "ping"], check=False).stdout.count("UP") > 0,
            60,
            "slurmctld to answer",
        )

    def _start_slurmd(self) -> None:
        log = self.base / "log" / "slurmd.log"
        self._spawn(
            "slurmd", [find_program("slurmd") or "slurmd", "-D", "-N", self.config.node_name], log
        )

    def _wait_node_idle(self) -> None:
        def idle() -> bool:
            out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout
            return "idle" in out

        self._wait(self.daemons["slurmd"], idle, 60, "the node to be idle")

    @staticmethod
    def _port_open(port: int) -> bool:
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", port)) == 0


def main(argv: Sequence[str] | None = None) -> int:
    """Start a cluster, print how to use it, and keep it up until Ctrl-C."""
    try:
        cluster = TestCluster.start()
    except ClusterUnavailable as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    print(f"export SLURM_CONF={cluster.slurm_conf}")
    print(f"# state in {cluster.base}; Ctrl-C stops every daemon", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
