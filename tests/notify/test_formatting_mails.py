"""Mails format numbers, money, shares and days through ``regnekraft.formats`` in the
RECIPIENT's language (issue 13): a bokmål reader gets ``82 %`` and ``1 234,50 kr``, an
English one ``82%`` and ``NOK 1,234.50``, whatever language the sender runs in."""

from __future__ import annotations

import re

from django.core import mail
from django.utils import translation

from regnekraft.notify import services
from tests.portal.test_formatting_pages import problems

from .conftest import TODAY, build


def _mails(db):
    w = build(language="nb")
    services.collect(today=TODAY)
    with translation.override("en"):  # the worker's own language must not leak into the mails
        services.send_pending("w1", limit=1000)
    return w, list(mail.outbox)


def _everything(m) -> str:
    [(html, _mimetype)] = m.alternatives
    return "\n".join([m.subject, m.body, re.sub(r"<[^>]+>", " ", html)])


def test_bokmal_mails_have_no_raw_number_english_unit_or_utc_time(db):
    w, mails = _mails(db)
    nb_people = {w.pi.email, w.reviewer.email, w.coordinator.email}
    nb_mails = [m for m in mails if m.to[0] in nb_people]
    assert len(nb_mails) >= 5
    found = [(m.subject, p) for m in nb_mails for p in problems(f"<p>{_everything(m)}</p>")]
    assert not found, found
    warning = next(m for m in nb_mails if "brukt" in m.subject and m.to == [w.pi.email])
    assert "80\u00a0%" in warning.subject and "82\u00a0%" in warning.body
    order = next(m for m in nb_mails if m.to == [w.coordinator.email] and "kr" in m.body)
    assert re.search(r"\d,\d\d\u00a0kr", order.body), order.body


def test_english_recipients_get_english_formats(db):
    w, mails = _mails(db)
    en_mails = [m for m in mails if m.to[0] in {w.other_pi.email, w.operator.email}]
    nb_mails = [m for m in mails if m.to == [w.pi.email]]
    assert nb_mails
    for m in en_mails:
        text = _everything(m)
        assert "\u00a0kr" not in text and "\u00a0%" not in text, text
        assert not re.search(r"\d\.\s(?:jan|feb|mars|apr|mai|juni|juli|aug|sep|okt|nov|des)", text)


def test_an_invoice_mail_states_the_total_as_money_in_each_language(db):
    from regnekraft.notify.render import display

    with translation.override("nb"):
        assert display({"total": "77971.2"})["total"] == "77\u202f971,20\u00a0kr"
        assert display({"threshold": 80})["threshold"] == "80\u00a0%"
        assert display({"amount": "100000", "unit": "core-hours"})["amount"] == (
            "100\u202f000\u00a0kjernetimer"
        )
    with translation.override("en"):
        assert display({"total": "77971.2"})["total"] == "NOK\u00a077,971.20"
        assert display({"last_day": "2027-06-30"})["last_day"] == "30 Jun 2027"
