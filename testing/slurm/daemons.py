"""One daemon of the test cluster: started in the foreground as our child, watched, stopped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

try:  # loaded here, in the parent: a child that switched to another uid may not read it
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None
_PR_SET_PDEATHSIG = 1


class ClusterStartError(RuntimeError):
    """A daemon did not come up; the message carries the tail of its log."""


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us when the test process dies, so that a crashed
    or killed pytest leaves no daemon behind."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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

    def wait_until(self, ready: Callable[[], object], timeout: float, what: str) -> None:
        """Poll ``ready()`` until truthy; ClusterStartError if we exit or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive():
                raise ClusterStartError(
                    f"{self.name} exited ({self.process.returncode}) "
                    f"before {what}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"{self.name}: timed out waiting for {what}:\n{self.log_tail()}"
                )
            time.sleep(0.2)


def spawn(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    user: str | None = None,
) -> Daemon:
    """Start ``argv`` in its own session, output appended to ``log``, as ``user`` if given."""
    as_user: dict[str, object] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        log.touch()
        os.chown(log, entry.pw_uid, entry.pw_gid)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **as_user,
        )
    return Daemon(name, process, log)
