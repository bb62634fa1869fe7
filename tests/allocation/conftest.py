"""Clients for driving one write through each interface (tests/allocation/test_write_path*.py):
the API and the portal's unprefixed pages both answer in bokmål (the API ignores Accept-Language:
its paths have no language prefix, so LocaleMiddleware settles on LANGUAGE_CODE), so a
refusal's text can be compared word for word between them."""

from __future__ import annotations

import html
import json
from collections.abc import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from regnekraft.parties.models import Person
from tests.api.conftest import World, build_world


@pytest.fixture
def wp_world(db, settings) -> World:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_world()


@pytest.fixture
def api() -> Callable[[Person], APIClient]:
    """``api(person)``: an API client signed in as ``person``, asking for bokmål like the
    portal's unprefixed pages, so both give their texts in one language."""

    def make(person: Person) -> APIClient:
        client = APIClient(HTTP_ACCEPT_LANGUAGE="nb")
        client.force_authenticate(person.user)
        return client

    return make


@pytest.fixture
def web() -> Callable[[Person], Client]:
    """``web(person)``: a browser signed in as ``person`` (bokmål pages: no /en/ prefix)."""

    def make(person: Person) -> Client:
        client = Client()
        client.force_login(person.user)
        return client

    return make


@pytest.fixture
def admin(web) -> Callable[[Person], Client]:
    """``admin(person)``: ``web(person)`` for a staff superuser (the operator in the demo)."""

    def make(person: Person) -> Client:
        person.user.is_staff = person.user.is_superuser = True
        person.user.save()
        return web(person)

    return make


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str]]:
    """``cli("policy", "set", ...)``: the command line's exit code and what it printed."""
    from regnekraft.cli import main

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def in_bokmal(template: str, **values) -> str:
    """A service's message as the API and the portal give it: in bokmål, the default."""
    from django.utils import translation
    from django.utils.translation import gettext

    with translation.override("nb"):
        text = gettext(template)
        return text % {k: str(v) for k, v in values.items()} if values else text


def shown(text: str, response) -> bool:
    """Is ``text`` on the page (as the template escapes it)?"""
    return html.escape(str(text)) in response.content.decode()


def admin_messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def as_json(out: str):
    return json.loads(out)
