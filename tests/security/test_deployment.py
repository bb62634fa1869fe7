"""Deployment defaults (issue 10, item 9): production mode refuses to start without a secret
key, turns on secure cookies, HSTS and an enforced Content-Security-Policy, and passes
``manage.py check --deploy``. Each check runs in a fresh Python process with the environment
a production server would have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "k7Qx-2vR9pL0sWm4Zt8bY1nC6dF3hJ5gA0eU_iO7yT2rE9wQ4uI8oP6aS1dF3gH5j"


def _run(code: str | None, tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    # A production process's environment: none of ours, and not what the browser tests set
    # for themselves in this process (DJANGO_ALLOW_ASYNC_UNSAFE for Playwright's event loop).
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REGNEKRAFT_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    clean.update(REGNEKRAFT_VAR=str(tmp_path), DJANGO_SETTINGS_MODULE="regnekraft.settings")
    clean.update(env)
    command = [sys.executable, "-c", code] if code else [sys.executable, *args]
    return subprocess.run(command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300)


PRODUCTION = {
    "REGNEKRAFT_MODE": "production",
    "REGNEKRAFT_SECRET_KEY": KEY,
    "REGNEKRAFT_ALLOWED_HOSTS": "regnekraft.example.no",
}


@pytest.mark.parametrize(
    "env", [{"REGNEKRAFT_MODE": "production"}, {}], ids=["production", "mode-unset"]
)
def test_production_without_a_secret_key_refuses_to_start(tmp_path, env):
    run = _run("import django; django.setup()", tmp_path, **env)
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr and "REGNEKRAFT_SECRET_KEY is not set" in run.stderr
    wsgi = _run("import regnekraft.wsgi", tmp_path, **env)  # what a WSGI server loads
    assert wsgi.returncode != 0 and "REGNEKRAFT_SECRET_KEY" in wsgi.stderr


@pytest.mark.parametrize(
    ("argv", "env", "mode"),
    [
        (["regnekraft", "demo", "--no-serve"], {}, "demo"),
        ([str(ROOT / "regnekraft" / "cli" / "__main__.py"), "demo"], {}, "demo"),
        (["regnekraft", "serve"], {"REGNEKRAFT_DEBUG": "1"}, "development"),
        (["regnekraft", "serve"], {"REGNEKRAFT_MODE": "demo"}, "demo"),
    ],
    ids=["regnekraft-demo", "python-m-demo", "debug", "demo-mode"],
)
def test_demo_and_development_run_without_a_key(tmp_path, argv, env, mode):
    code = (
        f"import sys; sys.argv = {argv!r}\n"
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(s.MODE, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)"
    )
    run = _run(code, tmp_path, **env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [mode, "False", "False", "0"]


def test_regnekraft_serve_without_a_key_is_refused(tmp_path):
    code = "import sys; sys.argv = ['regnekraft', 'serve']\nimport django; django.setup()"
    run = _run(code, tmp_path)
    assert run.returncode != 0 and "REGNEKRAFT_SECRET_KEY" in run.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    run = _run(
        None,
        tmp_path,
        "-m",
        "django",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        "--settings=regnekraft.settings",
        **PRODUCTION,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


PROBE = """
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.conf import settings as s
from django.test import Client
page = Client(HTTP_HOST="regnekraft.example.no").get("/accounts/login/", secure=True)
plain = Client(HTTP_HOST="regnekraft.example.no").get("/accounts/login/")
print(json.dumps({
    "status": page.status_code,
    "plain": [plain.status_code, plain.get("Location", "")],
    "hsts": page.get("Strict-Transport-Security", ""),
    "csp": page.get("Content-Security-Policy", ""),
    "csp_report_only": page.get("Content-Security-Policy-Report-Only", ""),
    "csrf_cookie_secure": bool(page.cookies["csrftoken"]["secure"]),
    "session_cookie_secure": s.SESSION_COOKIE_SECURE,
    "email": s.EMAIL_BACKEND,
    "smtp": [s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD,
             s.EMAIL_USE_TLS, s.EMAIL_USE_SSL],
    "mail_folder": s.EMAIL_FILE_PATH,
}))
"""


def test_production_turns_on_https_hsts_secure_cookies_and_csp(tmp_path):
    run = _run(PROBE, tmp_path, **PRODUCTION)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert seen["plain"] == [301, "https://regnekraft.example.no/accounts/login/"]
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["csrf_cookie_secure"] and seen["session_cookie_secure"]
    csp = dict(part.strip().split(" ", 1) for part in seen["csp"].split(";"))
    assert csp["script-src"] == "'self'" and csp["default-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert seen["csp_report_only"] == ""
    # no REGNEKRAFT_EMAIL_URL: mail is written to files under REGNEKRAFT_VAR, never lost
    assert seen["email"] == "django.core.mail.backends.filebased.EmailBackend"
    assert seen["mail_folder"] == str(tmp_path / "mail")


@pytest.mark.parametrize(
    ("url", "smtp"),
    [
        ("smtp://mail.example.no:587?tls=1", ["mail.example.no", 587, "", "", True, False]),
        (
            "smtps://noreply:p%40ss@mail.example.no",
            ["mail.example.no", 465, "noreply", "p@ss", False, True],
        ),
        ("smtp://127.0.0.1", ["127.0.0.1", 25, "", "", False, False]),
    ],
)
def test_the_mail_url_names_the_smtp_server(tmp_path, url, smtp):
    run = _run(PROBE, tmp_path, **PRODUCTION, REGNEKRAFT_EMAIL_URL=url)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert seen["smtp"] == smtp


def test_an_unknown_mail_url_is_refused_by_name(tmp_path):
    run = _run(PROBE, tmp_path, **PRODUCTION, REGNEKRAFT_EMAIL_URL="imap://mail.example.no")
    assert run.returncode != 0
    assert "REGNEKRAFT_EMAIL_URL" in run.stderr and "'imap'" in run.stderr


def test_each_production_default_can_be_turned_off(tmp_path):
    run = _run(
        PROBE,
        tmp_path,
        **PRODUCTION,
        REGNEKRAFT_SSL_REDIRECT="0",
        REGNEKRAFT_HSTS_SECONDS="0",
        REGNEKRAFT_CSP="report-only",
        REGNEKRAFT_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["plain"][0] == 200 and seen["hsts"] == ""
    assert seen["csp"] == "" and "script-src 'self'" in seen["csp_report_only"]
    assert seen["email"].endswith("console.EmailBackend")


def test_a_mistyped_mode_is_refused(tmp_path):
    run = _run("import django; django.setup()", tmp_path, REGNEKRAFT_MODE="prod")
    assert run.returncode != 0 and "REGNEKRAFT_MODE='prod' is not one of" in run.stderr
