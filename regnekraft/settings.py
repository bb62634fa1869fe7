"""Django settings for Regnekraft.

SQLite is the embedded default (``var/regnekraft.sqlite3``); set ``DATABASE_URL``
(for example ``postgres://user:pass@127.0.0.1:5432/regnekraft``) to use PostgreSQL.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from regnekraft.ops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("REGNEKRAFT_VAR", Path.cwd() / "var"))


def _flag(name: str, default: bool) -> bool:
    """A yes/no variable: 1/true/yes/on or 0/false/no/off; unset or empty means ``default``."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1 or 0")


DEBUG = _flag("REGNEKRAFT_DEBUG", False)

# REGNEKRAFT_MODE (docs/security.md): "production" (the default) insists on a secret key and
# turns on secure cookies, HTTPS redirect, HSTS and an enforced Content-Security-Policy;
# "development", "demo" and "test" run with a development key over plain HTTP. Unset, the
# mode is development with REGNEKRAFT_DEBUG=1, test under pytest, demo for `regnekraft demo`.
MODES = ("production", "development", "demo", "test")
_UNDER_PYTEST = "pytest" in sys.modules
_CLI_MAIN = ("regnekraft", "cli", "__main__.py")


def _demo_command(argv: list[str]) -> bool:
    """``regnekraft demo ...`` or ``python -m regnekraft.cli demo ...``."""
    program = Path(argv[0]) if argv else Path()
    ours = program.name == "regnekraft" or program.parts[-3:] == _CLI_MAIN
    return ours and argv[1:2] == ["demo"]


def _mode() -> str:
    given = os.environ.get("REGNEKRAFT_MODE", "").strip().lower()
    if given:
        if given not in MODES:
            raise ImproperlyConfigured(
                f"REGNEKRAFT_MODE={given!r} is not one of {', '.join(MODES)}"
            )
        return given
    if DEBUG:
        return "development"
    if _UNDER_PYTEST:
        return "test"
    if _demo_command(sys.argv):
        return "demo"
    return "production"


MODE = _mode()
PRODUCTION = MODE == "production"
if _UNDER_PYTEST:
    os.environ.setdefault("REGNEKRAFT_MODE", MODE)  # commands the tests start run in it too

SECRET_KEY = os.environ.get("REGNEKRAFT_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "REGNEKRAFT_SECRET_KEY is not set. In production it must be a long random secret "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'). For a "
            "development machine set REGNEKRAFT_MODE=development instead (docs/security.md)."
        )
    SECRET_KEY = "dev-only-insecure-key-change-me"
ALLOWED_HOSTS = os.environ.get("REGNEKRAFT_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(
    ","
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc files served from here, not a CDN
    "axes",  # failed sign-ins and lockouts (AXES_* below)
    "csp",  # the Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "regnekraft.audit",
    "regnekraft.catalog",
    "regnekraft.parties",
    "regnekraft.allocation",
    "regnekraft.accounting",
    "regnekraft.slurm",
    "regnekraft.api",
    "regnekraft.portal",
    "regnekraft.notify",
    "regnekraft.ops",
    "django_tasks",  # the backport of Django 6's tasks framework (Django 5.2 has none)
    "django_tasks_db",  # its queue kept in the project's own database (docs/operations.md)
]

MIDDLEWARE = [
    # First: every answer, also a redirect or refusal below, gets a request id and one access
    # line (regnekraft/ops/requestid.py, docs/operations.md).
    "regnekraft.ops.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "regnekraft.dbbusy.DatabaseBusyMiddleware",  # a locked database: 503 + Retry-After, no 500
    "django.contrib.sessions.middleware.SessionMiddleware",
    "regnekraft.portal.locale.PortalLocaleMiddleware",  # Accept-Language on unprefixed pages
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "regnekraft.audit.middleware.CurrentUserMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout answer
]
# The health checks answer over plain HTTP too: a load balancer or monitor asking a web
# process directly (not through the TLS proxy) must not get the HTTPS redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

ROOT_URLCONF = "regnekraft.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # Money, quantities, shares and times in every template (docs/formats.md).
            "builtins": ["regnekraft.formats.templatetags.formats"],
        },
    },
]

WSGI_APPLICATION = "regnekraft.wsgi.application"

_default_sqlite = f"sqlite:///{VAR_DIR / 'regnekraft.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", _default_sqlite), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers queue for the lock (the busy timeout, REGNEKRAFT_SQLITE_TIMEOUT seconds) instead
    # of failing at once; one still waiting after it gets a 503 with Retry-After
    # (regnekraft/dbbusy.py), never a 500. IMMEDIATE transactions take the write lock at BEGIN,
    # so two decisions that read the same remaining capacity are serialised instead of both
    # reading and then both writing, and a reader never fails upgrading its lock to write.
    # WAL: readers do not wait for the writer nor it for them; synchronous=NORMAL is safe in
    # WAL (a power cut may lose the last commits, never corrupt the file).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=float(os.environ.get("REGNEKRAFT_SQLITE_TIMEOUT", "20")),
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    )
# Seconds a client is told to wait (Retry-After) when the database was too busy (dbbusy.py).
DB_BUSY_RETRY_AFTER = int(os.environ.get("REGNEKRAFT_DB_BUSY_RETRY_AFTER", "5"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes' backend first: it refuses a locked-out user name and address before the password is
# checked (regnekraft/portal/lockout.py); ModelBackend checks the password.
AUTHENTICATION_BACKENDS = [
    "regnekraft.portal.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", _("Norwegian Bokmål")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

# One cache for every web worker on the host (the dashboard's rendered parts, keyed by a
# fingerprint of the data): a file cache under REGNEKRAFT_VAR, so a change is rebuilt once,
# not once per worker. REGNEKRAFT_CACHE_URL names a shared server cache instead for several
# hosts (redis://... with Django's Redis backend, which needs the redis package).
_CACHE_URL = os.environ.get("REGNEKRAFT_CACHE_URL", "")
if _CACHE_URL.startswith("redis"):
    _REDIS = "django.core.cache.backends.redis.RedisCache"
    CACHES = {"default": {"BACKEND": _REDIS, "LOCATION": _CACHE_URL}}
elif MODE == "test":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # also creates VAR_DIR for the embedded database
# WhiteNoise serves the admin's and the portal's static files straight from the apps, so the
# demo server and a production WSGI server need no separate web server or collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Brute-force protection (django-axes, docs/security.md): after AXES_FAILURE_LIMIT failed
# sign-ins for one user name from one address, that pair is locked for the cool-off time, on
# /accounts/login/, /admin/login/ and /api/token/ alike (HTTP 429 with the reason).
AXES_ENABLED = _flag("REGNEKRAFT_LOCKOUT", True)
AXES_FAILURE_LIMIT = int(os.environ.get("REGNEKRAFT_LOCKOUT_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("REGNEKRAFT_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "regnekraft.portal.lockout.lockout_response"
AXES_VERBOSE = False  # our own log lines (regnekraft.portal.lockout), not axes' per attempt
# The client address is REMOTE_ADDR; behind a reverse proxy give the header it sets,
# e.g. REGNEKRAFT_CLIENT_IP_HEADER=HTTP_X_FORWARDED_FOR (only if the proxy overwrites it).
if _ip_header := os.environ.get("REGNEKRAFT_CLIENT_IP_HEADER", "").strip():
    AXES_CLIENT_IP_CALLABLE = "regnekraft.portal.lockout.client_ip"
    REGNEKRAFT_CLIENT_IP_HEADER = _ip_header

# API tokens (regnekraft/parties/tokens.py): valid this many days from issue, then refused.
REGNEKRAFT_TOKEN_DAYS = int(os.environ.get("REGNEKRAFT_TOKEN_DAYS", "30"))

# E-mail (docs/operations.md): REGNEKRAFT_EMAIL_URL names where mail goes:
#   smtp://[user:password@]host[:port][?tls=1]  SMTP (STARTTLS with tls=1; smtps:// for TLS
#                                               from the start)
#   file:///path/to/folder                      one .log file per message, in the folder
#   console:                                    printed on standard output
# Unset, mail is written to $REGNEKRAFT_VAR/mail/ so that the demo works offline.
# REGNEKRAFT_EMAIL_BACKEND (a Django backend path) still overrides the URL's backend.
_EMAIL_URL = urllib.parse.urlsplit(os.environ.get("REGNEKRAFT_EMAIL_URL", "").strip())
_EMAIL_QUERY = urllib.parse.parse_qs(_EMAIL_URL.query)
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
if _EMAIL_URL.scheme in {"smtp", "smtps"}:
    _email_backend = "django.core.mail.backends.smtp.EmailBackend"
elif _EMAIL_URL.scheme == "console":
    _email_backend = "django.core.mail.backends.console.EmailBackend"
elif _EMAIL_URL.scheme in {"file", ""}:
    _email_backend = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = _EMAIL_URL.path or EMAIL_FILE_PATH
else:
    raise ImproperlyConfigured(
        f"REGNEKRAFT_EMAIL_URL: unknown scheme {_EMAIL_URL.scheme!r}; "
        "use smtp://, smtps://, file:// or console:"
    )
EMAIL_BACKEND = os.environ.get("REGNEKRAFT_EMAIL_BACKEND", _email_backend)
EMAIL_HOST = _EMAIL_URL.hostname or "localhost"
EMAIL_PORT = _EMAIL_URL.port or (465 if _EMAIL_URL.scheme == "smtps" else 25)
EMAIL_HOST_USER = urllib.parse.unquote(_EMAIL_URL.username or "")
EMAIL_HOST_PASSWORD = urllib.parse.unquote(_EMAIL_URL.password or "")
EMAIL_USE_TLS = _EMAIL_QUERY.get("tls", ["0"])[0] in {"1", "true", "yes"}  # STARTTLS
EMAIL_USE_SSL = _EMAIL_URL.scheme == "smtps"  # TLS from the start, usually port 465
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("REGNEKRAFT_EMAIL_FROM", "regnekraft@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = 3 * 3600  # a reset link works for three hours

# Deployment (docs/security.md): on by default in production mode, each one can be turned off.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _flag("REGNEKRAFT_SECURE_COOKIES", PRODUCTION)
SECURE_SSL_REDIRECT = _flag("REGNEKRAFT_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = int(
    os.environ.get("REGNEKRAFT_HSTS_SECONDS", str(365 * 24 * 3600 if PRODUCTION else 0))
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("REGNEKRAFT_HSTS_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = _flag("REGNEKRAFT_HSTS_PRELOAD", PRODUCTION)
if _proxy_https := os.environ.get("REGNEKRAFT_PROXY_SSL_HEADER", "").strip():
    # e.g. "HTTP_X_FORWARDED_PROTO=https": the TLS-terminating proxy says the request was HTTPS
    _header, _, _value = _proxy_https.partition("=")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("REGNEKRAFT_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# Content-Security-Policy (django-csp): no inline or third-party scripts anywhere; inline
# styles are allowed because matplotlib's inline SVG charts carry style attributes and a
# <style> element. Enforced in production, report-only (the browser only logs) otherwise;
# REGNEKRAFT_CSP=enforce|report-only|off decides explicitly.
_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
CSP_MODE = os.environ.get("REGNEKRAFT_CSP", "enforce" if PRODUCTION else "report-only")
if CSP_MODE not in {"enforce", "report-only", "off"}:
    raise ImproperlyConfigured(f"REGNEKRAFT_CSP={CSP_MODE!r}: use enforce, report-only or off")
CONTENT_SECURITY_POLICY = _CSP if CSP_MODE == "enforce" else None
CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP if CSP_MODE == "report-only" else None

# The worker's queue (regnekraft/ops, docs/operations.md): django-tasks with its database
# backend, so queued jobs live in the same database as the data they change.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "regnekraft.api.authentication.ExpiringTokenAuthentication",  # parties/tokens.py
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "regnekraft.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Regnekraft API",
    "DESCRIPTION": (
        "Catalogue, allocation, policy rules, metering and charging for Norway's national compute."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind" choice field; name each enum after its own choice set.
    "ENUM_NAME_OVERRIDES": {
        "OrganisationKindEnum": "regnekraft.parties.models.OrganisationKind",
        "RoleKindEnum": "regnekraft.parties.models.RoleKind",
        "SystemKindEnum": "regnekraft.catalog.models.SystemKind",
        "ResourceKindEnum": "regnekraft.catalog.models.ResourceKind",
        "PriceCategoryEnum": "regnekraft.catalog.models.PriceCategory",
        "ChangeKindEnum": "regnekraft.allocation.models.ChangeKind",
    },
}

# Logs (docs/operations.md): everything on stderr, one line per record, with the request id
# (regnekraft/ops/logs.py); REGNEKRAFT_LOG_FORMAT=json gives JSON lines, text is the default.
# Regnekraft's own runs and gunicorn at INFO, other libraries at WARNING; REGNEKRAFT_LOG_LEVEL
# sets both. REGNEKRAFT_GUNICORN_ACCESS_LOG=1 adds gunicorn's own access line to ours.
LOG_FORMAT = os.environ.get("REGNEKRAFT_LOG_FORMAT", "text").strip().lower() or "text"
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"REGNEKRAFT_LOG_FORMAT={LOG_FORMAT!r}: use text or json")
LOGGING = logging_config(
    LOG_FORMAT,
    os.environ.get("REGNEKRAFT_LOG_LEVEL") or None,
    gunicorn_access=_flag("REGNEKRAFT_GUNICORN_ACCESS_LOG", False),
)
