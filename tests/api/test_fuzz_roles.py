"""A bounded schemathesis run with every role's token finds no server error.

``test_schema.py`` fuzzes every operation as a (superuser) operator. Here each role of
``build_world`` (and anonymous) fuzzes every operation too, so the code paths behind the
refusals (403, 404, the serializers' narrowed querysets) and the writes a PI, a coordinator or
an industry customer may make are exercised as well. The server is pytest-django's
``live_server`` on 127.0.0.1; the run is bounded (few examples per operation, a fixed seed, one
worker, no shrinking): 20 to 40 s per role on two cores, about four minutes for the nine
(127 operations each).
"""

from __future__ import annotations

import os
import subprocess

import pytest
from rest_framework.authtoken.models import Token

from .conftest import build_world
from .test_role_matrix import PERSON, ROLES
from .test_schema import _schemathesis

MAX_EXAMPLES = int(os.environ.get("REGNEKRAFT_API_FUZZ_ROLE_EXAMPLES", "2"))
SEED = int(os.environ.get("REGNEKRAFT_API_FUZZ_SEED", "20261124"))
LOOPBACK = "localhost,127.0.0.1"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
def test_fuzzing_as_each_role_finds_no_server_error(role, live_server, tmp_path):
    exe = _schemathesis()
    assert live_server.url.startswith("http://localhost") or live_server.url.startswith(
        "http://127.0.0.1"
    ), live_server.url
    world = build_world()
    headers = []
    if role != "anonymous":
        user = world.by_role(PERSON[role]).user
        if role == "operator":
            # a superuser stays an operator even if the fuzzer deletes its person or roles
            user.is_superuser = True
            user.save()
        headers = ["-H", f"Authorization: Token {Token.objects.create(user=user).key}"]
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
        *headers,
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
        env={**os.environ, "NO_COLOR": "1", "NO_PROXY": LOOPBACK, "no_proxy": LOOPBACK},
    )
    tail = run.stdout[-8000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"schemathesis as {role} found failures:\n{tail}"
    assert "Fuzzing" in run.stdout and "passed" in run.stdout, tail
