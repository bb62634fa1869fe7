"""The e-mail settings page: each signed-in person chooses per kind and their language; blocks
and invoices offer no "off"; labels and fieldsets for every choice."""

from __future__ import annotations

import re

from django.urls import reverse

from regnekraft.notify.kinds import Delivery, Kind
from regnekraft.notify.models import NotificationPreference
from regnekraft.parties.models import Person
from tests import factories as f

from .conftest import person


def form_data(**overrides) -> dict:
    data = {"language": "nb"}
    for kind in Kind.values:
        if kind != Kind.SLURM_FAILED:
            data[f"kind_{kind}"] = Delivery.IMMEDIATE
    data.update(overrides)
    return data


def test_a_person_chooses_per_kind_and_language(db, client):
    pi = person(f.organisation(), "pi")
    client.force_login(pi.user)
    url = reverse("portal:notification_preferences")
    page = client.get(url).content.decode()
    assert "<legend>Tildeling sperret (100 % brukt)</legend>" in page
    for kind in (Kind.BALANCE_BLOCK, Kind.INVOICE_ISSUED):
        assert f'name="kind_{kind}" value="off"' not in page
    assert f'name="kind_{Kind.CALL_OPENED}" value="off"' in page
    assert f"kind_{Kind.SLURM_FAILED}" not in page  # for operators only
    # every radio button has its label
    for radio_id in re.findall(r'<input type="radio"[^>]*id="([^"]+)"', page):
        assert f'<label for="{radio_id}">' in page
    assert '<label for="id_language">' in page

    answer = client.post(
        url, form_data(language="en", **{f"kind_{Kind.CALL_OPENED}": Delivery.OFF})
    )
    assert answer.status_code == 302
    assert Person.objects.get(pk=pi.pk).language == "en"
    assert NotificationPreference.objects.get(person=pi, kind=Kind.CALL_OPENED).delivery == "off"


def test_off_for_a_block_is_refused_on_the_page(db, client):
    pi = person(f.organisation(), "pi")
    client.force_login(pi.user)
    url = reverse("portal:notification_preferences")
    answer = client.post(url, form_data(**{f"kind_{Kind.BALANCE_BLOCK}": Delivery.OFF}))
    assert answer.status_code == 200
    assert not NotificationPreference.objects.filter(kind=Kind.BALANCE_BLOCK).exists()
    assert "has-error" in answer.content.decode()


def test_operators_see_the_failed_mails_link(db, client):
    op = person(f.organisation(), "operator")
    client.force_login(op.user)
    page = client.get(reverse("portal:home")).content.decode()
    assert reverse("portal:notification_failures") in page
    assert reverse("portal:notification_preferences") in page


def test_the_admin_lists_notifications_and_preferences(db, client):
    from django.contrib.auth import get_user_model

    from regnekraft.notify import services

    op = person(f.organisation(), "operator")
    services.notify_operators("slurm-failed", "k1", {"job": "slurm-sync", "cluster": "betzy"})
    admin = get_user_model().objects.create_superuser("root", "root@example.no", "pw-test-123")
    client.force_login(admin)
    assert client.get(reverse("admin:notify_notification_changelist")).status_code == 200
    assert client.get(reverse("admin:notify_notificationpreference_changelist")).status_code == 200
    answer = client.post(
        reverse("admin:notify_notificationpreference_add"),
        {"person": op.pk, "kind": Kind.INVOICE_ISSUED, "delivery": Delivery.OFF},
    )
    assert not NotificationPreference.objects.exists()  # refused by the service
    assert answer.status_code in (200, 302)
