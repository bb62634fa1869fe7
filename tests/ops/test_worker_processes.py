"""Workers as real processes (issue 12, acceptance): a worker killed in the middle of a job
loses nothing (the job runs again and does its work once), and two workers on one PostgreSQL
never run the same job twice.

On SQLite the processes share a database file of their own; on PostgreSQL they use the test
database (so these tests are transactional)."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.processes import ROOT, child_environment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux processes"),
]
QUICK_JOBS = 30


def _environment(tmp_path: Path) -> dict[str, str]:
    return child_environment(
        tmp_path, REGNEKRAFT_WORKER_POLL_SECONDS="0.2", REGNEKRAFT_WORKER_BEAT_SECONDS="1"
    )


def _child(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.ops.worker_child", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the worker ended before the job got going: {proc.returncode}")
        if time.monotonic() > end:
            raise AssertionError("the held job did not start in time")
        time.sleep(0.1)


def test_a_worker_killed_mid_job_loses_nothing(tmp_path):
    env = _environment(tmp_path)
    hold = tmp_path / "hold"
    hold.write_text("held")
    _child(env, "setup", str(hold), "0")
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.ops.worker_child", "worker"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(Path(f"{hold}.waiting"), first, 120)  # inside the job's transaction
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    hold.unlink()
    _child(env, "once")
    seen = json.loads(_child(env, "check"))
    assert seen["organisations"] == ["held"]  # its work, once
    statuses = sorted(r["status"] for r in seen["runs"])
    assert statuses == ["failed", "succeeded"]
    killed = next(r for r in seen["runs"] if r["status"] == "failed")
    assert "stopped during the run" in killed["error"]
    assert seen["queue"] == ["SUCCESSFUL"]


@pytest.mark.postgres
def test_two_workers_never_run_the_same_job_twice(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("several workers share a queue on PostgreSQL (set DATABASE_URL)")
    env = _environment(tmp_path)
    _child(env, "setup", "-", str(QUICK_JOBS))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ops.worker_child", "once"],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        for w in workers:
            assert w.wait(timeout=300) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    seen = json.loads(_child(env, "check"))
    per_task = collections.Counter(r["task_id"] for r in seen["runs"])
    assert len(per_task) == QUICK_JOBS
    assert set(per_task.values()) == {1}, "a job ran more than once"
    assert sorted(seen["organisations"]) == sorted(f"quick{n}" for n in range(QUICK_JOBS))
    assert {r["status"] for r in seen["runs"]} == {"succeeded"}
