"""Jobs the worker tests run, registered in regnekraft.ops.jobs.JOBS on import (the worker
processes the tests start import this module first)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.db import transaction

from regnekraft.ops.jobs import JOBS, Job


def record(tag: str) -> dict:
    """Does its work once however often it runs: one organisation per tag."""
    from regnekraft.parties.models import Organisation

    _, created = Organisation.objects.get_or_create(
        short_name=tag[:30], defaults={"name": f"worker test {tag}", "kind": "research"}
    )
    return {"created": created}


def hold(tag: str, hold_file: str) -> dict:
    """``record`` inside a transaction that waits while ``hold_file`` exists (and prints that
    it waits, so a test knows when to kill the worker)."""
    with transaction.atomic():
        summary = record(tag)
        if os.path.exists(hold_file):
            Path(hold_file + ".waiting").write_text(str(os.getpid()))
            while os.path.exists(hold_file):
                time.sleep(0.1)
    return summary


def fail(message: str) -> dict:
    raise RuntimeError(message)


JOBS["test-record"] = Job(record, "worker tests: one organisation per tag")
JOBS["test-hold"] = Job(hold, "worker tests: record, held while a file exists")
JOBS["test-fail"] = Job(fail, "worker tests: always fails", max_attempts=2)
