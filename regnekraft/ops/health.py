"""What the health checks and the portal ask of the worker."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from .models import WorkerBeat

# /readyz: a worker must have been seen this recently (issue 12: within 5 minutes).
WORKER_SEEN_WITHIN = dt.timedelta(minutes=5)


def last_worker_seen() -> dt.datetime | None:
    """When any worker was last seen alive, or None if none ever ran."""
    beat = WorkerBeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    return beat


def worker_alive(now: dt.datetime | None = None) -> bool:
    seen = last_worker_seen()
    return seen is not None and seen >= (now or timezone.now()) - WORKER_SEEN_WITHIN
