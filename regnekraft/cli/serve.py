"""``regnekraft serve``: migrate the database and serve the portal, admin and API.

The server is gunicorn (docs/operations.md), run inside this process through its
``BaseApplication``: the settings' log format applies to gunicorn's own lines, the options
come from the command line and the ``REGNEKRAFT_WEB_*`` variables, and the master process is
the one systemd starts and signals (SIGTERM: finish the requests under way, then stop;
SIGHUP: new web processes). ``--dev`` runs Django's development server instead.

``regnekraft demo`` serves with a worker beside the web server (``with_worker``): this
process then supervises two children, the web server and ``regnekraft worker``, and stops
both when either Ctrl-C or SIGTERM arrives or the web server ends.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

from .output import add_command

DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4
DEFAULT_TIMEOUT = 120  # seconds a request may take before its web process is replaced
DEFAULT_GRACEFUL_TIMEOUT = 30  # seconds given to requests under way at a stop or reload
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"  # the proxy on the same host


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"error: {name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SystemExit(f"error: {name}={raw!r}: at least {minimum}")
    return value


def gunicorn_options(
    host: str, port: int, workers: int | None = None, threads: int | None = None
) -> dict[str, Any]:
    """gunicorn's settings for ``regnekraft serve`` (docs/operations.md lists the variables)."""
    from django.conf import settings

    threads = threads or _env_int("REGNEKRAFT_WEB_THREADS", DEFAULT_THREADS)
    bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    options: dict[str, Any] = {
        "bind": [f"{bind_host}:{port}"],
        "workers": workers or _env_int("REGNEKRAFT_WEB_WORKERS", DEFAULT_WORKERS),
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": _env_int("REGNEKRAFT_WEB_TIMEOUT", DEFAULT_TIMEOUT),
        "graceful_timeout": _env_int("REGNEKRAFT_WEB_GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT),
        "keepalive": 5,
        # Which proxies' X-Forwarded-* (scheme, client address) gunicorn believes.
        "forwarded_allow_ips": os.environ.get(
            "REGNEKRAFT_FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS
        ).strip(),
        # The application is imported once in the master (the chart and forecast libraries take
        # seconds) and shared by the web processes it forks.
        "preload_app": True,
        "proc_name": "regnekraft-web",
        "errorlog": "-",
        "logconfig_dict": settings.LOGGING,  # gunicorn's lines in the same format (stderr)
    }
    if os.path.isdir("/dev/shm"):
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat files off a slow or full disk
    return options


def run_gunicorn(options: dict[str, Any]) -> int:
    from django.db import connections
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 24+: no gunicornc
                self.cfg.set("control_socket_disable", True)  # socket shared by every instance

        def load(self) -> Any:
            from regnekraft.wsgi import application

            return application

    connections.close_all()  # the web processes are forked: no connection shared with them
    try:
        Application().run()
    except SystemExit as exc:  # the arbiter ends with sys.exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _banner(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(
        f"Regnekraft is listening on http://{shown}:{port}/  "
        "(admin: /admin/, API: /api/docs/)  Ctrl-C stops it.",
        flush=True,
    )


def serve(
    host: str,
    port: int,
    *,
    workers: int | None = None,
    threads: int | None = None,
    dev: bool = False,
    with_worker: bool = False,
    banner: bool = True,
) -> int:
    """Serve until stopped; the exit code. ``with_worker``: also run ``regnekraft worker``."""
    if with_worker:
        return _serve_with_worker(host, port, workers=workers, dev=dev)
    if banner:
        _banner(host, port)
    if dev:
        from django.core.management import call_command

        call_command("runserver", f"{host}:{port}", use_reloader=False, verbosity=0)
        return 0
    return run_gunicorn(gunicorn_options(host, port, workers, threads))


def _child_env() -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env["REGNEKRAFT_MODE"] = settings.MODE  # the demo's mode, which a child cannot guess
    return env


def _stop(child: subprocess.Popen | None, timeout: float = 30, *, grace: float = 0) -> None:
    """Stop ``child``: after ``grace`` seconds to end by itself (Ctrl-C reached the whole
    process group, and a second signal would make the worker drop its job), SIGTERM, then
    SIGKILL after ``timeout``."""
    if child is None or child.poll() is not None:
        return
    if grace:
        try:
            child.wait(grace)
            return
        except subprocess.TimeoutExpired:
            pass
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


class _Stopped(Exception):
    pass


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped


def _serve_with_worker(host: str, port: int, *, workers: int | None, dev: bool) -> int:
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)  # before the children, which would race for it
    connections.close_all()
    _banner(host, port)
    cli = [sys.executable, "-m", "regnekraft.cli"]
    web_cmd = [*cli, "serve", "--host", host, "--port", str(port), "--no-banner"]
    if dev:
        web_cmd.append("--dev")
    if workers:
        web_cmd += ["--workers", str(workers)]
    env = _child_env()
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    code = 0
    interrupted = False
    try:
        web = subprocess.Popen(web_cmd, env=env)
        worker = subprocess.Popen([*cli, "worker"], env=env)
        print(f"The worker runs beside it (pid {worker.pid}).", flush=True)
        while (code := web.poll()) is None:
            if worker is not None and worker.poll() is not None:
                print(
                    f"warning: the worker stopped early (exit code {worker.returncode}); "
                    "the portal keeps running, but nothing scheduled runs and no mail is sent "
                    "until a worker runs (regnekraft worker).",
                    file=sys.stderr,
                    flush=True,
                )
                worker = None
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted, code = True, 0
    except _Stopped:
        code = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(worker, grace=15 if interrupted else 0)
        _stop(web, grace=5 if interrupted else 0)
    return code


def add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {number}")
    return number


def cmd_serve(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return serve(
        args.host,
        args.port,
        workers=args.workers,
        threads=args.threads,
        dev=args.dev,
        banner=not args.no_banner,
    )


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers, "serve", cmd_serve, "migrate the database and serve the portal, admin and API"
    )
    add_address(p)
    p.add_argument(
        "--workers",
        type=_positive,
        help=f"web processes (default: REGNEKRAFT_WEB_WORKERS or {DEFAULT_WORKERS})",
    )
    p.add_argument(
        "--threads",
        type=_positive,
        help=f"threads per web process (default: REGNEKRAFT_WEB_THREADS or {DEFAULT_THREADS})",
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help="Django's development server instead of gunicorn (never in production)",
    )
    p.add_argument("--no-banner", action="store_true", help=argparse.SUPPRESS)
