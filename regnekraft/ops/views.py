"""``/healthz`` and ``/readyz`` (docs/operations.md): JSON, no sign-in.

- ``/healthz`` (liveness): the process answers; 200 ``{"status": "ok"}`` without touching
  the database, so a busy or unreachable database does not get a web process restarted.
- ``/readyz`` (readiness): the database answers, every migration is applied and a worker was
  seen within five minutes (``health.WORKER_SEEN_WITHIN``); 200 when all are fine, else 503
  with the failed checks named in ``failed``.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import health


def check_database(alias: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".strip()[:300]}
    return {"ok": True}


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations the code has and the database has not applied ("app.name"), in order."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan]


def check_migrations(alias: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    try:
        pending = unapplied_migrations(alias)
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".strip()[:300]}
    if pending:
        return {
            "ok": False,
            "detail": f"{len(pending)} migrations not applied (regnekraft manage migrate)",
            "unapplied": pending[:20],
        }
    return {"ok": True}


def check_worker() -> dict[str, Any]:
    try:
        seen = health.last_worker_seen()
        alive = health.worker_alive()
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".strip()[:300]}
    minutes = int(health.WORKER_SEEN_WITHIN.total_seconds() // 60)
    result: dict[str, Any] = {"ok": alive, "last_seen": seen.isoformat() if seen else None}
    if seen is None:
        result["detail"] = "no worker has ever been seen (start regnekraft worker)"
    elif not alive:
        result["detail"] = f"no worker seen in the last {minutes} minutes"
    return result


def readiness() -> dict[str, Any]:
    """Each check's outcome; the later ones are not tried when the database does not answer."""
    checks: dict[str, dict[str, Any]] = {"database": check_database()}
    if checks["database"]["ok"]:
        checks["migrations"] = check_migrations()
        checks["worker"] = check_worker()
    else:
        skipped = {"ok": False, "detail": "not checked: the database does not answer"}
        checks["migrations"] = dict(skipped)
        checks["worker"] = dict(skipped)
    failed = [name for name, outcome in checks.items() if not outcome["ok"]]
    return {"status": "fail" if failed else "ok", "failed": failed, "checks": checks}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    outcome = readiness()
    response = JsonResponse(outcome, status=503 if outcome["failed"] else 200)
    response._has_been_logged = True  # type: ignore[attr-defined]  # the access line suffices
    return response
