"""Django set-up for everything that runs outside a web server: the command line, scripts and
the Slurm bridge's database-backed runs. Safe to call more than once."""

from __future__ import annotations

import os

SETTINGS_MODULE = "regnekraft.settings"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()
