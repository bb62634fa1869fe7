"""The national data set: ``regnekraft demo --scale national`` (docs/demo.md).

60 organisations, 3,000 projects, 20,000 users, four clusters, two decided rounds, sector
orders for every sector and 12 months of job-level usage (10,000,000 records), built through
the services and the usage importer; ``fraction`` scales it down (0.1: the 10 % set).
Benchmarks call :func:`exists`, :func:`recorded` and :func:`build`.
"""

from __future__ import annotations

from .build import NationalExists, build, describe, exists, recorded

__all__ = ["NationalExists", "build", "describe", "exists", "recorded"]
