"""Django settings for Regnekraft.

SQLite is the embedded default (``var/regnekraft.sqlite3``); set ``DATABASE_URL``
(for example ``postgres://user:pass@127.0.0.1:5432/regnekraft``) to use PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("REGNEKRAFT_VAR", Path.cwd() / "var"))

SECRET_KEY = os.environ.get("REGNEKRAFT_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("REGNEKRAFT_DEBUG", "0") == "1"
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
    "regnekraft.audit",
    "regnekraft.catalog",
    "regnekraft.parties",
    "regnekraft.allocation",
    "regnekraft.accounting",
    "regnekraft.slurm",
    "regnekraft.api",
    "regnekraft.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "regnekraft.audit.middleware.CurrentUserMiddleware",
]

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
    # Writers wait for the lock instead of failing at once under concurrent decisions.
    # IMMEDIATE transactions take the write lock at BEGIN, so two decisions that read the
    # same remaining capacity are serialised instead of both reading and then both writing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=30, transaction_mode="IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", _("Norwegian Bokmål")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # also creates VAR_DIR for the embedded database
# WhiteNoise serves the admin's and the portal's static files straight from the apps, so the
# demo server and a production WSGI server need no separate web server or collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
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

# Regnekraft's own runs (Slurm bridge, usage import, invoicing) at INFO on the console
# (stderr), other libraries at WARNING; REGNEKRAFT_LOG_LEVEL sets both.
_LOG_LEVEL = os.environ.get("REGNEKRAFT_LOG_LEVEL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": _LOG_LEVEL or "WARNING"},
    "loggers": {"regnekraft": {"level": _LOG_LEVEL or "INFO"}},
}
