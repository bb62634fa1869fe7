"""The national data set under load: every role's main pages, the API lists and the year's
commands, with their goals (issue 11, item 5).

Builds the national data set (``regnekraft.national``: 3,000 projects, 20,000 users, ten
million usage records at ``--fraction 1``) on the PostgreSQL database DATABASE_URL names, or
reuses the one already there (its build is recorded in the audit log). Then:

1. issues the invoices of every month of the data's year but the last (once: idempotent), so
   the finance page lists a year of invoices and the measured invoice run is a real one;
2. counts the SQL queries of one request to each page and API list (in-process, with
   django.test.Client: the first request, which fills the caches, and a second);
3. starts the portal in a child process (benchmarks/load.py: Django's WSGI server behind a
   timer that returns a Server-Timing header) and sends ``--requests`` requests per page from
   ``--clients`` concurrent signed-in clients, printing p50/p95 of the server time;
4. runs ``regnekraft report`` for the whole year, a monthly invoice run for the data's last
   month (in a transaction that is rolled back, so every run issues the same invoices) and
   ``regnekraft plan energy --from-db`` for the year's four quarters, each in a child process,
   printing wall time and peak memory (the child's RSS high-water mark, from wait4);
5. prints a summary against the goals (p95 < 200 ms at 20 clients; each command < 30 s and
   < 1 GiB) and, with ``--compare-with`` (the ``--json-out`` of the 10 % run), the ratio of
   each figure to the 10 % one (goal: at most 12).

    bash scripts/postgres.sh start       # prints the shared server's URL
    psql "$URL" -c 'create database bench_national10'
    DATABASE_URL=${URL%/*}/bench_national10 python benchmarks/national.py --fraction 0.1 \\
        --json-out national10.json
    DATABASE_URL=${URL%/*}/bench_national python benchmarks/national.py \\
        --compare-with national10.json --json-out national.json

The sign-ins: the national set keeps the plain demo's (``coordinator``, ``finance``,
``operator``, ``decision``; docs/demo.md); the PI with most use (by charge) is usually a
generated person without a password, so every client gets a session made with Django's
``force_login`` instead of the login form.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HEADER, Client, Server, load, row

ROOT = Path(__file__).resolve().parents[1]
P95_GOAL_MS = 200.0
COMMAND_GOAL_S = 30.0
COMMAND_GOAL_KIB = 1024 * 1024  # 1 GiB
RATIO_GOAL = 12.0
COMMANDS = ("report", "invoice", "plan_energy")
GOALS = {"report": True, "invoice": True, "plan_energy": False}  # the issue sets goals for two


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "regnekraft.settings")
    env.setdefault("REGNEKRAFT_MODE", "demo")  # the demo's data over plain HTTP on loopback
    # A cache of its own (settings: a file cache under REGNEKRAFT_VAR), so the first dashboard
    # request of a run fills it as after a change, and no other checkout's cache is touched.
    env.setdefault("REGNEKRAFT_VAR", _private_var())
    return env


_VAR: list[str] = []


def _private_var() -> str:
    if not _VAR:
        _VAR.append(tempfile.mkdtemp(prefix="regnekraft-national-var-"))
    return _VAR[0]


def _setup_django() -> None:
    os.environ.update({k: v for k, v in _env().items() if k not in os.environ})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    out, day = [], start
    while day < end:
        nxt = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        out.append((day, nxt))
        day = nxt
    return out


def _quarters(start: dt.date, end: dt.date) -> list[str]:
    return list(dict.fromkeys(f"{m.year}Q{(m.month - 1) // 3 + 1}" for m, _ in _months(start, end)))


# --------------------------------------------------------------------------- the data set


def ensure_data(fraction: float, seed: int, rebuild: bool) -> dict:
    from django.core.management import call_command

    from regnekraft import national

    # A set built by an older checkout gets this one's schema (indexes) before it is measured.
    call_command("migrate", verbosity=0)
    was = national.recorded()
    if was is not None and not rebuild:
        if abs(float(was.get("fraction", 0)) - fraction) > 1e-9:
            raise SystemExit(
                f"this database holds the national set at fraction {was.get('fraction')}, not "
                f"{fraction}: point DATABASE_URL at another database, or give --rebuild"
            )
        print(
            f"reusing the national data set (fraction {was['fraction']}, seed {was['seed']}, "
            f"built {was['built']} in {was.get('total_seconds')} s)",
            flush=True,
        )
        return was
    print(f"building the national data set (fraction {fraction}, seed {seed}) ...", flush=True)
    return national.build(fraction, seed, progress=True, rebuild=rebuild)


def invoice_history(months: list[tuple[dt.date, dt.date]]) -> list[dict]:
    """Issue the invoices of ``months`` (idempotent; the ones issued before are kept)."""
    from regnekraft.accounting import runs
    from regnekraft.accounting.models import Invoice
    from regnekraft.parties.actors import SYSTEM

    out = []
    for start, end in months:
        had = Invoice.objects.filter(period_start=start, period_end=end).count()
        began = time.perf_counter()
        issued = runs.issue_invoices(SYSTEM, start, end)
        took = time.perf_counter() - began
        out.append(
            {"month": start.isoformat(), "before": had, "invoices": len(issued), "seconds": took}
        )
        if not had:
            print(f"  invoices for {start:%Y-%m}: {len(issued)} in {took:.1f} s", flush=True)
    return out


def targets(window: tuple[dt.date, dt.date]) -> dict[str, Any]:
    """Who signs in where: the users and the paths of the pages and API lists."""
    from django.contrib.auth import get_user_model
    from django.db.models import Sum

    from regnekraft.accounting.models import UsageDay
    from regnekraft.allocation.models import Call
    from regnekraft.parties.models import Project

    users = get_user_model().objects
    by_pi = (
        UsageDay.objects.values("project__pi")
        .annotate(total=Sum("charge_nok"))
        .order_by("-total")
        .first()
    )
    if by_pi is None:
        raise SystemExit("no usage in the database: is the national data set built?")
    pi_person = by_pi["project__pi"]
    pi = users.get(person__pk=pi_person)
    top_project = (
        UsageDay.objects.filter(project__pi=pi_person)
        .values("project__code")
        .annotate(total=Sum("charge_nok"))
        .order_by("-total")
        .first()
    )
    call = Call.objects.filter(status="decided").order_by("-period_start").first() or (
        Call.objects.order_by("-period_start").first()
    )
    year = window[1].year if window[1].month > 1 else window[1].year - 1
    pages: dict[str, tuple[Any, str]] = {
        "pi_overview": (pi, "/pi/"),
        "pi_project": (pi, f"/pi/projects/{top_project['project__code']}/"),
        "sector": (users.get(username="coordinator"), "/sector/"),
        "finance": (users.get(username="finance"), "/finance/"),
        "round": (users.get(username="operator"), f"/operator/calls/{call.pk}/"),
        "dashboard": (users.get(username="decision"), f"/dashboard/?year={year}"),
        "audit": (users.get(username="operator"), "/operator/audit/"),
    }
    operator = users.get(username="operator")
    api = {
        "api_usage": (operator, "/api/usage/?limit=100"),
        "api_usage_pi": (pi, "/api/usage/?limit=100"),
        "api_balances": (operator, "/api/balances/"),
        "api_allocations": (operator, "/api/allocations/"),
        "api_invoices": (operator, "/api/invoices/"),
        "api_projects": (operator, "/api/projects/"),
        "api_audit": (operator, "/api/audit/"),
    }
    return {
        "pages": {**pages, **api},
        "pi": pi.username,
        "pi_projects": Project.objects.filter(pi_id=pi_person).count(),
        "call": call.name,
    }


# --------------------------------------------------------------------------- query counts


def _profile(client: Any, path: str, top: int = 8) -> list[dict]:
    """Where one request's time goes: the functions with the most own time (cProfile)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    client.get(path)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    return [
        {
            "own_ms": tt * 1000,
            "cum_ms": ct * 1000,
            "calls": nc,
            "function": f"{Path(file).name}:{line}:{func}",
        }
        for (file, line, func), (_, nc, tt, ct, _) in rows
    ]


def _slowest(captured: list[dict], n: int = 3) -> list[dict]:
    ordered = sorted(captured, key=lambda x: -float(x.get("time") or 0))[:n]
    return [{"ms": float(x.get("time") or 0) * 1000, "sql": x["sql"][:300]} for x in ordered]


def count_queries(pages: dict[str, tuple[Any, str]], profile_ms: float) -> dict[str, dict]:
    """The SQL queries of one request to each page, in-process: the first (which fills the
    caches) and a second; the slowest three of each, the time spent in SQL, and for a page
    whose second request takes more than ``profile_ms`` the functions its time goes to."""
    from django.db import connection
    from django.test import Client as TestClient
    from django.test.utils import CaptureQueriesContext

    first_user = next(iter(pages.values()))[0]
    warm = TestClient(HTTP_HOST="127.0.0.1")  # the process's own first-request costs (imports)
    warm.force_login(first_user)
    warm.get("/")
    out = {}
    for name, (user, path) in pages.items():
        client = TestClient(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        runs = []
        for _ in range(2):
            began = time.perf_counter()
            with CaptureQueriesContext(connection) as q:
                response = client.get(path)
            took = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{name}: {path} answered HTTP {response.status_code}")
            captured = list(q.captured_queries)
            sql_ms = sum(float(x.get("time") or 0) for x in captured) * 1000
            runs.append({"queries": len(captured), "ms": took, "sql_ms": sql_ms, "q": captured})
        first, second = runs
        out[name] = {
            "path": path,
            "user": user.username,
            "queries_first": first["queries"],
            "queries": second["queries"],
            "ms_first": first["ms"],
            "ms": second["ms"],
            "sql_ms_first": first["sql_ms"],
            "sql_ms": second["sql_ms"],
            "slowest_first": _slowest(first["q"]),
            "slowest": _slowest(second["q"]),
            "profile": _profile(client, path) if second["ms"] > profile_ms else [],
        }
        print(
            f"  {name:<16} {first['queries']:>4} queries first ({first['ms']:7.0f} ms, "
            f"SQL {first['sql_ms']:6.0f}), {second['queries']:>4} after ({second['ms']:6.0f} ms, "
            f"SQL {second['sql_ms']:5.0f})  {path}",
            flush=True,
        )
        for f in out[name]["profile"][:5]:
            print(
                f"      {f['own_ms']:7.1f} ms own {f['cum_ms']:8.1f} ms cum "
                f"{f['calls']:>7} calls  {f['function']}"
            )
    return out


def sessions(user: Any, n: int, port: int) -> list[Client]:
    """``n`` clients, each with a session of its own for ``user`` (Django's force_login)."""
    from django.conf import settings
    from django.test import Client as TestClient

    out = []
    for _ in range(n):
        tc = TestClient()
        tc.force_login(user)
        out.append(
            Client(
                port, {settings.SESSION_COOKIE_NAME: tc.cookies[settings.SESSION_COOKIE_NAME].value}
            )
        )
    return out


# --------------------------------------------------------------------------- commands


# A small process between this one and the measured command: a child keeps the high-water
# mark of the process it was forked from (across exec), and this one is large; the
# launcher's own child starts from the launcher's few MiB.
LAUNCHER = """
import json, os, sys, time
began = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": time.perf_counter() - began, "rc": os.waitstatus_to_exitcode(status),
               "peak_rss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}, f)
"""


def run_measured(command: list[str], env: dict[str, str], stdout_file: Path) -> dict:
    """Run ``command`` with its output to a file: wall time, CPU time and peak RSS (the
    child's ru_maxrss from wait4, in KiB on Linux)."""
    result = Path(str(stdout_file) + ".json")
    with open(stdout_file, "w") as out, open(str(stdout_file) + ".err", "w") as err:
        subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(result), *command],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            check=False,
        )
    return json.loads(result.read_text())


def invoice_child(start: str, end: str) -> int:
    """Child process: ``regnekraft invoice --start --end`` in a transaction rolled back at the
    end, so the month stays uninvoiced and the next run measures the same work. Prints how
    many invoices and lines it issued (JSON, last line)."""
    _setup_django()
    from django.db import transaction

    from regnekraft.accounting.models import Invoice, InvoiceLine
    from regnekraft.cli import main as cli

    class Rollback(Exception):
        pass

    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            before = Invoice.objects.count(), InvoiceLine.objects.count()
            began = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rc = cli(["invoice", "--start", start, "--end", end, "--json"])
            result = {
                "rc": rc,
                "command_seconds": time.perf_counter() - began,
                "invoices": Invoice.objects.count() - before[0],
                "lines": InvoiceLine.objects.count() - before[1],
            }
            raise Rollback
    except Rollback:
        pass
    print(json.dumps(result))
    return 0


def commands(window: tuple[dt.date, dt.date], env: dict[str, str], outdir: Path) -> dict:
    start, end = window
    last = _months(start, end)[-1]
    python = sys.executable
    cli = [python, "-m", "regnekraft.cli"]
    periods = [a for q in _quarters(start, end) for a in ("--period", q)]
    plan = {
        "report": cli + ["report", "--start", str(start), "--end", str(end), "--json"],
        "invoice": [
            python,
            str(Path(__file__).resolve()),
            "--invoice-child",
            str(last[0]),
            str(last[1]),
        ],
        "plan_energy": cli + ["plan", "energy", "--from-db", *periods, "--json"],
    }
    labels = {
        "report": f"regnekraft report --start {start} --end {end}",
        "invoice": f"regnekraft invoice --start {last[0]} --end {last[1]} (rolled back)",
        "plan_energy": "regnekraft plan energy --from-db " + " ".join(periods),
    }
    out = {}
    for name, command in plan.items():
        stdout = outdir / f"{name}.out"
        r = run_measured(command, env, stdout)
        r["command"] = labels[name]
        if r["rc"] != 0:
            tail = Path(str(stdout) + ".err").read_text()[-2000:]
            raise SystemExit(f"{name} failed (exit {r['rc']}):\n{tail}")
        if name == "invoice":
            issued = json.loads(stdout.read_text().strip().splitlines()[-1])
            r.update(issued)
            if not issued.get("invoices"):
                raise SystemExit(
                    f"the invoice run for {last[0]:%Y-%m} issued nothing: the month is already "
                    "invoiced in this database, so the run measures nothing"
                )
        out[name] = r
        extra = f", {r['invoices']} invoices, {r['lines']} lines" if name == "invoice" else ""
        print(
            f"  {name:<12} {r['seconds']:7.1f} s wall, {r['cpu_s']:6.1f} s CPU, peak RSS "
            f"{r['peak_rss_kib'] / 1024:7.0f} MiB{extra}",
            flush=True,
        )
    return out


# --------------------------------------------------------------------------- summary


def _ratio(now: float | None, then: float | None) -> str:
    if not now or not then:
        return ""
    r = now / then
    return f"{r:6.1f}x {'ok' if r <= RATIO_GOAL else 'OVER'}"


def summary(figures: dict, compare: dict | None) -> str:
    base = f"{float((compare or {}).get('fraction', 0.1)) * 100:g} %"
    lines = [
        f"\nSummary (fraction {figures['fraction']}; goal p95 < {P95_GOAL_MS:.0f} ms at "
        f"{figures['clients']} clients; commands < {COMMAND_GOAL_S:.0f} s and < 1 GiB"
        + (f"; ratio to the {base} run <= {RATIO_GOAL:.0f}" if compare else "")
        + ")",
        f"{'figure':<28} {'value':>12} {'goal':>12} {'':>5} {'queries':>8}"
        + (f" {base:>12} {'ratio':>10} {'queries ' + base:>12}" if compare else ""),
    ]
    then_load = (compare or {}).get("load", {})
    then_q = (compare or {}).get("queries", {})
    for name, r in figures.get("load", {}).items():
        q = figures.get("queries", {}).get(name, {}).get("queries")
        ok = "ok" if r["server_p95"] < P95_GOAL_MS else "OVER"
        line = (
            f"{name + ' p95':<28} {r['server_p95']:>10.1f}ms {'< 200ms':>12} {ok:>5} {q or '':>8}"
        )
        if compare:
            t = then_load.get(name, {}).get("server_p95")
            tq = then_q.get(name, {}).get("queries")
            shown = f"{t:.1f}ms" if t else ""
            line += f" {shown:>12} {_ratio(r['server_p95'], t):>10} {tq or '':>12}"
        lines.append(line)
    then_c = (compare or {}).get("commands", {})
    for name, r in figures.get("commands", {}).items():
        goal = GOALS[name]
        ok_t = ("ok" if r["seconds"] < COMMAND_GOAL_S else "OVER") if goal else ""
        ok_m = ("ok" if r["peak_rss_kib"] < COMMAND_GOAL_KIB else "OVER") if goal else ""
        t_line = (
            f"{name + ' time':<28} {r['seconds']:>11.1f}s "
            f"{('< 30s' if goal else '-'):>12} {ok_t:>5} {'':>8}"
        )
        m_line = (
            f"{name + ' peak RSS':<28} {r['peak_rss_kib'] / 1024:>9.0f}MiB "
            f"{('< 1024MiB' if goal else '-'):>12} {ok_m:>5} {'':>8}"
        )
        if compare and name in then_c:
            t = then_c[name]
            t_line += f" {t['seconds']:>11.1f}s {_ratio(r['seconds'], t['seconds']):>10}"
            m_line += (
                f" {t['peak_rss_kib'] / 1024:>9.0f}MiB "
                f"{_ratio(r['peak_rss_kib'], t['peak_rss_kib']):>10}"
            )
        lines += [t_line, m_line]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=1.0, help="of the national size (1.0)")
    parser.add_argument("--seed", type=int, default=2026, help="of the data set (2026)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--requests", type=int, default=200, help="requests per page (200)")
    parser.add_argument(
        "--pages", help="comma-separated names of the pages and API lists (default: all)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="server processes sharing the socket (default: the number of cores)",
    )
    parser.add_argument("--threads", action="store_true", help="threaded server processes")
    parser.add_argument(
        "--profile-ms",
        type=float,
        default=150.0,
        help="profile the pages whose in-process request takes longer (default 150 ms)",
    )
    parser.add_argument("--skip-load", action="store_true", help="no load (query counts only)")
    parser.add_argument("--skip-commands", action="store_true", help="no report/invoice/plan")
    parser.add_argument("--compare-with", metavar="JSON", help="the --json-out of the 10 % run")
    parser.add_argument("--json-out", metavar="JSON", help="write the figures here")
    parser.add_argument(
        "--invoice-child", nargs=2, metavar=("START", "END"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.invoice_child:
        return invoice_child(*args.invoice_child)
    env = _env()
    if not env.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database (bash scripts/postgres.sh)")
    compare = json.loads(Path(args.compare_with).read_text()) if args.compare_with else None
    _setup_django()
    from regnekraft.national.usage import WINDOW

    began = time.perf_counter()
    built = ensure_data(args.fraction, args.seed, args.rebuild)
    months = _months(*WINDOW)
    print(
        f"invoices for {months[0][0]:%Y-%m} .. {months[-2][0]:%Y-%m} (the history) ...", flush=True
    )
    history = invoice_history(months[:-1])
    t = targets(WINDOW)
    pages = t["pages"]
    if args.pages:
        wanted = [p.strip() for p in args.pages.split(",") if p.strip()]
        unknown = set(wanted) - set(pages)
        if unknown:
            raise SystemExit(f"unknown pages {sorted(unknown)}: choose from {', '.join(pages)}")
        pages = {k: pages[k] for k in wanted}
    print(
        f"PI with most use: {t['pi']} ({t['pi_projects']} projects); round page: call {t['call']}"
    )
    figures: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.python_version()}",
        "fraction": args.fraction,
        "data": {k: built.get(k) for k in ("fraction", "seed", "projects", "people", "usage")},
        "clients": args.clients,
        "requests": args.requests,
        "workers": args.workers,
        "threads": args.threads,
        "pi": t["pi"],
        "call": t["call"],
        "invoice_history": history,
    }
    print("SQL queries of one request (in-process):", flush=True)
    figures["queries"] = count_queries(pages, args.profile_ms)
    if not args.skip_load:
        server = Server(env, args.workers, args.threads)
        figures["load"] = {}
        with server as port:
            print(
                f"portal on 127.0.0.1:{port}, PostgreSQL, {server.model}; {args.clients} "
                f"concurrent clients, {args.requests} requests per page"
            )
            print(HEADER)
            for name, (user, path) in pages.items():
                r = load(sessions(user, args.clients, port), path, args.requests)
                figures["load"][name] = r
                print(row(name, r), flush=True)
    if not args.skip_commands:
        outdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"regnekraft-national-{os.getpid()}"
        outdir.mkdir(parents=True, exist_ok=True)
        print("commands (child processes; wall time, peak RSS from wait4):", flush=True)
        figures["commands"] = commands(WINDOW, env, outdir)
    figures["total_seconds"] = time.perf_counter() - began
    figures["parent_peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if _VAR:  # the private cache folder this run made
        shutil.rmtree(_VAR[0], ignore_errors=True)
    print(summary(figures, compare))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=1, default=str))
        print(f"figures written to {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
