"""A process of the worker tests: ``python -m tests.ops.worker_child MODE [ARGS]``.

setup HOLD_FILE N     migrate; the platform's schedules off; queue one held job and N quick ones
worker                run a worker until killed
once                  run a worker until nothing is ready
check                 print what the jobs did, as JSON
"""

from __future__ import annotations

import json
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from regnekraft.ops import schedule, tasks  # noqa: E402
from regnekraft.ops.models import JobRun, Schedule  # noqa: E402
from regnekraft.ops.worker import Worker  # noqa: E402

from . import jobs_for_tests  # noqa: E402,F401


def setup(hold_file: str, quick: int) -> None:
    call_command("migrate", verbosity=0)
    schedule.ensure_schedules()
    Schedule.objects.update(enabled=False)
    if hold_file != "-":
        tasks.enqueue("test-hold", {"tag": "held", "hold_file": hold_file})
    for n in range(quick):
        tasks.enqueue("test-record", {"tag": f"quick{n}"})


def check() -> None:
    from django_tasks_db.models import DBTaskResult

    from regnekraft.parties.models import Organisation

    runs = list(JobRun.objects.values("task_id", "job", "status", "worker", "error"))
    print(
        json.dumps(
            {
                "organisations": list(
                    Organisation.objects.filter(name__startswith="worker test").values_list(
                        "short_name", flat=True
                    )
                ),
                "runs": runs,
                "queue": list(DBTaskResult.objects.values_list("status", flat=True)),
            }
        )
    )


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "setup":
        setup(sys.argv[2], int(sys.argv[3]))
    elif mode == "worker":
        Worker().run()
    elif mode == "once":
        Worker(once=True).run()
    elif mode == "check":
        check()
