"""Bounded load on the portal: the decision maker's dashboard and the PI's overview.

Starts the portal on 127.0.0.1 in a child process (Django's threaded WSGI server, as
``regnekraft serve`` runs it), signs in ``--clients`` concurrent clients (threads with
http.client) and sends a fixed number of requests per page. The server wraps the WSGI
application in a timer and returns the time spent in it as a ``Server-Timing`` header;
the script prints p50/p95/max of that server time and of the client-side latency. The load
machinery is shared with benchmarks/national.py (benchmarks/load.py).

Database: PostgreSQL when DATABASE_URL is set, otherwise SQLite in a temporary folder.
The demo data (``regnekraft.demo``) is built first unless ``--keep`` is given.

    python benchmarks/portal_load.py                      # SQLite, fresh demo, 20 clients
    DATABASE_URL=postgres://... python benchmarks/portal_load.py --requests 400

The goal in the issue is p95 server time under 200 ms at 20 concurrent clients.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HEADER, Server, load, row, signed_in

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"dashboard": ("decision", "/dashboard/"), "pi_overview": ("pi", "/pi/")}


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
    args = parser.parse_args(argv)

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
    server = Server(env, args.workers, args.threads)
    with server as port:
        print(
            f"portal on 127.0.0.1:{port}, {database}, {server.model}; {args.clients} concurrent "
            f"clients, {args.requests} requests per page"
        )
        print(HEADER)
        for name in [p.strip() for p in args.pages.split(",") if p.strip()]:
            username, path = PAGES[name]
            clients = signed_in(port, username, password, args.clients)
            print(row(name, load(clients, path, args.requests)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
