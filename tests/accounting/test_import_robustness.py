"""Bad input to the usage importer is refused whole, naming where it is (issue 10, item 8):
bytes that are not UTF-8, NUL characters, a key given twice with two quantities; JSON files
are read as a stream, so what comes before a damaged end is still checked."""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from regnekraft.accounting import importer
from regnekraft.accounting.importer import ImportRefused, SwfOptions, import_records, import_usage
from regnekraft.accounting.models import ImportBatch, UsageRecord
from tests import factories as f

from .conftest import CSV_HEADER, usage_row, write_csv

pytestmark = pytest.mark.django_db

RECORD = {
    "source": "slurm",
    "cluster": "betzy",
    "job_id": "7",
    "step": "0",
    "account": "nn1000k",
    "kind": "gpu",
    "gpu_type": "A100",
    "quantity": "3",
    "start": "2027-02-01T08:00:00",
    "end": "2027-02-01T09:00:00",
    "user": "bob",
}


@pytest.fixture
def granted_gpu(world):
    return f.granted(f.project(code="nn1000k"), world.gpu, 100_000)


@pytest.fixture(params=["one process", "forked"])
def paths(request, monkeypatch):
    """Both validation paths: in the importing process, and in the forked child."""
    if request.param == "forked":
        monkeypatch.setattr(importer, "PARALLEL_MIN_LINES", 1)
    return request.param


def _refusal(path, **kw) -> ImportRefused:
    with pytest.raises(ImportRefused) as exc:
        import_usage(path, **kw)
    assert UsageRecord.objects.count() == 0 and ImportBatch.objects.count() == 0
    return exc.value


def _csv_bytes(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in [CSV_HEADER, *rows]).encode() + b"\n"


# --- (a) bytes that are not UTF-8 --------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_bytes_that_are_not_utf8_are_refused_naming_line_and_column(
    tmp_path, world, granted_gpu, paths, suffix
):
    rows = [usage_row("nn1000k", n, "1") for n in range(5)]
    rows[2][-1] = "al\x00ce"  # made Latin-1 below, on the 4th line
    data = _csv_bytes(rows).replace(b"al\x00ce", b"al\xe9ce")
    path = tmp_path / f"u{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    refused = _refusal(path)
    bad = refused.line_errors[-1]
    assert (bad.line, bad.column) == (4, len(",".join(usage_row("nn1000k", 2, "1"))) - 2)
    assert "not UTF-8 text: byte(s) e9 cannot be decoded" in str(refused)
    assert f"line 4, column {bad.column}: not UTF-8" in str(refused)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "swf"])
def test_other_formats_name_the_byte_that_is_not_utf8_too(tmp_path, world, granted_gpu, fmt):
    if fmt == "json":
        data = json.dumps([RECORD, RECORD | {"job_id": "8", "user": "XX"}], indent=1).encode()
    elif fmt == "jsonl":
        data = (json.dumps(RECORD) + "\n" + json.dumps(RECORD | {"user": "XX"})).encode()
    else:
        data = b"; UnixStartTime: 1800000000\n1 0 10 3600 4 -1 -1 4 -1 -1 1 XX 2 -1 -1 1 -1 -1\n"
    path = tmp_path / f"u.{fmt}"
    path.write_bytes(data.replace(b"XX", b"\xff\xfe"))
    options = {"swf": SwfOptions(system="betzy", default_project="nn1000k")} if fmt == "swf" else {}
    refused = _refusal(path, **options)
    line = data.split(b"\n").index(next(x for x in data.split(b"\n") if b"XX" in x)) + 1
    column = next(x for x in data.split(b"\n") if b"XX" in x).index(b"XX") + 1
    assert (refused.line_errors[-1].line, refused.line_errors[-1].column) == (line, column)
    assert "byte(s) ff cannot be decoded" in str(refused)


def test_a_damaged_gzip_file_is_refused_not_a_traceback(tmp_path, world):
    path = tmp_path / "u.csv.gz"
    path.write_bytes(gzip.compress(_csv_bytes([usage_row("nn1000k", 1, "1")]))[:-12])
    assert "cannot read u.csv.gz" in str(_refusal(path))


# --- (b) NUL characters ------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["job_id", "user", "step", "source", "account", "quantity"])
def test_a_nul_in_any_csv_field_is_refused_naming_line_and_field(
    tmp_path, world, granted_gpu, paths, column
):
    rows = [usage_row("nn1000k", n, "1") for n in range(4)]
    rows[2][CSV_HEADER.index(column)] += "\x00"
    refused = _refusal(write_csv(tmp_path / "u.csv", rows))
    assert [str(e) for e in refused.line_errors] == [
        f"line 4: field {column} contains a NUL character (\\x00), which no field may hold"
    ]


def test_a_nul_in_a_json_record_is_refused_naming_where_and_field(tmp_path, world, granted_gpu):
    (tmp_path / "u.json").write_text(json.dumps([RECORD, RECORD | {"user": "b\x00b"}]))
    refused = _refusal(tmp_path / "u.json")
    assert str(refused.line_errors[0]) == (
        "line 2: field 'user' contains a NUL character (\\x00), which no field may hold"
    )


def test_a_nul_in_records_given_as_dicts_is_refused(world, granted_gpu):
    with pytest.raises(ImportRefused) as exc:
        import_records([RECORD, RECORD | {"job_id": "8\x00"}], source="api")
    assert str(exc.value.line_errors[0]).startswith("line 2: field 'job_id' contains a NUL")
    with pytest.raises(ImportRefused) as exc:
        import_records([RECORD | {"x\x00": "1"}], source="api")
    assert str(exc.value.line_errors[0]).startswith("line 1: field 'x\\x00' contains a NUL")
    with pytest.raises(ValidationError, match="source contains a NUL"):
        import_records([RECORD], source="sacct\x00")
    assert UsageRecord.objects.count() == 0


def test_a_nul_in_an_swf_line_is_refused(tmp_path, world, granted_gpu):
    (tmp_path / "t.swf").write_text(
        "; UnixStartTime: 1800000000\n1\x00 0 10 3600 4 -1 -1 4 -1 -1 1 5 2 -1 -1 1 -1 -1\n"
    )
    refused = _refusal(tmp_path / "t.swf", swf=SwfOptions(system="betzy", default_project="x"))
    assert "line 2: the line contains a NUL character" in str(refused)


# --- (c) one key twice in a file ---------------------------------------------------------------


def test_a_key_twice_with_two_quantities_is_refused_naming_both_lines(
    tmp_path, world, granted_gpu, paths
):
    rows = [usage_row("nn1000k", n, "1") for n in range(30_000)]  # two write batches
    rows[25_000] = usage_row("nn1000k", 3, "2")  # job 3 again (line 5), another quantity
    rows[25_001] = usage_row("nn1000k", 4, "1.0000")  # job 4 again, the same quantity
    refused = _refusal(write_csv(tmp_path / "u.csv", rows))
    assert [e.line for e in refused.line_errors] == [25_002]
    assert str(refused.line_errors[0]) == (
        "line 25002: the same source, cluster, job id, step and resource class as on line 5, "
        "with another quantity: the file contradicts itself; keep one of the two"
    )


def test_the_same_record_twice_in_a_file_is_one_record_and_a_duplicate(
    tmp_path, world, granted_gpu, paths
):
    rows = [usage_row("nn1000k", n, "1") for n in range(30_000)]
    rows[25_000] = usage_row("nn1000k", 3, "1.00000")  # job 3 again, the same quantity
    result = import_usage(write_csv(tmp_path / "u.csv", rows))
    assert (result.read, result.new, result.duplicate) == (30_000, 29_999, 1)
    assert UsageRecord.objects.get(job_id="3").quantity == Decimal("1")


def test_keys_differ_by_step_source_and_class(tmp_path, world, granted_gpu):
    rows = [
        usage_row("nn1000k", 1, "1"),
        usage_row("nn1000k", 1, "2", step="batch"),
        usage_row("nn1000k", 1, "3", kind="cpu", gpu_type=""),
    ]
    rows.append(usage_row("nn1000k", 1, "4"))
    rows[-1][0] = "other"  # the source
    f.granted(granted_gpu.project, world.cpu, 1000)
    assert import_usage(write_csv(tmp_path / "u.csv", rows)).new == 4


def test_a_json_key_twice_is_named_by_record(tmp_path, world, granted_gpu):
    (tmp_path / "u.json").write_text(json.dumps([RECORD, RECORD | {"quantity": 4}]))
    refused = _refusal(tmp_path / "u.json")
    assert str(refused.line_errors[0]).startswith(
        "line 2: the same source, cluster, job id, step and resource class as on line 1, with "
        "another quantity"
    )


def test_records_given_as_dicts_twice_with_two_quantities_are_refused(world, granted_gpu):
    with pytest.raises(ImportRefused, match="line 3: the same .* as on line 1, with another"):
        import_records([RECORD, RECORD, RECORD | {"quantity": "5"}], source="api")


# --- (d) JSON read as a stream -----------------------------------------------------------------


@pytest.mark.parametrize("chunk", [3, 1 << 20])
@pytest.mark.parametrize("shape", ["list", "object", "indented"])
def test_json_streamed_in_any_chunks_imports_the_same(
    tmp_path, world, granted_gpu, monkeypatch, chunk, shape
):
    monkeypatch.setattr(importer, "_JSON_CHUNK", chunk)
    records = [RECORD | {"job_id": str(n), "user": "bjørn", "quantity": n / 4} for n in range(50)]
    if shape == "object":
        text = json.dumps({"meta": {"from": ["sacct", 1]}, "records": records, "n": 50})
    else:
        text = json.dumps(records, indent=2 if shape == "indented" else None)
    (tmp_path / "u.json").write_text(text, encoding="utf-8")
    result = import_usage(tmp_path / "u.json")
    assert (result.read, result.new) == (50, 50)
    assert UsageRecord.objects.get(job_id="49").quantity == Decimal("12.25")
    assert set(UsageRecord.objects.values_list("username", flat=True)) == {"bjørn"}


def test_json_records_are_named_by_number_and_damage_by_line_and_column(
    tmp_path, world, granted_gpu
):
    """A record by its number, as the API names them; JSON that is not valid by where it is."""
    bad = [RECORD, RECORD | {"job_id": "8", "quantity": "x"}]
    (tmp_path / "u.json").write_text(json.dumps(bad, indent=1))
    assert str(_refusal(tmp_path / "u.json").line_errors[0]) == (
        "line 2: quantity 'x' is not a number"
    )
    (tmp_path / "u.json").write_text('[\n {"job_id": 1},\n {"job_id": 2,, }\n]')
    assert str(_refusal(tmp_path / "u.json").line_errors[-1]) == (
        "line 3, column 15: not valid JSON: Expecting property name enclosed in double quotes"
    )


def test_what_comes_before_a_damaged_end_of_a_json_file_is_checked(tmp_path, world, granted_gpu):
    """Read as a stream, the records before the damage are validated too (json.load would only
    have said the file is not JSON)."""
    text = json.dumps([RECORD, RECORD | {"job_id": "8", "account": "nobody"}, RECORD])
    (tmp_path / "u.json").write_text(text[:-30])
    refused = _refusal(tmp_path / "u.json")
    messages = [str(e) for e in refused.line_errors]
    assert "unknown account (project code) 'nobody'" in messages[0]
    assert re.match(r"line 1, column \d+: not valid JSON: Unterminated string", messages[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"rec": []}', 'line 1, column 12: not valid JSON: expected a list of records or {"rec'),
        ('{"records": 5}', 'line 1, column 13: not valid JSON: "records" must be given once'),
        ('{"records": [], "records": []}', 'column 28: not valid JSON: "records" must be given'),
        ("[1,]", "line 1, column 4: not valid JSON: Expecting value"),
        ("[] []", "line 1, column 4: not valid JSON: more data after the records"),
        ('{"records": [],}', "column 16: not valid JSON: expecting a property name after ','"),
        ("\n\n  [{} {}]", "line 3, column 7: not valid JSON: expecting ',' or ']' after a record"),
        ("", 'line 1, column 1: not valid JSON: expected a list of records or {"records": [...]}'),
    ],
)
def test_json_structure_errors(tmp_path, world, text, message):
    (tmp_path / "u.json").write_text(text)
    assert message in str(_refusal(tmp_path / "u.json"))


def test_an_empty_json_list_imports_nothing(tmp_path, world):
    (tmp_path / "u.json").write_text('{"records": []}')
    assert import_usage(tmp_path / "u.json").read == 0
