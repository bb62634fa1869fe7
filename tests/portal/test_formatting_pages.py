"""Every page of every role reads as people write numbers (issue 13): in bokmål no raw decimal
(more than two places), no figure of 10 000 or more without grouping, no English unit and no
UTC timestamp; and a browser asking for English (``Accept-Language: en``, no cookie, no
prefix) gets the page in English."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

# Each role's pages: its navigation (home and every entry, found on the home page) and the
# detail pages of the test world, named by a function of the world.
DETAILS = {
    "pi": [
        "/accounts/email/",
        "/accounts/password/",
        lambda w: "/pi/projects/nn1001k/",
        lambda w: f"/pi/apply/{w.open_call.pk}/nn1001k/",
        lambda w: f"/pi/allocations/{w.allocation_a.pk}/change/",
    ],
    "reviewer": [lambda w: f"/reviews/{w.review.pk}/"],
    "coordinator": [
        lambda w: f"/sector/orders/{w.order_health.pk}/",
        lambda w: f"/sector/lines/{w.order_health.lines.get().pk}/",
        "/sector/orders/new/",
    ],
    "industry": [lambda w: "/pi/projects/nn5005k/"],
    "operator": [
        lambda w: f"/operator/calls/{w.review_call.pk}/",
        lambda w: f"/operator/calls/{w.open_call.pk}/",
        lambda w: f"/operator/calls/{w.allocation_a.application.call_id}/",
        lambda w: f"/finance/invoices/{w.invoice_a.pk}/",
        "/finance/prices/new/",
    ],
    "finance": [lambda w: f"/finance/invoices/{w.invoice_a.pk}/", "/finance/prices/new/"],
    "decision_maker": [],
}
ROLES = sorted(DETAILS)

UNSEEN = re.compile(r"<(script|style|textarea)\b.*?</\1>", re.S | re.I)
URL = re.compile(r"\b(?:https?://|/)[\w./?=&%#:-]*")
CODE = re.compile(r"\b\w*[A-Za-z_]\w*\d\w*\b|\b\d+[A-Za-z_]\w*\b")  # nn1001k, job ids like a1b2

PROBLEMS = {
    "a number with more than two decimals": re.compile(r"\d[.,]\d{3,}(?![\d])"),
    "a number of 10 000 or more without grouping": re.compile(r"(?<![\d.,])\d{5,}(?![\d])"),
    "an English unit": re.compile(
        r"\b(?:core|GPU|node|person)-hours?\b|\bTB-months?\b|\d\s*(?:kroner|NOK)\b|\bNOK\s*\d",
        re.I,
    ),
    "a UTC timestamp": re.compile(
        r"\+00:00|\bUTC\b|\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\d\d:\d\d:\d\d(?:\.\d+)?"
    ),
}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("/") and not href.startswith("/en/"):
                self.hrefs.append(href)


def visible_text(html: str) -> str:
    """What a reader sees: no scripts, styles or form contents, no tags (so no attribute
    values: links, ids, input values), entities resolved; URLs and codes taken out."""
    import html as html_module

    text = UNSEEN.sub(" ", html)
    text = re.sub(r"<[^>]+>", " ", text)
    text = html_module.unescape(text)
    text = URL.sub(" ", text)
    return CODE.sub(" ", text)


def problems(html: str) -> list[str]:
    text = visible_text(html)
    found = []
    for what, pattern in PROBLEMS.items():
        for m in pattern.finditer(text):
            around = text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")
            found.append(f"{what}: {m.group(0)!r} in …{' '.join(around.split())}…")
    return found


def pages_of(world, client: Client, role: str) -> list[str]:
    home = client.get("/")
    assert home.status_code == 200
    links = _Links()
    links.feed(home.content.decode())
    nav = [h for h in links.hrefs if "?" not in h and not h.startswith("/accounts/logout")]
    details = [d(world) if callable(d) else d for d in DETAILS[role]]
    return list(dict.fromkeys(["/", *nav, *details]))


def _more_figures(world) -> None:
    """What the world lacks for some pages to show figures and times: a Slurm sync run, a job
    run, and a change request waiting for the operator."""
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    from regnekraft.allocation.models import ChangeRequest
    from regnekraft.ops.models import JobRun
    from regnekraft.slurm.models import SyncRun

    now = timezone.now()
    SyncRun.objects.create(cluster="betzy", mode="reconcile", ok=True, changes=12345, applied=0)
    JobRun.objects.create(
        job="slurm-sync",
        task_id="t1",
        worker="w1",
        status="succeeded",
        started_at=now - dt.timedelta(seconds=75),
        finished_at=now,
    )
    ChangeRequest.objects.create(
        allocation=world.allocation_a,
        kind="increase",
        amount=Decimal("25000.5"),
        reason="More runs",
        requested_by=world.people["pi"],
    )


@pytest.mark.parametrize("role", ROLES)
def test_bokmal_pages_show_no_raw_number_english_unit_or_utc_time(world, client, role):
    _more_figures(world)
    client.force_login(world.people[role].user)
    found = {}
    for url in pages_of(world, client, role):
        response = client.get(url)
        assert response.status_code == 200, (role, url, response.status_code)
        html = response.content.decode()
        assert '<html lang="nb">' in html, url
        if bad := problems(html):
            found[url] = bad
    assert not found, "\n".join(f"{u}:\n  " + "\n  ".join(b) for u, b in found.items())


@pytest.mark.parametrize("role", ROLES)
def test_accept_language_en_gives_english_pages(world, role):
    first = Client()
    first.force_login(world.people[role].user)
    for url in pages_of(world, first, role):
        browser = Client(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9,nb;q=0.5")
        browser.force_login(world.people[role].user)
        response = browser.get(url, follow=True)
        assert response.status_code == 200, (role, url)
        assert response.redirect_chain[-1][0] == f"/en{url}", (role, url)
        assert '<html lang="en">' in response.content.decode(), (role, url)


def test_the_checks_catch_what_issue_13_found():
    for raw in [
        "77971,2000000000 kroner",
        "153427.200000000",
        "Sum: 77971.20",
        "2026-12-01 19:32:04.759612+00:00",
        "12 500 core-hours",
        "Pris: 7000000,00",
    ]:
        assert problems(f"<p>{raw}</p>"), raw
    for fine in [
        "77\u202f971,20\u00a0kr",
        "1.\u00a0des. 2026, 20:32",
        "nn1001k",
        '<a href="/pi/projects/nn1001k/?x=123456">Prosjekt</a>',
        "2027",
        "80,0\u00a0%",
        "<script>var x = 1234567.891;</script>",
    ]:
        assert not problems(f"<p>{fine}</p>"), fine


def test_the_language_choice_stays_once_made(world):
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(world.people["pi"].user)
    assert '<html lang="en">' in browser.get("/pi/", follow=True).content.decode()
    chosen = browser.get("/pi/?lang=nb")
    assert '<html lang="nb">' in chosen.content.decode()
    assert '<html lang="nb">' in browser.get("/pi/").content.decode()
    assert '<html lang="en">' in browser.get("/en/pi/").content.decode()
    assert browser.get("/api/me/").status_code in (200, 401, 403)  # not sent to /en/api/
