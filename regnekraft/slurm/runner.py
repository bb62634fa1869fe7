"""Running Slurm's client commands, and the errors the bridge tells apart."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# What Slurm's clients print when slurmdbd (or its database) cannot be reached.
_DBD_DOWN_MARKERS = (
    "problem talking to the database",
    "unable to connect to database",
    "slurmdbd: connection refused",
    "connection refused",
    "sending persist_init msg",
    "slurm_persist_conn_open",
    "couldn't connect to the database",
    "unable to establish connection",
)


class SlurmCommandError(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr.strip() or stdout.strip())[-1500:]
        super().__init__(f"`{shlex.join(self.argv)}` failed (exit {returncode}): {detail}")


class SlurmdbdUnavailable(SlurmCommandError):
    """slurmdbd (Slurm's accounting daemon) or its database does not answer."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str):
        super().__init__(argv, returncode, stdout, stderr)
        self.args = (
            "Slurm accounting (slurmdbd) is not reachable, so nothing was read or changed; "
            "check that slurmdbd and its database run, then run again "
            f"(`{shlex.join(self.argv)}`: {(stderr.strip() or stdout.strip())[-500:]})",
        )


def looks_like_dbd_down(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _DBD_DOWN_MARKERS)


@dataclass
class CommandRunner:
    """Runs ``sacctmgr``/``sacct``/... with an optional ``SLURM_CONF`` and timeout.

    ``prefix`` can hold e.g. ``["ssh", "slurm-admin@host"]`` for a remote cluster."""

    slurm_conf: str | None = None
    timeout: float = 120.0
    prefix: Sequence[str] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        env.update(self.extra_env)
        return env

    calls: int = 0  # Slurm client processes started (the benchmarks count them)

    def _start(
        self, argv: Sequence[str], env: Mapping[str, str] | None, what: str
    ) -> tuple[list[str], dict[str, str]]:
        """The full command line and environment of one client process (counted)."""
        full = [*self.prefix, *argv]
        self.calls += 1
        run_env = self.env()
        if env:
            run_env.update(env)
        logger.debug("%s %s", what, shlex.join(full))
        return full, run_env

    def feed(
        self, argv: Sequence[str], stdin: str, timeout: float | None = None
    ) -> tuple[int, str]:
        """Run ``argv`` with ``stdin`` as its input; (exit status, stdout and stderr merged in
        the order written). Only an unreachable slurmdbd raises (``SlurmdbdUnavailable``): a
        non-zero status is the caller's to read, since ``sacctmgr`` reading commands exits 1
        when any one of them changed nothing."""
        full = [*self.prefix, *argv]
        self.calls += 1
        limit = self.timeout if timeout is None else timeout
        logger.debug("running %s with %d line(s) on stdin", shlex.join(full), stdin.count("\n"))
        try:
            result = subprocess.run(
                full,
                input=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=self.env(),
                timeout=limit,
            )
        except FileNotFoundError as exc:
            raise SlurmCommandError(full, 127, "", f"{argv[0]} not found: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise SlurmdbdUnavailable(
                full, -1, "", f"no answer within {limit:.0f} s (slurmdbd down or hanging?)"
            ) from exc
        if result.returncode != 0 and looks_like_dbd_down(result.stdout[-3000:]):
            raise SlurmdbdUnavailable(full, result.returncode, result.stdout, "")
        return result.returncode, result.stdout

    def stream(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Iterator[str]:
        """The output of ``argv`` line by line as it is written (memory does not grow with
        it); errors as for ``__call__``, raised once the output has ended."""
        full, run_env = self._start(argv, env, "streaming")
        try:
            process = subprocess.Popen(
                full,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=run_env,
            )
        except FileNotFoundError as exc:
            raise SlurmCommandError(full, 127, "", f"{argv[0]} not found: {exc}") from exc
        timer = threading.Timer(self.timeout, process.kill)
        timer.start()
        try:
            assert process.stdout is not None and process.stderr is not None
            yield from process.stdout
            stderr = process.stderr.read()
            process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode == -9 and not stderr:
            raise SlurmdbdUnavailable(
                full, -1, "", f"no answer within {self.timeout:.0f} s (slurmdbd down or hanging?)"
            )
        if looks_like_dbd_down(stderr):
            raise SlurmdbdUnavailable(full, process.returncode, "", stderr)
        if process.returncode != 0:
            raise SlurmCommandError(full, process.returncode, "", stderr)

    def __call__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        full, run_env = self._start(argv, env, "running")
        try:
            result = subprocess.run(
                full, capture_output=True, text=True, env=run_env, timeout=self.timeout
            )
        except FileNotFoundError as exc:
            raise SlurmCommandError(full, 127, "", f"{argv[0]} not found: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise SlurmdbdUnavailable(
                full, -1, "", f"no answer within {self.timeout:.0f} s (slurmdbd down or hanging?)"
            ) from exc
        text = result.stdout + result.stderr
        # sacct exits 0 even when it could not reach slurmdbd, so look at the words too.
        if result.returncode != 0 or (
            argv
            and argv[0] in ("sacct", "sacctmgr", "sshare")
            and looks_like_dbd_down(result.stderr)
        ):
            if looks_like_dbd_down(text):
                raise SlurmdbdUnavailable(full, result.returncode, result.stdout, result.stderr)
            if result.returncode != 0:
                raise SlurmCommandError(full, result.returncode, result.stdout, result.stderr)
        return result.stdout
