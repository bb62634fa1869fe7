"""The OpenAPI schema is valid, documents the error answers, and a bounded schemathesis run against
a live server on 127.0.0.1 finds no server error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from openapi_spec_validator import validate
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .conftest import build_world

# Bounds for the fuzzing run (about a minute on two cores); raise them for a deeper local run.
MAX_EXAMPLES = int(os.environ.get("REGNEKRAFT_API_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("REGNEKRAFT_API_FUZZ_SEED", "20261124"))


def _schema() -> dict:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_schema_is_valid_openapi_3():
    schema = _schema()
    assert schema["openapi"].startswith("3.")
    validate(schema)


@pytest.mark.django_db
def test_schema_documents_bodies_and_errors():
    paths = _schema()["paths"]
    decide = paths["/api/applications/{id}/decide/"]["post"]
    assert "requestBody" in decide
    assert {"200", "400", "403", "404", "409"} <= set(decide["responses"])
    conflict = decide["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert conflict.endswith("/PolicyConflict")
    assert {"201", "400", "401", "403"} <= set(paths["/api/applications/"]["post"]["responses"])
    assert "/api/token/" in paths and "/api/policy/check/" in paths


@pytest.mark.django_db
def test_swagger_and_redoc_pages_are_served():
    for url in ("/api/docs/", "/api/redoc/"):
        response = APIClient().get(url)
        assert response.status_code == 200
        assert b"/api/schema/" in response.content
        # served by the platform itself: works offline and needs no third party
        assert b"/static/drf_spectacular_sidecar/" in response.content
        assert b"cdn.jsdelivr.net" not in response.content
        script = re.search(rb'src="(/static/drf_spectacular_sidecar/[^"]+\.js)"', response.content)
        assert Client().get(script.group(1).decode()).status_code == 200


def _schemathesis() -> Path:
    exe = Path(sys.executable).parent / "schemathesis"
    if not exe.exists():
        pytest.skip(f"schemathesis command not found next to {sys.executable}")
    return exe


@pytest.mark.django_db(transaction=True)
def test_fuzzing_every_operation_finds_no_server_error(live_server, tmp_path):
    exe = _schemathesis()
    world = build_world()
    # A superuser stays an operator even if the fuzzer deletes the operator's person or roles.
    world.operator.user.is_superuser = True
    world.operator.user.save()
    token = Token.objects.create(user=world.operator.user)
    command = [
        str(exe),
        "run",
        f"{live_server.url}/api/schema/",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--no-shrink",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "-H",
        f"Authorization: Token {token.key}",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "NO_PROXY": "localhost,127.0.0.1",
            "no_proxy": "localhost,127.0.0.1",
        },
    )
    tail = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"schemathesis found failures:\n{tail}"
    assert "Fuzzing" in run.stdout and "passed" in run.stdout, tail
