"""The log format (docs/operations.md): readable text by default, JSON lines with
``REGNEKRAFT_LOG_FORMAT=json``; every record carries the request id of the request it was
written in (``regnekraft.ops.requestid``), also gunicorn's own lines.

No Django here: the settings' LOGGING names these classes, and gunicorn's master loads them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from typing import Any

# The request being answered in this thread (or task); "" outside a request.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# What every LogRecord has; anything else on a record came from ``extra=`` and is printed.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (``record.request_id``, "" if none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        return True


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """One readable line: ``2026-12-02T05:40:01.123Z INFO regnekraft.x [req 3f2a...] message``
    (a traceback, if any, follows on the next lines)."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", "")
        line = f"{_timestamp(record)} {record.levelname} {record.name} "
        if rid:
            line += f"[req {rid}] "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, the
    ``extra=`` fields, and ``exception`` (the traceback as text) if there was one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        for key, value in _extra(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}


def logging_config(fmt: str, level: str | None, *, gunicorn_access: bool = False) -> dict:
    """The ``LOGGING`` dict for the settings (and gunicorn's ``logconfig_dict``): everything to
    stderr in ``fmt`` ("text" or "json"); Regnekraft and gunicorn at INFO, other libraries at
    WARNING (``level`` sets both). gunicorn's own access line is off unless
    ``gunicorn_access`` (the request-id middleware writes a richer one per request)."""
    if fmt not in FORMATTERS:
        raise ValueError(f"REGNEKRAFT_LOG_FORMAT={fmt!r}: use text or json")
    ours = level or "INFO"
    console = {"handlers": ["console"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "regnekraft.ops.logs.RequestIdFilter"}},
        "formatters": {"regnekraft": {"()": f"regnekraft.ops.logs.{FORMATTERS[fmt].__name__}"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "regnekraft",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level or "WARNING"},
        "loggers": {
            "regnekraft": {"level": ours},
            "gunicorn.error": {"level": ours, **console},
            "gunicorn.access": {"level": ours if gunicorn_access else "WARNING", **console},
        },
    }
