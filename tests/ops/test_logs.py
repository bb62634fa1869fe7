"""Log lines: JSON or text, each with the id of the request it was written in."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from django.test import Client

from regnekraft.ops import logs
from regnekraft.ops.requestid import MAX_LENGTH, clean_request_id


@pytest.fixture
def captured(request):
    """The settings' log configuration in the format given, writing to a buffer."""
    fmt = getattr(request, "param", "json")
    stream = io.StringIO()
    config = logs.logging_config(fmt, None)
    config["handlers"]["console"]["stream"] = stream
    logging.config.dictConfig(config)
    yield stream
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_clean_request_id_keeps_a_plain_token_and_bounds_it():
    assert clean_request_id("abc-123.X_y") == "abc-123.X_y"
    assert clean_request_id("abc<script>\n123") == "abcscript123"
    assert len(clean_request_id("a" * 500)) == MAX_LENGTH
    made = clean_request_id("<>\n")
    assert len(made) == 32 and int(made, 16) >= 0
    assert clean_request_id(None) != clean_request_id(None)


def test_the_request_id_given_comes_back_on_the_response(db):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="trace-42")
    assert response["X-Request-ID"] == "trace-42"
    made = Client().get("/healthz")["X-Request-ID"]
    assert len(made) == 32


def test_json_lines_carry_the_request_id_and_the_access_fields(db, captured):
    Client().get("/accounts/login/", HTTP_X_REQUEST_ID="trace-77")
    logging.getLogger("regnekraft.test").info("outside", extra={"job": "sync"})
    records = [json.loads(line) for line in lines(captured)]
    [access] = [r for r in records if r["logger"] == "regnekraft.access"]
    assert access["request_id"] == "trace-77"
    assert access["method"] == "GET"
    assert access["path"] == "/accounts/login/"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert access["level"] == "INFO"
    assert access["timestamp"].endswith("Z")
    [outside] = [r for r in records if r["logger"] == "regnekraft.test"]
    assert outside["request_id"] is None  # the request's id ended with it
    assert outside["job"] == "sync"


def test_a_line_written_inside_a_request_carries_its_id(captured):
    token = logs.request_id.set("inside-1")
    try:
        logging.getLogger("regnekraft.test").warning("in a view")
    finally:
        logs.request_id.reset(token)
    [record] = [json.loads(line) for line in lines(captured)]
    assert record["request_id"] == "inside-1"
    assert record["message"] == "in a view"


@pytest.mark.parametrize("captured", ["text"], indirect=True)
def test_text_lines_are_readable_with_the_request_id(db, captured):
    Client().get("/accounts/login/?next=/", HTTP_X_REQUEST_ID="trace-9")
    [line] = [x for x in lines(captured) if "regnekraft.access" in x]
    assert " INFO regnekraft.access [req trace-9] GET /accounts/login/?next=/ 200 " in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_passing_health_checks_are_not_in_the_access_log(db, captured):
    Client().get("/healthz")
    assert not [x for x in lines(captured) if "/healthz" in x]


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="REGNEKRAFT_LOG_FORMAT='xml'"):
        logs.logging_config("xml", None)
