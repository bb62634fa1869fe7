"""Shared load machinery for the portal benchmarks (portal_load.py, national.py).

- :func:`serve` (run as ``python benchmarks/load.py --serve PORT``): the portal in a child
  process on 127.0.0.1 (Django's WSGI server, as ``regnekraft serve`` runs it; pre-forked
  worker processes sharing one socket, optionally threaded), behind a timer that returns the
  time spent in the application as a ``Server-Timing`` header;
- :class:`Server`: starts that child in a session of its own and stops its process group;
- :class:`Client`: one signed-in HTTP client (cookies kept), by password or with a session
  cookie made elsewhere;
- :func:`load`: a fixed number of GET requests to one path from concurrent clients (threads),
  with p50/p95/max of the server time and the client-side latency.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"app;dur=([0-9.]+)")


# --------------------------------------------------------------------------- server side


def serve(port: int, workers: int, threads: bool) -> None:
    """Child process: the portal behind a timer, on 127.0.0.1:port.

    ``workers`` processes share one listening socket (pre-fork, as gunicorn's sync workers
    do); with ``threads`` each also serves requests in threads, as ``runserver`` does.
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regnekraft.settings")
    django.setup()
    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

    from regnekraft.wsgi import application as app  # as servers load it (warmed up)

    def timed(environ, start_response):
        began = time.perf_counter()
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"], captured["exc"] = status, headers, exc_info
            return lambda data: None  # the legacy write() callable is not used by Django

        body = b"".join(app(environ, capture))
        took = (time.perf_counter() - began) * 1000
        start_response(
            captured["status"],
            captured["headers"] + [("Server-Timing", f"app;dur={took:.2f}")],
            captured["exc"],
        )
        return [body]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    bases = (socketserver.ThreadingMixIn, WSGIServer) if threads else (WSGIServer,)
    # A listen backlog for all clients at once (socketserver's default of 5 makes the rest retry).
    server_cls = type("LoadServer", bases, {"request_queue_size": 256})
    server = server_cls(("127.0.0.1", port), Quiet, ipv6=False)
    server.daemon_threads = True
    server.set_app(timed)
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the portal did not start on port {port}")


class Server:
    """The portal in a child process (``with Server(env, workers) as port: ...``).

    The child runs in a session of its own, so the whole group of server processes (and only
    it) is stopped at the end.
    """

    def __init__(self, env: Mapping[str, str], workers: int = 2, threads: bool = False) -> None:
        self.env, self.workers, self.threads = dict(env), workers, threads
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def model(self) -> str:
        return f"{self.workers} worker process(es)" + (
            " with threads" if self.threads else ", one request at a time each"
        )

    def __enter__(self) -> int:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            str(self.port),
            "--workers",
            str(self.workers),
        ] + (["--threads"] if self.threads else [])
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)
        try:
            wait_for(self.port)
        except BaseException:
            self.__exit__()
            raise
        return self.port

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
            self.process = None


# --------------------------------------------------------------------------- client side


@dataclass
class Client:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        headers = {"Host": f"127.0.0.1:{self.port}", "Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        for raw in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = raw.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return response, data

    def sign_in(self, username: str, password: str) -> None:
        self.request("GET", "/accounts/login/")
        form = urlencode(
            {
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self.cookies.get("csrftoken", ""),
                "next": "",
            }
        )
        response, _ = self.request("POST", "/accounts/login/", form)
        if response.status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"could not sign in as {username} (HTTP {response.status})")


def signed_in(port: int, username: str, password: str, clients: int) -> list[Client]:
    """``clients`` clients, each signed in through the login form."""
    out = []
    for _ in range(clients):
        c = Client(port)
        c.sign_in(username, password)
        out.append(c)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load(clients: list[Client], path: str, total: int, warm_up: bool = True) -> dict:
    """``total`` GET requests to ``path``, spread over the (signed-in) ``clients`` at once."""
    server_ms: list[float] = []
    client_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def work(c: Client) -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            began = time.perf_counter()
            try:
                response, _ = c.request("GET", path)
            except OSError as exc:
                with lock:
                    errors.append(type(exc).__name__)
                continue
            elapsed = (time.perf_counter() - began) * 1000
            found = TIMING.search(response.headers.get("Server-Timing", ""))
            with lock:
                if response.status != 200 or not found:
                    errors.append(f"HTTP {response.status}")
                else:
                    server_ms.append(float(found.group(1)))
                    client_ms.append(elapsed)

    first_ms = None
    if warm_up:  # one request fills caches the way a first visitor would
        c0 = Client(clients[0].port, dict(clients[0].cookies))
        response, _ = c0.request("GET", path)
        found = TIMING.search(response.headers.get("Server-Timing", ""))
        first_ms = float(found.group(1)) if found else None
    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if not server_ms:
        raise SystemExit(f"{path}: no successful request ({errors[:3]})")
    return {
        "path": path,
        "clients": len(clients),
        "requests": len(server_ms),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "wall_s": wall,
        "rps": len(server_ms) / wall,
        "first_ms": first_ms,
        "server_p50": statistics.median(server_ms),
        "server_p95": percentile(server_ms, 0.95),
        "server_max": max(server_ms),
        "client_p50": statistics.median(client_ms),
        "client_p95": percentile(client_ms, 0.95),
    }


HEADER = (
    f"{'page':<16} {'ok':>5} {'err':>4} {'req/s':>7} {'server p50':>11} {'server p95':>11} "
    f"{'server max':>11} {'client p50':>11} {'client p95':>11}"
)


def row(name: str, r: dict) -> str:
    return (
        f"{name:<16} {r['requests']:>5} {r['errors']:>4} {r['rps']:>7.1f} "
        f"{r['server_p50']:>9.1f}ms {r['server_p95']:>9.1f}ms {r['server_max']:>9.1f}ms "
        f"{r['client_p50']:>9.1f}ms {r['client_p95']:>9.1f}ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the portal behind a timer (child process)")
    parser.add_argument("--serve", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    serve(args.serve, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
