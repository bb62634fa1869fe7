"""``regnekraft serve`` as an operator starts it: a real gunicorn on loopback (and Django's
development server with ``--dev``), its log lines, and the demo's worker beside it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, free_port

START_TIMEOUT = 180  # seconds: migrating a fresh database on a busy machine
STATIC = "/static/admin/css/base.css"


@pytest.fixture(scope="module")
def var(tmp_path_factory) -> Path:
    """One SQLite database for the servers of this module (migrated by the first)."""
    return tmp_path_factory.mktemp("serve-var")


class Server:
    def __init__(self, argv: list[str], var: Path, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.stdout = tmp / f"stdout-{self.port}.txt"
        self.stderr = tmp / f"stderr-{self.port}.txt"
        environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        environ.update(REGNEKRAFT_VAR=str(var), REGNEKRAFT_WARM_UP="0", **env)
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                [*argv, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: stopped as one below
            )

    def get(self, path: str, **headers: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if self.get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"the server did not answer within {START_TIMEOUT} s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of its process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        return self.proc.returncode

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


@pytest.fixture
def start(var, tmp_path) -> Iterator:
    servers: list[Server] = []

    def starting(argv: list[str], **env: str) -> Server:
        server = Server(argv, var, tmp_path, **env)
        servers.append(server)
        server.wait_ready()
        return server

    yield starting
    for server in servers:
        server.stop()


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


CLI = [sys.executable, "-m", "regnekraft.cli"]


def test_serve_runs_gunicorn_with_static_files_and_json_logs(start):
    server = start([*CLI, "serve", "--workers", "2"], REGNEKRAFT_LOG_FORMAT="json")
    page = server.get("/accounts/login/", **{"X-Request-ID": "serve-test-1"})
    assert page.status == 200
    assert page.getheader("X-Request-ID") == "serve-test-1"
    header = page.getheader("Server")
    assert header is None or header.startswith("gunicorn"), header
    static = server.get(STATIC)
    assert static.status == 200
    assert static.getheader("Content-Type", "").startswith("text/css")
    assert b"body" in static.body
    assert server.stop() == 0
    records = [json.loads(x) for x in server.stderr.read_text().splitlines() if x.strip()]
    assert any(r["logger"] == "gunicorn.error" for r in records)  # gunicorn's lines too
    [access] = [r for r in records if r.get("path") == "/accounts/login/"]
    assert access["request_id"] == "serve-test-1"
    assert access["status"] == 200
    assert "Regnekraft is listening on http://127.0.0.1:" in server.stdout.read_text()


def test_serve_dev_runs_django_s_development_server(start):
    server = start([*CLI, "serve", "--dev"])
    page = server.get("/accounts/login/")
    assert page.status == 200
    assert "WSGIServer" in (page.getheader("Server") or "")


def test_serving_with_a_worker_stops_the_whole_process_tree(var, tmp_path):
    code = (
        "import sys; from regnekraft.bootstrap import setup_django; setup_django();"
        "from regnekraft.cli.serve import serve;"
        "host, port = sys.argv[2], int(sys.argv[4]);"
        "sys.exit(serve(host, port, workers=1, with_worker=True))"
    )
    server = Server([sys.executable, "-c", code], var, tmp_path)
    try:
        # the web server migrates the database itself, so waiting for it is enough
        server.wait_ready()
        tree = descendants(server.proc.pid)
        # the web server's master and its web process, and the worker (unless it stopped at
        # once, which is then said)
        assert len(tree) >= 2
        assert server.stop(signal.SIGTERM) == 0
        for pid in tree:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        output = server.output()
        assert "The worker runs beside it" in output
        if len(tree) == 2:
            assert "warning: the worker stopped early" in output
    finally:
        server.stop(signal.SIGKILL)
