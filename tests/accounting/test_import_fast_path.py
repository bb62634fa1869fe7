"""The importer's fast paths store exactly what the plain one would.

PostgreSQL: batches are sent as CSV text made by the validator and copied straight into the
usage table while none of their keys is stored, else through the temporary table (skipping the
stored keys); times in the common ISO 8601 forms are written from their text. These tests run
on both databases (on PostgreSQL with DATABASE_URL set), in one process and forked."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from regnekraft.accounting import importer
from regnekraft.accounting.importer import import_usage
from regnekraft.accounting.models import UsageRecord
from tests import factories as f

from .conftest import usage_row, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def granted_gpu(world):
    return f.granted(f.project(code="nn1000k"), world.gpu, 100_000)


@pytest.fixture(params=["one process", "forked"])
def paths(request, monkeypatch):
    if request.param == "forked":
        monkeypatch.setattr(importer, "PARALLEL_MIN_LINES", 1)
    return request.param


def _row(job: str, *, start: str, end: str, user: str = "alice", step: str = "0") -> list[str]:
    row = usage_row("nn1000k", job, "2.5", step=step)
    row[8], row[9], row[10] = start, end, user
    return row


def test_text_fields_with_commas_quotes_and_line_breaks_are_stored_as_given(
    tmp_path, world, granted_gpu, paths
):
    odd = ["a,b", 'say "hi"', "two\nlines", "cr\rhere", "\\.", "tab\there", "back\\slash", "ø"]
    rows = [
        _row(
            f"j{n}-{text}",
            start="2027-02-01T08:00:00",
            end="2027-02-01T09:00:00",
            user=text,
            step=text[:32],
        )
        for n, text in enumerate(odd)
    ]
    rows.append(_row("plain", start="2027-02-01T08:00:00", end="2027-02-01T09:00:00", user=""))
    rows[-1][3] = ""  # an empty step stays an empty string, not NULL
    result = import_usage(write_csv(tmp_path / "u.csv", rows))
    assert result.new == len(rows)
    stored = {r.job_id: (r.username, r.step) for r in UsageRecord.objects.all()}
    assert stored == {row[2]: (row[10], row[3]) for row in rows}
    assert UsageRecord.objects.filter(allocation=granted_gpu).count() == len(rows)


TIMES = [
    "2027-02-01T08:00:00",  # local (Europe/Oslo, +01:00 in winter)
    "2027-07-01T08:00:00",  # local in summer (+02:00)
    "2027-02-01 08:00:00",  # a space for the T
    "2027-02-01T07:00:00Z",
    "2027-02-01T23:30:00+00:00",  # the next day in Oslo: the usage date is local
    "2027-02-01T12:00:00+05:30",
    "2027-02-01T08:00:00.250000",  # fractions and other forms: the general path
    "2027-02-01T08:00:00.5+01:00",
    "2027-03-28T02:30:00",  # in the spring-forward gap
    "2027-10-31T02:30:00",  # in the autumn's repeated hour (the first one)
    "20270201T080000",
]


def test_times_in_every_form_are_stored_as_python_reads_them(tmp_path, world, granted_gpu, paths):
    zone = ZoneInfo(settings.TIME_ZONE)
    rows = []
    for n, text in enumerate(TIMES):
        begin = dt.datetime.fromisoformat(text)
        end = (begin + dt.timedelta(hours=3)).isoformat()
        if "T" not in text or " " in text:
            end = end.replace("T", " ") if " " in text else end
        rows.append(_row(f"t{n}", start=text, end=text if n % 2 else end))
    import_usage(write_csv(tmp_path / "u.csv", rows))
    for n, text in enumerate(TIMES):
        rec = UsageRecord.objects.get(job_id=f"t{n}")
        expected_start = dt.datetime.fromisoformat(rows[n][8])
        expected_end = dt.datetime.fromisoformat(rows[n][9])
        if expected_start.tzinfo is None:
            expected_start = expected_start.replace(tzinfo=zone)
        if expected_end.tzinfo is None:
            expected_end = expected_end.replace(tzinfo=zone)
        assert rec.start.timestamp() == expected_start.timestamp(), text  # PEP 495: gaps
        assert rec.end.timestamp() == expected_end.timestamp(), text
        assert rec.usage_date == expected_end.astimezone(zone).date(), text


def test_stored_and_new_keys_mixed_over_many_batches(
    tmp_path, world, granted_gpu, paths, monkeypatch
):
    """Batches switch between copying straight in and skipping stored keys; every new record is
    stored once, every stored one skipped, and a key twice in a batch keeps its first line."""
    monkeypatch.setattr(importer, "BATCH_SIZE", 50)
    # stored keys at the start and the end, none in between: copying straight in fails, then
    # resumes in the middle, and fails again at the end
    stored = [*range(0, 300, 7), *range(950, 1000, 7)]
    first = [usage_row("nn1000k", n, "1") for n in stored]
    import_usage(write_csv(tmp_path / "a.csv", first))
    stored_before = UsageRecord.objects.count()
    rows = [usage_row("nn1000k", n, "1") for n in range(1000)]
    rows[900][10] = "first"
    rows.insert(905, usage_row("nn1000k", 900, "1"))  # again in the same batch, another user
    rows.insert(500, usage_row("nn1000k", 501, "1"))  # the same record twice in one batch
    result = import_usage(write_csv(tmp_path / "b.csv", rows))
    assert result.read == 1002
    assert result.new == 1000 - stored_before
    assert result.duplicate == stored_before + 2
    assert UsageRecord.objects.count() == 1000
    assert UsageRecord.objects.get(job_id="900").username == "first"
    assert import_usage(write_csv(tmp_path / "b.csv", rows)).new == 0
    assert UsageRecord.objects.count() == 1000


def test_rated_on_each_day_from_the_lookup_done_once(tmp_path, world, paths):
    """The (project, class, day) rating is looked up once and reused: records of the days
    before and after a price list change are rated at each list's price."""
    grant = f.granted(f.project(code="nn1000k"), world.gpu, 100_000)
    f.price_list("A", valid_from=dt.date(2027, 2, 11), prices={"cpu": "0.05", "gpu": "6"})
    rows = [usage_row("nn1000k", n, "3", day=dt.date(2027, 2, 1 + n % 20)) for n in range(200)]
    import_usage(write_csv(tmp_path / "u.csv", rows))
    rated = {
        (r.usage_date < dt.date(2027, 2, 11), r.unit_price_nok, r.charge_nok)
        for r in UsageRecord.objects.filter(allocation=grant)
    }
    assert rated == {(True, Decimal("7.2"), Decimal("21.6")), (False, Decimal("6"), Decimal("18"))}
    assert UsageRecord.objects.filter(allocation=grant).count() == 200
