"""Plain data the planning core works on: quarters, resource classes, systems, usage.

The Django catalogue and accounting apps (or a JSON/TOML input file, see ``inputs.py``)
turn their records into these dataclasses; nothing here imports Django.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import total_ordering
from typing import overload

HOURS_PER_DAY = 24.0


@total_ordering
@dataclass(frozen=True)
class Quarter:
    year: int
    q: int  # 1..4

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 4:
            raise ValueError(f"quarter must be 1..4, got {self.q}")

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """'2026Q3', '2026-Q3' or '2026' (= Q1)."""
        t = text.strip().upper().replace("-", "")
        if "Q" in t:
            y, q = t.split("Q")
            return cls(int(y), int(q))
        return cls(int(t), 1)

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def index(self) -> int:
        return self.year * 4 + self.q - 1

    @classmethod
    def from_index(cls, i: int) -> Quarter:
        return cls(i // 4, i % 4 + 1)

    def __add__(self, n: int) -> Quarter:
        return Quarter.from_index(self.index + n)

    @overload
    def __sub__(self, other: Quarter) -> int: ...

    @overload
    def __sub__(self, other: int) -> Quarter: ...

    def __sub__(self, other: Quarter | int) -> Quarter | int:
        """Quarters between two quarters, or the quarter ``other`` quarters earlier."""
        if isinstance(other, Quarter):
            return self.index - other.index
        return Quarter.from_index(self.index - other)

    def __lt__(self, other: Quarter) -> bool:
        return self.index < other.index

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * (self.q - 1) + 1, 1)

    @property
    def end(self) -> dt.date:
        """First day after the quarter."""
        return (self + 1).start

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def hours(self) -> float:
        return self.days * HOURS_PER_DAY

    @property
    def decimal_year(self) -> float:
        return self.year + (self.q - 1) / 4.0

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"


def quarter_range(first: Quarter, last: Quarter) -> list[Quarter]:
    return [Quarter.from_index(i) for i in range(first.index, last.index + 1)]


@dataclass(frozen=True)
class ResourceClass:
    """A class of capacity: CPU core-hours, GPU-hours by type, storage TB.

    ``unit`` is what one piece of hardware gives (a core, a GPU, a TB). ``hourly`` classes are
    measured per period as unit-hours (capacity = units x hours); stock classes (storage) as
    units held (capacity = units).
    """

    key: str
    unit: str
    hourly: bool = True
    label: str = ""

    @property
    def quantity_unit(self) -> str:
        return f"{self.unit}-hours" if self.hourly else self.unit


@dataclass(frozen=True)
class System:
    """A machine (or a share of one) that gives capacity to the national pool.

    ``units`` per resource class count the whole machine; ``share`` is the national share of it
    (1.0 for a national system, 0.02 for Norway's share of LUMI). ``availability`` is the
    expected fraction of time in service (000:1345-1356: uptime down to ~95 %).
    ``power_kw`` per class is the IT power of that partition at full load.
    """

    name: str
    country: str
    commissioned: dt.date
    decommissioned: dt.date | None = None  # first day out of service
    units: dict[str, float] = field(default_factory=dict)
    availability: float = 0.95
    share: float = 1.0
    power_kw: dict[str, float] = field(default_factory=dict)
    pue: float = 1.2
    idle_power_fraction: float = 0.3
    location: str = ""
    grid_intensity_g_per_kwh: float | None = None  # overrides the country's value
    renewable_share: float | None = None  # overrides the country's value
    planned: bool = False  # proposed by the plan, not yet ordered
    source: str = ""

    def active_fraction(self, quarter: Quarter) -> float:
        """Fraction of the quarter's days the system is in service."""
        start = max(self.commissioned, quarter.start)
        end = quarter.end if self.decommissioned is None else min(self.decommissioned, quarter.end)
        return max(0, (end - start).days) / quarter.days

    def capacity(self, resource: ResourceClass, quarter: Quarter) -> float:
        """National capacity this system gives in a quarter, in the class's quantity unit."""
        units = self.units.get(resource.key, 0.0)
        if not units:
            return 0.0
        frac = self.active_fraction(quarter)
        if resource.hourly:
            return units * self.share * self.availability * quarter.hours * frac
        return units * self.share * frac


@dataclass(frozen=True)
class UsagePoint:
    """Usage (or demand) of one resource class in one quarter, in the class's quantity unit."""

    period: Quarter
    resource: str
    quantity: float
