"""Finding the Slurm, munge and MariaDB programs, and installing their Debian packages."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
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
_INSTALL_LOCK = Path(tempfile.gettempdir()) / "regnekraft-slurm-install.lock"


class ClusterUnavailable(RuntimeError):
    """The Slurm packages are missing (and could not be installed) or we are not root."""


def find_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def program(name: str) -> str:
    """The program's path, or its bare name for the error to name when it runs."""
    return find_program(name) or name


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
        _run_install_script()
        missing = missing_programs()
    if missing:
        raise ClusterUnavailable(
            "Slurm/munge/MariaDB programs not found: "
            + ", ".join(missing)
            + f"; install them with `sudo bash {INSTALL_SCRIPT}` (Debian 12 packages)"
        )


def _run_install_script() -> None:
    # one install at a time (parallel test workers would fight over the dpkg lock)
    with open(_INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-1500:]
        raise ClusterUnavailable(f"{INSTALL_SCRIPT} failed (exit {result.returncode}):\n{tail}")
