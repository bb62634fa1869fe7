"""The operator's Operations page (/operator/operations/): the schedule in words and as cron, the
next and last run, the job runs paged with what they changed and why they failed, the workers and
whether one is alive; "run now" and "change schedule" through regnekraft.ops.schedule."""

from __future__ import annotations

import datetime as dt
import html as html_module
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from regnekraft.ops.models import JobRun
from regnekraft.portal.views.ops import RUNS_PER_PAGE, cron_in_words

from . import runs_world as w

pytestmark = pytest.mark.django_db

URL = "/en/operator/operations/"


@pytest.fixture
def folk():
    return w.people()


@pytest.fixture
def operator(client, folk):
    client.force_login(folk["operator"].user)
    return client


def _text(response) -> str:
    """The page's text without tags and with runs of white space made one."""
    html = response.content.decode()
    return html_module.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_others_are_refused_and_do_not_see_the_link(client, folk):
    for role in ("finance", "pi", "decision_maker"):
        client.force_login(folk[role].user)
        refused = client.get(URL)
        assert refused.status_code == 403, role
        assert "This page is for" in refused.content.decode()
        assert 'href="/en/operator/operations/"' not in client.get("/en/").content.decode()
        assert client.post(URL, {"action": "run", "schedule": "1"}).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302  # to the sign-in page


def test_the_operator_has_it_in_the_navigation(operator):
    assert 'href="/en/operator/operations/"' in operator.get("/en/").content.decode()


def test_the_schedule_in_words_with_its_cron_and_last_outcome(operator):
    balances = w.schedule("balances", cron="0 * * * *")
    w.schedule("slurm-apply:betzy", job="slurm-apply", cron="*/15 * * * *")
    w.schedule("digests", job="digests", cron="0 7 * * *", enabled=False)
    w.run(balances, started=w.T0, seconds=75)
    page = operator.get(URL)
    assert page.status_code == 200
    text = _text(page)
    assert "every 15 minutes" in text and "*/15 * * * *" in text
    assert "every day at 07:00" in text and "no (off)" in text
    assert "every hour, on the hour" in text
    assert "succeeded" in text and "1 min 15 s" in text
    assert "not run yet" in text


def test_a_failed_run_is_highlighted_with_its_error(operator):
    sched = w.schedule("slurm-apply:betzy", job="slurm-apply", cron="*/15 * * * *")
    w.run(sched, started=w.T0, summary={"accounts": 3})
    w.run(
        sched,
        started=w.T0 + dt.timedelta(minutes=15),
        status=JobRun.Status.FAILED,
        error=w.TRACEBACK,
        summary={},
        attempt=4,
    )
    html = operator.get(URL).content.decode()
    row = re.search(r'<tr class="run-failed">(.*?)</tr>', html, re.S)
    assert row, "the failed run's row is marked"
    assert 'class="refusal"' in row.group(1)
    assert "ConnectionError: sacctmgr on betzy: connection refused" in row.group(1)
    assert "line 40, in scheduled_apply" in row.group(1)  # the whole error, folded
    ok = re.search(r'<tr class="run-succeeded">(.*?)</tr>', html, re.S).group(1)
    assert 'class="refusal"' not in ok
    # what changed, as a small definition list
    assert re.search(r"<dt>accounts</dt><dd>3</dd>", ok)
    # and the schedule's last outcome names the failure too
    schedules = html.split('id="table-schedules"')[1].split("</table>")[0]
    assert "Failed" in schedules or "failed" in schedules
    assert "connection refused" in schedules


def test_the_runs_are_paged_and_filtered(operator):
    sched = w.schedule("balances")
    runs = w.many_runs(sched, RUNS_PER_PAGE + 3)
    other = w.schedule("digests", job="digests", cron="0 7 * * *")
    w.run(other, started=w.T0 - dt.timedelta(days=1), status=JobRun.Status.FAILED, error="boom")
    first = operator.get(URL).content.decode()
    assert first.count('<tr class="run-') == RUNS_PER_PAGE
    assert 'rel="next"' in first and "runs_page=2" in first
    second = operator.get(URL, {"runs_page": 2}).content.decode()
    assert second.count('<tr class="run-') == 4
    assert 'rel="next"' not in second.split('id="table-runs"')[1].split("</section>")[0]
    started = re.compile(r'<tr class="run-[a-z]+">\s*<th scope="row">([^<]+)</th>')
    one, two = set(started.findall(first)), set(started.findall(second))
    assert len(one) == RUNS_PER_PAGE and len(two) == 4 and not one & two
    assert len(runs) + 1 == len(one | two)
    failed = operator.get(URL, {"status": "failed"}).content.decode()
    assert failed.count('<tr class="run-') == 1 and "boom" in failed
    digests = operator.get(URL, {"job": "digests"}).content.decode()
    assert digests.count('<tr class="run-') == 1
    # a mangled filter is ignored, not an error
    assert operator.get(URL, {"status": "exploded", "runs_page": "x"}).status_code == 200
    assert operator.get(URL, {"job": "bal\x00ances"}).content.decode().count('<tr class="run-') == (
        RUNS_PER_PAGE
    )


def test_the_runs_download_as_csv(operator):
    sched = w.schedule("balances")
    w.run(sched, status=JobRun.Status.FAILED, error="=cmd|boom")
    answer = operator.get(URL, {"export": "runs"})
    assert answer["Content-Type"].startswith("text/csv")
    body = answer.content.decode()
    assert body.startswith("\ufeffStarted;Job;Schedule")  # the Norwegian spreadsheet's dialect
    assert "'=cmd|boom" in body
    plain = operator.get(URL, {"export": "runs", "dialect": "plain"}).content.decode()
    assert plain.splitlines()[0].startswith("Started,Job,Schedule")


def test_the_workers_and_whether_one_is_alive(operator):
    missing = _text(operator.get(URL))
    assert "No worker has been seen in the last 5 minutes" in missing
    assert "None has ever run on this server" in missing
    w.worker("node1:old", dt.timedelta(hours=2))
    stale = _text(operator.get(URL))
    assert "No worker has been seen in the last 5 minutes" in stale
    assert "not seen for more than 5 minutes" in stale
    w.worker("node1:new", dt.timedelta(seconds=3))
    w.worker("node2:gone", dt.timedelta(seconds=30), stopped=True)
    alive = _text(operator.get(URL))
    assert "A worker is running" in alive
    assert "No worker has been seen" not in alive
    assert "node1:new" in alive and "alive" in alive and "stopped" in alive


def test_the_queries_do_not_grow_with_the_runs(operator, django_assert_max_num_queries):
    for i in range(2):
        w.many_runs(w.schedule(f"small-{i}"), 2)
        w.worker(f"small-{i}", dt.timedelta(seconds=i))
    with CaptureQueriesContext(connection) as small:
        assert operator.get(URL).status_code == 200
    for i in range(15):
        sched = w.schedule(f"large-{i}", cron="*/5 * * * *")
        w.many_runs(sched, 20)
        w.run(sched, status=JobRun.Status.FAILED, error="boom", started=w.T0 - dt.timedelta(1))
        w.worker(f"large-{i}", dt.timedelta(minutes=i))
    with django_assert_max_num_queries(len(small)):
        page = operator.get(URL)
    assert page.status_code == 200
    assert page.content.decode().count('<tr class="run-') == RUNS_PER_PAGE


def test_run_now_from_the_page(operator):
    w.service("run_now")
    from django_tasks_db.models import DBTaskResult

    sched = w.schedule("balances")
    done = operator.post(URL, {"action": "run", "schedule": sched.pk}, follow=True)
    assert done.status_code == 200
    assert "balances is queued to run now" in _text(done)
    sched.refresh_from_db()
    assert sched.pending_task_id and DBTaskResult.objects.count() == 1
    again = operator.post(URL, {"action": "run", "schedule": sched.pk}, follow=True)
    assert "already queued or running" in _text(again)
    assert DBTaskResult.objects.count() == 1
    unknown = operator.post(URL, {"action": "run", "schedule": "999999"}, follow=True)
    assert "No such schedule" in _text(unknown)
    retired = w.schedule("old", job="a-job-no-longer-there")
    refused = operator.post(URL, {"action": "run", "schedule": retired.pk}, follow=True)
    assert "unknown job 'a-job-no-longer-there'" in _text(refused)
    assert DBTaskResult.objects.count() == 1


def test_change_a_schedule_from_the_page(operator):
    w.service("change_schedule")
    sched = w.schedule("balances")
    done = operator.post(
        URL,
        {"action": "change", "schedule": "balances", "cron": "*/30 * * * *", "enabled": "off"},
        follow=True,
    )
    assert done.status_code == 200
    assert "balances is off" in _text(done)
    sched.refresh_from_db()
    assert (sched.cron, sched.enabled) == ("*/30 * * * *", False)
    on = operator.post(URL, {"action": "change", "schedule": "balances", "enabled": "on"})
    assert on.status_code == 302
    sched.refresh_from_db()
    assert (sched.cron, sched.enabled) == ("*/30 * * * *", True)


def test_a_bad_schedule_change_is_shown_on_the_form(operator):
    w.service("change_schedule")
    sched = w.schedule("balances")
    bad = operator.post(URL, {"action": "change", "schedule": "balances", "cron": "soon"})
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "is not a cron expression" in html and "has-error" in html
    nothing = operator.post(URL, {"action": "change", "schedule": "balances"})
    assert "Give a new time, or turn the schedule on or off." in nothing.content.decode()
    sched.refresh_from_db()
    assert (sched.cron, sched.enabled) == ("0 * * * *", True)


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("* * * * *", "every minute"),
        ("0 * * * *", "every hour, on the hour"),
        ("45 * * * *", "every hour, 45 minutes past"),
        ("*/5 * * * *", "every 5 minutes"),
        ("30 2 * * *", "every day at 02:30"),
        ("0 6 1 * *", "on day 1 of every month at 06:00"),
        ("0 4 * * 0", "every sunday at 04:00"),
        ("0 4 * * 7", "every sunday at 04:00"),
        ("15 */2 * * *", "every 2 hours, 15 minutes past"),
        ("0 6 1 1 *", ""),  # once a year: shown as the expression only
        ("0 6 * * 1-5", ""),
        ("nonsense", ""),
    ],
)
def test_cron_in_words(cron, words):
    from django.utils import translation

    with translation.override("en"):
        assert cron_in_words(cron) == words


# -- the admin -------------------------------------------------------------------------------


@pytest.fixture
def admin_client(folk):
    """The operator as a staff superuser (the admin speaks bokmål: it has no /en/ prefix)."""
    user = folk["operator"].user
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_changes_cron_and_enabled_through_the_service(admin_client):
    w.service("change_schedule")
    sched = w.schedule("balances")
    url = f"/admin/ops/schedule/{sched.pk}/change/"
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, {"cron": "61 * * * *", "enabled": "on"})
    assert bad.status_code == 200
    refusal = re.search(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', bad.content.decode(), re.S)
    assert refusal and "61 * * * *" in refusal.group(1)
    sched.refresh_from_db()
    assert sched.cron == "0 * * * *"
    done = admin_client.post(url, {"cron": "*/20   * * * *"})  # enabled unticked: off
    assert done.status_code == 302
    sched.refresh_from_db()
    assert (sched.cron, sched.enabled, sched.changed_by_operator) == ("*/20 * * * *", False, True)
    assert sched.next_run_at.astimezone(dt.UTC).minute % 20 == 0
    # the rows come from the defaults: none added or deleted by hand
    assert admin_client.get("/admin/ops/schedule/add/").status_code == 403
    assert admin_client.get(f"/admin/ops/schedule/{sched.pk}/delete/").status_code == 403


def test_the_admin_shows_runs_and_workers_read_only(admin_client):
    sched = w.schedule("balances")
    failed = w.run(sched, status=JobRun.Status.FAILED, error=w.TRACEBACK)
    w.worker("node1:1", dt.timedelta(seconds=2))
    assert "balances" in admin_client.get("/admin/ops/jobrun/").content.decode()
    shown = admin_client.get(f"/admin/ops/jobrun/{failed.pk}/change/")
    assert shown.status_code == 200 and "connection refused" in shown.content.decode()
    assert 'name="_save"' not in shown.content.decode()
    assert (
        admin_client.post(
            f"/admin/ops/jobrun/{failed.pk}/change/", {"status": "succeeded"}
        ).status_code
        == 403
    )
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert "node1:1" in admin_client.get("/admin/ops/workerbeat/").content.decode()
