"""Bounded load on the portal: the decision maker's dashboard and the PI's overview.

Starts the portal on 127.0.0.1 in a child process (Django's threaded WSGI server, as
``regnekraft serve`` runs it), signs in ``--clients`` concurrent clients (threads with
http.client) and sends a fixed number of requests per page. The server wraps the WSGI
application in a timer and returns the time spent in it as a ``Server-Timing`` header;
the script prints p50/p95/max of that server time and of the client-side latency.

Database: PostgreSQL when DATABASE_URL is set, otherwise SQLite in a temporary folder.
The demo data (``regnekraft.demo``) is built first unless ``--keep`` is given.

    python benchmarks/portal_load.py                      # SQLite, fresh demo, 20 clients
    DATABASE_URL=postgres://... python benchmarks/portal_load.py --requests 400

The goal in the issue is p95 server time under 200 ms at 20 concurrent clients.
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
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"dashboard": ("decision", "/dashboard/"), "pi_overview": ("pi", "/pi/")}
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
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()

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


# --------------------------------------------------------------------------- client side


@dataclass
class Client:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load(port: int, username: str, password: str, path: str, clients: int, total: int) -> dict:
    signed_in = []
    for _ in range(clients):
        c = Client(port)
        c.sign_in(username, password)
        signed_in.append(c)
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
            response, _ = c.request("GET", path)
            elapsed = (time.perf_counter() - began) * 1000
            found = TIMING.search(response.headers.get("Server-Timing", ""))
            with lock:
                if response.status != 200 or not found:
                    errors.append(f"HTTP {response.status}")
                else:
                    server_ms.append(float(found.group(1)))
                    client_ms.append(elapsed)

    c0 = Client(port)  # one warm-up request fills caches the way a first visitor would
    c0.cookies = dict(signed_in[0].cookies)
    c0.request("GET", path)
    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(c,)) for c in signed_in]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if not server_ms:
        raise SystemExit(f"{path}: no successful request ({errors[:3]})")
    return {
        "requests": len(server_ms),
        "errors": len(errors),
        "wall_s": wall,
        "rps": len(server_ms) / wall,
        "server_p50": statistics.median(server_ms),
        "server_p95": percentile(server_ms, 0.95),
        "server_max": max(server_ms),
        "client_p50": statistics.median(client_ms),
        "client_p95": percentile(client_ms, 0.95),
    }


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--requests", type=int, default=400, help="requests per page (default 400)")
    parser.add_argument(
        "--pages", default="dashboard,pi_overview", help="comma-separated: " + ", ".join(PAGES)
    )
    parser.add_argument(
        "--keep", action="store_true", help="use the database as it is; do not build the demo"
    )
    parser.add_argument(
        "--password", default=None, help="the demo password (default: regnekraft.demo.PASSWORD)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="server processes sharing the socket (default: the number of cores)",
    )
    parser.add_argument(
        "--threads",
        action="store_true",
        help="each server process also serves in threads (runserver's model); default off",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.serve:
        serve(args.serve, args.workers, args.threads)
        return 0

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "regnekraft.settings")
    env.setdefault("REGNEKRAFT_MODE", "demo")  # the demo's data over plain HTTP on loopback
    if "DATABASE_URL" not in env and "REGNEKRAFT_VAR" not in env:
        env["REGNEKRAFT_VAR"] = tempfile.mkdtemp(prefix="regnekraft-load-")
    database = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    if not args.keep:
        print(f"building the demo data ({database}) ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "regnekraft.cli", "demo", "--no-serve", "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    password = args.password
    if password is None:
        found = re.search(
            r'^PASSWORD = "([^"]+)"', (ROOT / "regnekraft" / "demo.py").read_text(), re.M
        )
        password = found.group(1) if found else "regnekraft"
    port = free_port()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        str(port),
        "--workers",
        str(args.workers),
    ]
    # A session of its own, so the whole group of server processes (and only it) is stopped at
    # the end.
    server = subprocess.Popen(
        command + (["--threads"] if args.threads else []), cwd=ROOT, env=env, start_new_session=True
    )
    try:
        wait_for(port)
        model = f"{args.workers} worker process(es)" + (
            " with threads" if args.threads else ", one request at a time each"
        )
        print(
            f"portal on 127.0.0.1:{port}, {database}, {model}; {args.clients} concurrent clients, "
            f"{args.requests} requests per page"
        )
        print(
            f"{'page':<12} {'ok':>5} {'err':>4} {'req/s':>7} {'server p50':>11} {'server p95':>11} "
            f"{'server max':>11} {'client p50':>11} {'client p95':>11}"
        )
        for name in [p.strip() for p in args.pages.split(",") if p.strip()]:
            username, path = PAGES[name]
            r = load(port, username, password, path, args.clients, args.requests)
            print(
                f"{name:<12} {r['requests']:>5} {r['errors']:>4} {r['rps']:>7.1f} "
                f"{r['server_p50']:>9.1f}ms "
                f"{r['server_p95']:>9.1f}ms {r['server_max']:>9.1f}ms {r['client_p50']:>9.1f}ms "
                f"{r['client_p95']:>9.1f}ms",
                flush=True,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
