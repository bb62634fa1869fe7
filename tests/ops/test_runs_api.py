"""The worker's record in the API (operators only): /api/job-runs/ (filtered, newest first, paged
by cursor), /api/schedules/ (last and next run; change it; run it now), /api/workers/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from regnekraft.api.pagination import MAX_LIMIT
from regnekraft.audit.models import AuditEntry
from regnekraft.ops.models import JobRun, Schedule

from . import runs_world as w

pytestmark = pytest.mark.django_db


@pytest.fixture
def folk():
    return w.people()


@pytest.fixture
def api():
    """``api(person)``: a client signed in with that person's token; ``api(None)``: anonymous."""

    def make(person) -> APIClient:
        client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
        if person is not None:
            token, _ = Token.objects.get_or_create(user=person.user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


LISTS = ("/api/job-runs/", "/api/schedules/", "/api/workers/")


@pytest.mark.parametrize("url", LISTS)
def test_only_operators_read_the_worker_record(folk, api, url):
    sched = w.schedule("balances")
    w.run(sched)
    w.worker("w1", dt.timedelta(seconds=5))
    assert api(folk["operator"]).get(url).status_code == 200
    for role in ("finance", "pi", "decision_maker"):
        answer = api(folk[role]).get(url)
        assert answer.status_code == 403, role
        assert "operator" in answer.json()["detail"]
    assert api(None).get(url).status_code == 401


def test_job_runs_newest_first_with_what_changed_and_how_long(folk, api):
    sched = w.schedule("balances")
    w.run(sched, started=w.T0, summary={"threshold_events": 1})
    w.run(sched, started=w.T0 + dt.timedelta(hours=1), seconds=90, summary={"expired": 3})
    w.run(None, job="slurm-apply", started=w.T0 + dt.timedelta(hours=2), seconds=None,
          status=JobRun.Status.RUNNING)  # fmt: skip
    rows = api(folk["operator"]).get("/api/job-runs/").json()["results"]
    assert [r["job"] for r in rows] == ["slurm-apply", "balances", "balances"]
    running, newer, older = rows
    assert running["status"] == "running"
    assert running["finished_at"] is None and running["duration_seconds"] is None
    assert running["schedule"] is None and running["schedule_name"] is None
    assert newer["duration_seconds"] == 90.0
    assert newer["summary"] == {"expired": 3}
    assert newer["schedule"] == sched.pk and newer["schedule_name"] == "balances"
    assert older["summary"] == {"threshold_events": 1}


def test_a_failed_run_names_its_error(folk, api):
    sched = w.schedule("slurm-apply:betzy", job="slurm-apply")
    w.run(sched, status=JobRun.Status.FAILED, error=w.TRACEBACK, attempt=4)
    row = api(folk["operator"]).get("/api/job-runs/").json()["results"][0]
    assert row["status"] == "failed" and row["attempt"] == 4
    assert "connection refused" in row["error"]
    detail = api(folk["operator"]).get(f"/api/job-runs/{row['id']}/").json()
    assert detail["error"] == w.TRACEBACK


def test_job_runs_filter_by_job_status_and_schedule(folk, api):
    balances = w.schedule("balances")
    apply = w.schedule("slurm-apply:betzy", job="slurm-apply", cron="*/15 * * * *")
    w.run(balances, started=w.T0)
    w.run(apply, started=w.T0 + dt.timedelta(minutes=1), status=JobRun.Status.FAILED, error="x")
    w.run(apply, started=w.T0 + dt.timedelta(minutes=2))
    client = api(folk["operator"])

    def jobs(**query):
        answer = client.get("/api/job-runs/", query)
        assert answer.status_code == 200, answer.content
        return [(r["job"], r["status"]) for r in answer.json()["results"]]

    assert jobs(job="balances") == [("balances", "succeeded")]
    assert jobs(status="failed") == [("slurm-apply", "failed")]
    assert jobs(schedule=apply.pk) == [("slurm-apply", "succeeded"), ("slurm-apply", "failed")]
    assert jobs(schedule=apply.pk, status="succeeded") == [("slurm-apply", "succeeded")]
    wrong = client.get("/api/job-runs/", {"status": "exploded"})
    assert wrong.status_code == 400 and "status" in wrong.json()
    assert "failed" in str(wrong.json()["status"])
    assert jobs(schedule="slurm-apply:betzy", status="failed") == [("slurm-apply", "failed")]
    assert jobs(schedule="balances") == [("balances", "succeeded")]
    assert jobs(schedule="no-such-schedule") == []
    assert jobs(schedule=str(2**70)) == []  # beyond any id: matches nothing, no error


def test_job_runs_are_paged_by_cursor_without_gaps_or_repeats(folk, api):
    sched = w.schedule("balances")
    made = w.many_runs(sched, 5)
    # two runs at the same moment: the id breaks the tie, neither is lost between pages
    w.run(sched, started=made[2].started_at)
    client = api(folk["operator"])
    seen, url, pages = [], "/api/job-runs/?limit=2", 0
    while url:
        answer = client.get(url).json()
        assert len(answer["results"]) <= 2
        seen += [(r["started_at"], r["id"]) for r in answer["results"]]
        url, pages = answer["next"], pages + 1
    assert pages == 3 and len(seen) == 6
    assert len(set(seen)) == 6
    assert seen == sorted(seen, reverse=True)
    assert client.get("/api/job-runs/", {"offset": 2}).status_code == 400


def test_a_page_of_job_runs_is_bounded(folk, api):
    sched = w.schedule("balances")
    w.many_runs(sched, MAX_LIMIT + 1)
    answer = api(folk["operator"]).get("/api/job-runs/", {"limit": 10**9}).json()
    assert len(answer["results"]) == MAX_LIMIT
    assert answer["next"] is not None
    assert len(api(folk["operator"]).get("/api/job-runs/").json()["results"]) == 100


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as done:
        assert client.get(url).status_code == 200
    return len(done)


@pytest.mark.parametrize("url", LISTS)
def test_the_queries_of_a_list_do_not_grow_with_the_runs(
    folk, api, url, django_assert_max_num_queries
):
    client = api(folk["operator"])
    for i in range(2):
        w.many_runs(w.schedule(f"small-{i}"), 2)
        w.worker(f"small-{i}", dt.timedelta(seconds=i))
    small = _queries(client, url)
    for i in range(20):
        w.many_runs(w.schedule(f"large-{i}", cron="*/5 * * * *"), 30)
        w.worker(f"large-{i}", dt.timedelta(minutes=i))
    with django_assert_max_num_queries(small):
        answer = client.get(url)
    assert answer.status_code == 200
    assert len(answer.json()["results"]) > 20


def test_schedules_show_the_last_run_and_the_next(folk, api):
    balances = w.schedule("balances")
    idle = w.schedule("digests", job="digests", cron="0 7 * * *", enabled=False)
    w.run(balances, started=w.T0, seconds=3)
    w.run(
        balances,
        started=w.T0 + dt.timedelta(hours=1),
        seconds=4.5,
        status=JobRun.Status.RETRYING,
        error=w.TRACEBACK,
    )
    rows = {r["name"]: r for r in api(folk["operator"]).get("/api/schedules/").json()["results"]}
    assert set(rows) == {"balances", "digests"}
    last = rows["balances"]["last_run"]
    assert last["status"] == "retrying"
    assert last["duration_seconds"] == 4.5
    assert "connection refused" in last["error"]
    assert rows["balances"]["next_run_at"]
    assert rows["balances"]["cron"] == "0 * * * *" and rows["balances"]["enabled"] is True
    assert rows["balances"]["description"]  # the job's line from ops/jobs.py
    assert rows["digests"]["last_run"] is None and rows["digests"]["enabled"] is False
    one = api(folk["operator"]).get(f"/api/schedules/{idle.pk}/").json()
    assert one["name"] == "digests"


def test_an_operator_changes_a_schedule(folk, api):
    w.service("change_schedule")
    sched = w.schedule("balances")
    client = api(folk["operator"])
    answer = client.patch(
        f"/api/schedules/{sched.pk}/", {"cron": "*/10  * * * *", "enabled": False}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["cron"] == "*/10 * * * *" and answer.json()["enabled"] is False
    sched.refresh_from_db()
    assert (sched.cron, sched.enabled, sched.changed_by_operator) == ("*/10 * * * *", False, True)
    assert sched.next_run_at.astimezone(dt.UTC).minute % 10 == 0
    assert AuditEntry.objects.filter(object_type__iendswith="schedule").exists()


def test_a_schedule_change_is_refused_clearly(folk, api):
    w.service("change_schedule")
    sched = w.schedule("balances")
    client = api(folk["operator"])
    url = f"/api/schedules/{sched.pk}/"
    wrong = client.patch(url, {"cron": "every tuesday"}, format="json")
    assert wrong.status_code == 400 and "cron" in wrong.json()
    assert "every tuesday" in str(wrong.json()["cron"])
    empty = client.patch(url, {}, format="json")
    assert empty.status_code == 400 and "cron" in str(empty.json())
    assert client.put(url, {"cron": "* * * * *"}, format="json").status_code == 405
    for role in ("finance", "pi"):
        assert api(folk[role]).patch(url, {"enabled": False}, format="json").status_code == 403
    sched.refresh_from_db()
    assert (sched.cron, sched.enabled) == ("0 * * * *", True)


def test_run_now_queues_one_run_and_not_two(folk, api):
    w.service("run_now")
    from django_tasks_db.models import DBTaskResult

    sched = w.schedule("balances")
    client = api(folk["operator"])
    first = client.post(f"/api/schedules/{sched.pk}/run/")
    assert first.status_code == 200, first.content
    assert first.json()["schedule"] == "balances"
    task_id = first.json()["task_id"]
    sched.refresh_from_db()
    assert sched.pending_task_id == task_id
    assert DBTaskResult.objects.filter(id=task_id).exists()
    again = client.post(f"/api/schedules/{sched.pk}/run/")
    assert again.json()["task_id"] == task_id
    assert DBTaskResult.objects.count() == 1
    retired = w.schedule("old", job="a-job-no-longer-there")
    refused = client.post(f"/api/schedules/{retired.pk}/run/")
    assert refused.status_code == 400
    assert "a-job-no-longer-there" in str(refused.json()["job"])
    assert DBTaskResult.objects.count() == 1


def test_only_operators_run_a_schedule_now(folk, api):
    from django_tasks_db.models import DBTaskResult

    sched = w.schedule("balances")
    for role in ("finance", "pi", "decision_maker"):
        assert api(folk[role]).post(f"/api/schedules/{sched.pk}/run/").status_code == 403
    assert api(None).post(f"/api/schedules/{sched.pk}/run/").status_code == 401
    assert api(folk["operator"]).post("/api/schedules/999999/run/").status_code == 404
    assert not DBTaskResult.objects.exists()
    assert Schedule.objects.get().pending_task_id == ""


def test_workers_seen_recently_or_not(folk, api):
    w.worker("alive", dt.timedelta(seconds=10))
    w.worker("silent", dt.timedelta(minutes=30))
    w.worker("stopped", dt.timedelta(seconds=20), stopped=True)
    rows = api(folk["operator"]).get("/api/workers/").json()["results"]
    assert [r["id"] for r in rows] == ["alive", "stopped", "silent"]
    assert {r["id"]: r["alive"] for r in rows} == {
        "alive": True,
        "stopped": False,
        "silent": False,
    }
