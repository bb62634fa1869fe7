"""The test cluster's files: its folder layout, slurm.conf, slurmdbd.conf, gres.conf, keys."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

HEADER = "# written by testing.slurm (Regnekraft's Slurm test harness)"
DB_USER = "slurm"
DB_PASSWORD = "regnekraft-test"
DB_NAME = "slurm_acct_db"
_FOLDERS = ("etc", "log", "mysql", "munge", "state", "spool", "run")


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


@dataclass(frozen=True)
class Layout:
    """Where each file of a cluster lives under its one folder."""

    base: Path

    @property
    def slurm_conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def slurmdbd_conf(self) -> Path:
        return self.base / "etc" / "slurmdbd.conf"

    @property
    def gres_conf(self) -> Path:
        return self.base / "etc" / "gres.conf"

    @property
    def jwt_key(self) -> Path:
        return self.base / "etc" / "jwt_hs256.key"

    @property
    def munge_key(self) -> Path:
        return self.base / "munge" / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.base / "munge" / "munge.socket"

    @property
    def mysql_data(self) -> Path:
        return self.base / "mysql" / "data"

    @property
    def mysql_socket(self) -> Path:
        return self.base / "mysql" / "mysqld.sock"

    def log(self, name: str) -> Path:
        return self.base / "log" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.base / "run" / f"{name}.pid"

    def gpu_file(self, index: int) -> Path:
        return self.base / "dev" / f"gpu{index}"


def write_files(layout: Layout, config: ClusterConfig, ports: dict[str, int]) -> None:
    """Create the folders, the munge and JWT keys and every configuration file."""
    for sub in _FOLDERS:
        (layout.base / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(layout.base, 0o755)
    os.chmod(layout.munge_socket.parent, 0o755)  # munged insists on this
    _write_secret(layout.munge_key, os.urandom(1024))
    # JWT as a second authentication type, for slurmrestd (scontrol token makes tokens)
    _write_secret(layout.jwt_key, os.urandom(32))
    layout.slurm_conf.write_text(slurm_conf_text(layout, config, ports))
    layout.slurmdbd_conf.write_text(slurmdbd_conf_text(layout, ports))
    os.chmod(layout.slurmdbd_conf, 0o600)
    for index in range(config.gpus):
        # Count-only GPUs: regular files stand in for /dev/nvidiaN (task/none binds nothing).
        layout.gpu_file(index).parent.mkdir(exist_ok=True)
        layout.gpu_file(index).touch()
    layout.gres_conf.write_text(gres_conf_text(layout, config))


def _write_secret(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


def gres_conf_text(layout: Layout, config: ClusterConfig) -> str:
    lines = ["AutoDetect=off"]
    if config.gpus:
        files = f"{layout.base}/dev/gpu[0-{config.gpus - 1}]"
        lines.append(f"NodeName={config.node_name} Name=gpu File={files}")
    return "\n".join(lines) + "\n"


def _node_line(config: ClusterConfig) -> str:
    gres = f" Gres=gpu:{config.gpus}" if config.gpus else ""
    return (
        f"NodeName={config.node_name} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} "
        f"CPUs={config.cpus} RealMemory={config.real_memory_mb}{gres} State=UNKNOWN"
    )


def _partition_line(config: ClusterConfig) -> str:
    return (
        f"PartitionName={config.partition} Nodes={config.node_name} Default=YES "
        f'MaxTime=INFINITE State=UP TRESBillingWeights="{config.billing_weights}"'
    )


def slurm_conf_text(layout: Layout, config: ClusterConfig, ports: dict[str, int]) -> str:
    c, b, p = config, layout.base, ports
    return f"""{HEADER}
ClusterName={c.cluster_name}
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={p["slurmctld"]}
SlurmdPort={p["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={layout.munge_socket}
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={layout.jwt_key}
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
AccountingStoragePass={layout.munge_socket}
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
{_node_line(c)}
{_partition_line(c)}
{c.extra_slurm_conf}
"""


def slurmdbd_conf_text(layout: Layout, ports: dict[str, int]) -> str:
    b, p = layout.base, ports
    return f"""{HEADER}
AuthType=auth/munge
AuthInfo=socket={layout.munge_socket}
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={layout.jwt_key}
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
StorageUser={DB_USER}
StoragePass={DB_PASSWORD}
StorageLoc={DB_NAME}
"""
