"""send_pending() and send_digests(): mails in the recipient's language with a text and an HTML
part and the link to act on; a real SMTP server receives them; a refused mail is retried with
back-off, then failed and shown to operators, who may retry it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from regnekraft.notify import services
from regnekraft.notify.kinds import Delivery, Kind
from regnekraft.notify.models import Notification, Status
from regnekraft.notify.sending import BACKOFF, MAX_ATTEMPTS
from tests import factories as f

from .conftest import TODAY, World, build, free_port, person

SITE = "https://regnekraft.example.no"


def mails_to(person) -> list:
    return [m for m in mail.outbox if m.to == [person.email]]


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


@pytest.fixture
def nb_world(db) -> World:
    return build(language="nb")


@pytest.fixture
def en_world(db) -> World:
    return build(language="en")


def block_mail(w: World):
    services.collect(today=TODAY)
    services.send_pending("w1")
    code = w.projects[0].code
    [block] = [m for m in mails_to(w.pi) if "blocked" in m.subject or "sperret" in m.subject]
    return block, code


def test_a_mail_in_bokmaal_has_text_html_and_the_link(nb_world):
    block, code = block_mail(nb_world)
    assert block.subject.startswith(f"{code} er sperret på")
    assert "har brukt opp tildelingen" in block.body
    link = f"{SITE}/pi/projects/{code}/"
    assert link in block.body
    html = html_of(block)
    assert f'href="{link}"' in html
    assert '<html lang="nb">' in html
    assert "Åpne i Regnekraft" in html


def test_a_mail_in_english_has_text_html_and_the_link(en_world):
    block, code = block_mail(en_world)
    assert block.subject.startswith(f"{code} is blocked on")
    assert "has used up its allocation" in block.body
    link = f"{SITE}/en/pi/projects/{code}/"
    assert link in block.body
    html = html_of(block)
    assert f'href="{link}"' in html
    assert '<html lang="en">' in html


def test_every_kind_renders_and_is_sent_once(nb_world):
    services.collect(today=TODAY)
    services.notify_operators(
        "slurm-failed",
        "k1",
        {"job": "slurm-sync", "cluster": "betzy", "error": "sacctmgr: connection refused"},
    )
    first = services.send_pending("w1", limit=1000)
    assert first["failed"] == first["retrying"] == 0
    immediate = Notification.objects.filter(delivery=Delivery.IMMEDIATE).exclude(status=Status.OFF)
    assert first["sent"] == immediate.count() == len(mail.outbox)
    assert set(immediate.values_list("status", flat=True)) == {Status.SENT}
    for m in mail.outbox:
        assert SITE in m.body and SITE in html_of(m)
        assert "{{" not in m.body and "%(" not in m.subject
    assert services.send_pending("w1")["sent"] == 0  # nothing twice
    ops = mails_to(nb_world.operator)
    assert len(ops) == 1 and "sacctmgr: connection refused" in ops[0].body
    assert f"{SITE}/en/operator/sync/" in ops[0].body  # the operator reads English


def test_digest_is_one_mail_per_person_grouped_by_kind(nb_world):
    w = nb_world
    services.set_preference(w.pi.user, w.pi, Kind.BALANCE_WARNING, Delivery.DIGEST)
    services.collect(today=TODAY)
    services.send_pending("w1")
    before = len(mails_to(w.pi))
    summary = services.send_digests()
    digests = [m for m in mails_to(w.pi)][before:]
    assert len(digests) == 1
    digest = digests[0]
    assert "Utlysning åpnet" in digest.body and "Utlysning stenger snart" in digest.body
    assert "Saldovarsel" in digest.body  # the warning the PI moved to the digest
    assert f"{SITE}/pi/apply/" in html_of(digest)
    assert summary["sent"] >= 2  # the PI's and the other PI's
    assert not Notification.objects.filter(delivery=Delivery.DIGEST, status=Status.PENDING)
    assert services.send_digests()["sent"] == 0


def test_off_is_never_sent(nb_world):
    w = nb_world
    services.set_preference(w.pi.user, w.pi, Kind.CHANGE_DECIDED, Delivery.OFF)
    services.collect(today=TODAY)
    services.send_pending("w1")
    services.send_digests()
    n = Notification.objects.get(recipient=w.pi, kind=Kind.CHANGE_DECIDED)
    assert n.status == Status.OFF and n.sent_at is None
    assert not [m for m in mails_to(w.pi) if "endringsønske" in m.subject.lower()]


@pytest.fixture
def operator(db):
    return person(f.organisation(), "operator", language="en")


def test_a_real_smtp_server_receives_the_mail(operator, smtp):
    services.notify_operators(
        "slurm-failed", "k1", {"job": "slurm-ingest", "cluster": "saga", "error": "sacct timed out"}
    )
    assert services.send_pending("w1") == {
        "claimed": 1,
        "sent": 1,
        "retrying": 0,
        "failed": 0,
        "reclaimed": 0,
        "released": 0,
    }
    [msg] = smtp.messages
    assert msg["To"] == operator.email
    assert msg["Subject"] == "Regnekraft: slurm-ingest failed"
    assert msg.get_content_type() == "multipart/alternative"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert "sacct timed out" in parts["text/plain"]
    assert f"{SITE}/en/operator/sync/" in parts["text/html"]
    n = Notification.objects.get()
    assert msg["X-Regnekraft-Notification"] == str(n.pk)
    assert n.status == Status.SENT and n.sent_at is not None and n.attempts == 1


def test_a_refused_mail_is_retried_with_back_off_then_failed_and_shown(operator, smtp, client):
    smtp.refuse = True
    services.notify_operators("slurm-failed", "k1", {"job": "slurm-sync", "cluster": "betzy"})
    n = Notification.objects.get()
    now = timezone.now()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert services.send_pending("w1", now=now - dt.timedelta(seconds=1))["claimed"] == 0
        summary = services.send_pending("w1", now=now)
        n.refresh_from_db()
        assert n.attempts == attempt
        assert "550" in n.last_error
        if attempt < MAX_ATTEMPTS:
            assert summary["retrying"] == 1
            assert n.status == Status.PENDING
            assert n.next_attempt_at == now + BACKOFF[attempt - 1]
            now = n.next_attempt_at
        else:
            assert summary["failed"] == 1
            assert n.status == Status.FAILED
    assert smtp.messages == []
    assert services.send_pending("w1", now=now + dt.timedelta(days=1))["claimed"] == 0

    client.force_login(operator.user)
    url = reverse("portal:notification_failures")
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "550" in body and "mailbox unavailable" in body
    assert operator.email in body
    assert '<th scope="col">' in body

    smtp.refuse = False
    assert client.post(url, {"notification": n.pk}).status_code == 302
    n.refresh_from_db()
    assert n.status == Status.PENDING
    assert services.send_pending("w1")["sent"] == 1
    assert len(smtp.messages) == 1
    assert "550" not in client.get(url).content.decode()


def test_the_failed_mails_page_is_for_operators(db, client):
    pi = person(f.organisation(), "pi")
    client.force_login(pi.user)
    assert client.get(reverse("portal:notification_failures")).status_code == 403


def test_a_closed_smtp_port_is_retried(operator, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 5
    services.notify_operators("slurm-failed", "k1", {"job": "slurm-sync", "cluster": "betzy"})
    assert services.send_pending("w1")["retrying"] == 1
    n = Notification.objects.get()
    assert n.status == Status.PENDING and n.attempts == 1
    assert "Connection" in n.last_error or "refused" in n.last_error


def test_a_dead_workers_claim_is_taken_back(operator):
    services.notify_operators("slurm-failed", "k1", {"job": "slurm-sync", "cluster": "betzy"})
    n = Notification.objects.get()
    now = timezone.now()
    Notification.objects.filter(pk=n.pk).update(
        status=Status.SENDING, claimed_by="dead", claimed_at=now - dt.timedelta(minutes=5)
    )
    assert services.send_pending("w2", now=now)["claimed"] == 0  # still the other's
    summary = services.send_pending("w2", now=now + dt.timedelta(minutes=6))
    assert summary["reclaimed"] == 1 and summary["sent"] == 1
    assert len(mail.outbox) == 1


def test_a_batch_out_of_time_gives_the_rest_back(operator, monkeypatch):
    from regnekraft.notify import sending

    person(operator.organisation, "operator")
    person(operator.organisation, "operator")
    services.notify_operators("slurm-failed", "k1", {"job": "slurm-sync", "cluster": "betzy"})
    monkeypatch.setattr(sending, "SEND_BUDGET", dt.timedelta(seconds=-1))  # always out of time
    summary = services.send_pending("w1")
    assert summary["claimed"] == 3 and summary["sent"] == 1 and summary["released"] == 2
    assert Notification.objects.filter(status=Status.PENDING, claimed_by="").count() == 2
    assert len(mail.outbox) == 1
    monkeypatch.undo()
    assert services.send_pending("w2")["sent"] == 2
    assert len({tuple(m.to) for m in mail.outbox}) == 3


@pytest.mark.parametrize(
    ("language", "day", "subject"),
    [
        ("nb", "30. juni 2027", "slutter om 21 dager"),
        ("en", "30 Jun 2027", "ends in 21 days"),
    ],
)
def test_dates_are_written_the_recipients_way(db, language, day, subject):
    w = build(language=language)
    services.collect(today=TODAY)
    services.send_pending("w1", limit=1000)
    [expiring] = [m for m in mails_to(w.pi) if subject in m.subject]
    assert day in expiring.body and day in html_of(expiring)
    assert f"{SITE}{'/en' if language == 'en' else ''}/pi/allocations/" in expiring.body
