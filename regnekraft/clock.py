"""The platform's today. ``REGNEKRAFT_TODAY`` (an ISO date, in the settings or the environment)
sets it for a test world or a demo that lives in another year; otherwise it is the local date."""

from __future__ import annotations

import datetime as dt
import os

from django.conf import settings
from django.utils import timezone


def today() -> dt.date:
    fixed = getattr(settings, "REGNEKRAFT_TODAY", None) or os.environ.get("REGNEKRAFT_TODAY")
    if fixed:
        return dt.date.fromisoformat(str(fixed))
    return timezone.localdate()
