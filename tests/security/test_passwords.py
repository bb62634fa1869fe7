"""Users change their password in the portal and reset it by e-mail (issue 10, item 5)."""

from __future__ import annotations

import re

from django.contrib.auth import authenticate
from django.core import mail
from django.test import Client, RequestFactory

from tests import factories as f

OLD, NEW = "Correct-Horse-42", "Another-Battery-77"


def _can_sign_in(username, password):
    return authenticate(RequestFactory().post("/"), username=username, password=password)


def test_the_header_links_to_the_password_change(alice):
    client = Client()
    client.force_login(alice.user)
    assert 'href="/en/accounts/password/"' in client.get("/en/").content.decode()
    assert 'href="/accounts/password/"' in client.get("/").content.decode()
    assert 'href="/accounts/reset/"' in Client().get("/accounts/login/").content.decode()


def test_change_needs_a_sign_in(db):
    answer = Client().get("/en/accounts/password/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def test_change_with_the_old_password(alice):
    client = Client()
    client.force_login(alice.user)
    page = client.get("/en/accounts/password/").content.decode()
    assert "<h1>Change password</h1>" in page and 'name="old_password"' in page
    wrong = client.post(
        "/en/accounts/password/",
        {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW},
    )
    assert wrong.status_code == 200 and "incorrect" in wrong.content.decode()
    weak = client.post(
        "/en/accounts/password/",
        {"old_password": OLD, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    done = client.post(
        "/en/accounts/password/",
        {"old_password": OLD, "new_password1": NEW, "new_password2": NEW},
    )
    assert done.status_code == 302 and done["Location"] == "/en/accounts/password/changed/"
    assert client.get("/en/").status_code == 200  # still signed in here
    assert 'href="/en/accounts/password/"' in client.get("/en/").content.decode()
    assert _can_sign_in("alice", NEW) and not _can_sign_in("alice", OLD)


def test_the_pages_are_in_bokmal(alice):
    client = Client()
    client.force_login(alice.user)
    assert "<h1>Bytt passord</h1>" in client.get("/accounts/password/").content.decode()
    assert "<h1>Tilbakestill passord</h1>" in Client().get("/accounts/reset/").content.decode()


def _reset_link(text):
    found = re.search(r"https?://[^/\s]+(/\S*/accounts/reset/\S+/|/accounts/reset/\S+/)", text)
    assert found, text
    return found.group(1)


def test_reset_by_e_mail(alice):
    client = Client()
    sent = client.post("/en/accounts/reset/", {"email": "ALICE@example.no"})
    assert sent.status_code == 302 and sent["Location"] == "/en/accounts/reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ALICE@example.no"] and "new password" in message.subject
    link = _reset_link(message.body)
    form = client.get(link, follow=True)  # Django moves the token into the session first
    assert 'name="new_password1"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/en/accounts/reset/done/"
    assert _can_sign_in("alice", NEW) and not _can_sign_in("alice", OLD)
    again = client.get(link, follow=True).content.decode()  # a link works once
    assert "This link is not valid" in again and 'name="new_password1"' not in again


def test_the_mail_is_in_the_language_of_the_request(alice):
    Client().post("/accounts/reset/", {"email": "alice@example.no"})
    assert "velg et nytt passord" in mail.outbox[0].subject
    assert "/accounts/reset/" in mail.outbox[0].body


def test_an_unknown_address_gets_the_same_answer_and_no_mail(alice):
    answer = Client().post("/en/accounts/reset/", {"email": "nobody@example.org"})
    assert answer.status_code == 302 and answer["Location"] == "/en/accounts/reset/sent/"
    assert mail.outbox == []


def test_the_persons_address_finds_the_account(db):
    person = f.person(None, "pi", username="bob", password=OLD)
    person.user.email = ""
    person.user.save()
    person.email = "bob.work@example.no"
    person.save()
    Client().post("/en/accounts/reset/", {"email": "bob.work@example.no"})
    assert [m.to for m in mail.outbox] == [["bob.work@example.no"]]


def test_an_account_without_a_password_gets_no_reset(db):
    person = f.person(None, "pi", username="sso")
    person.user.set_unusable_password()  # signs in through OIDC only
    person.user.save()
    answer = Client().post("/en/accounts/reset/", {"email": person.email})
    assert answer.status_code == 302 and answer["Location"] == "/en/accounts/reset/sent/"
    assert mail.outbox == []
