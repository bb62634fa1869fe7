import gzip

import pytest

from regnekraft.simulation import Job, TraceError, open_trace
from regnekraft.simulation.readers import write_csv_trace

SWF = """; Version: 2.2
; MaxProcs: 16
; MaxNodes: 8
1 0 -1 100 4 -1 -1 4 200 -1 1 7 2 -1 -1 -1 -1 -1
2 10 -1 50 -1 -1 -1 2 -1 256 1 8 2 -1 -1 -1 -1 -1
3 20 -1 -1 2 -1 -1 2 60 -1 1 8 2 -1 -1 -1 -1 -1
"""


def test_swf_plain_and_gzip_header_and_fields(tmp_path):
    plain = tmp_path / "t.swf"
    plain.write_text(SWF)
    gz = tmp_path / "t.swf.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(SWF)
    for path in (plain, gz):
        r = open_trace(path)
        assert r.max_procs == 16 and r.max_nodes == 8
        jobs = list(r)
        assert [j.id for j in jobs] == [1, 2]  # job 3 has no run time: dropped
        assert r.dropped == 1
        assert jobs[0].cores == 4 and jobs[0].walltime == 200 and jobs[0].user == "7"
        assert jobs[1].walltime == 50  # unknown requested time -> run time
        assert jobs[1].mem == pytest.approx(256 * 2 / 1024)


def test_swf_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.swf"
    p.write_text("; MaxProcs: 4\n1 0 -1 10 1\n")
    with pytest.raises(TraceError, match=r"bad\.swf:2: .*18 fields"):
        list(open_trace(p))
    r = open_trace(p, skip_malformed=True)
    assert list(r) == [] and r.skipped == 1


def test_csv_round_trip_and_errors(tmp_path):
    jobs = [
        Job(
            "a",
            0.0,
            10,
            20,
            cores=3,
            gpus=1,
            user="u1",
            group="g",
            qos="emergency",
            economic=True,
            zone="shielded",
            countries=frozenset({"NO", "SE"}),
            min_tier=2,
        )
    ]
    p = tmp_path / "w.csv"
    write_csv_trace(jobs, p)
    (back,) = list(open_trace(p))
    for f in (
        "id",
        "submit",
        "runtime",
        "walltime",
        "cores",
        "gpus",
        "user",
        "group",
        "qos",
        "economic",
        "zone",
        "countries",
        "min_tier",
    ):
        assert getattr(back, f) == getattr(jobs[0], f), f
    p.write_text(p.read_text() + "b,5,notanumber,,1,0,0,0,u,g,normal,0,open,,1\n")
    with pytest.raises(TraceError, match=r"w\.csv:3:"):
        list(open_trace(p))
    r = open_trace(p, skip_malformed=True)
    assert len(list(r)) == 1 and r.skipped == 1


def test_batsim_reader(traces):
    r = open_trace(traces / "batsim-medium-late" / "medium_late.json")
    jobs = list(r)
    assert r.max_procs == 32 and len(jobs) == 801
    assert all(a.submit <= b.submit for a, b in zip(jobs, jobs[1:], strict=False))
