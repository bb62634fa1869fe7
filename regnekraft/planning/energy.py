"""Energy and carbon per system, attributed to projects by their share of the usage.

Per system partition (resource class) and period:

    IT energy (kWh)  = power_kw x (idle + (1 - idle) x utilisation) x hours in service x share
    facility energy  = IT energy x PUE
    emissions (kg)   = facility energy x grid intensity (g/kWh) / 1000

The grid intensity comes from the system's country unless the system overrides it; the study
gives Norway 36 g CO2/kWh and Germany 421 (000:1698-1704). Others are configurable.
Attribution gives every project its share of a partition's usage of the partition's energy,
idle energy included, so the project figures add up to the system totals exactly.

The figures are what the study's effect goal 4 asks to follow (000:3730-3750): the share of
energy from renewable sources, the carbon footprint, and energy efficiency (PUE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .model import Quarter, ResourceClass, System

# g CO2 per kWh. Study: 000:1698-1704.
STUDY_GRID_INTENSITY = {"NO": 36.0, "DE": 421.0}


@dataclass(frozen=True)
class Grid:
    """Grid figures by country code; ``renewable_share`` is the share of renewable power."""

    intensity_g_per_kwh: Mapping[str, float]
    renewable_share: Mapping[str, float]
    sources: Mapping[str, str]

    def intensity(self, system: System) -> float:
        if system.grid_intensity_g_per_kwh is not None:
            return system.grid_intensity_g_per_kwh
        try:
            return self.intensity_g_per_kwh[system.country]
        except KeyError as exc:
            raise KeyError(
                f"no grid intensity for country {system.country!r} (system {system.name}); "
                "add it to the input's [grid] table"
            ) from exc

    def renewable(self, system: System) -> float | None:
        if system.renewable_share is not None:
            return system.renewable_share
        return self.renewable_share.get(system.country)


def study_grid() -> Grid:
    return Grid(
        dict(STUDY_GRID_INTENSITY),
        {},
        {"NO": "000:1698-1704", "DE": "000:1698-1704"},
    )


@dataclass(frozen=True)
class ProjectUsage:
    """A project's usage of one system's resource class in a period (class quantity unit)."""

    project: str
    system: str
    resource: str
    period: Quarter
    quantity: float


@dataclass(frozen=True)
class PartitionEnergy:
    system: str
    resource: str
    period: Quarter
    power_kw: float
    utilisation: float
    hours: float
    share: float
    pue: float
    intensity_g_per_kwh: float
    renewable_share: float | None
    it_kwh: float
    facility_kwh: float
    co2_kg: float

    def as_dict(self) -> dict:
        return {
            "system": self.system,
            "resource": self.resource,
            "period": str(self.period),
            "inputs": {
                "power_kw": self.power_kw,
                "utilisation": self.utilisation,
                "hours_in_service": self.hours,
                "national_share": self.share,
                "pue": self.pue,
                "grid_intensity_g_per_kwh": self.intensity_g_per_kwh,
                "renewable_share": self.renewable_share,
            },
            "it_kwh": self.it_kwh,
            "facility_kwh": self.facility_kwh,
            "co2_kg": self.co2_kg,
        }


def partition_energy(
    system: System,
    resource: str,
    period: Quarter,
    utilisation: float,
    grid: Grid,
    idle_fraction: float | None = None,
) -> PartitionEnergy:
    idle = system.idle_power_fraction if idle_fraction is None else idle_fraction
    power = system.power_kw.get(resource, 0.0)
    hours = period.hours * system.active_fraction(period)
    u = min(max(utilisation, 0.0), 1.0)
    it = power * (idle + (1.0 - idle) * u) * hours * system.share
    fac = it * system.pue
    g = grid.intensity(system)
    return PartitionEnergy(
        system.name,
        resource,
        period,
        power,
        u,
        hours,
        system.share,
        system.pue,
        g,
        grid.renewable(system),
        it,
        fac,
        fac * g / 1000.0,
    )


@dataclass(frozen=True)
class EnergyReport:
    partitions: tuple[PartitionEnergy, ...]
    projects: Mapping[str, Mapping[str, float]]  # project -> {facility_kwh, co2_kg}
    by_system: Mapping[str, Mapping[str, float]]
    indicators: Mapping[str, float | None]
    unattributed: Mapping[str, float]  # energy of partitions with no recorded usage

    def as_dict(self) -> dict:
        return {
            "partitions": [p.as_dict() for p in self.partitions],
            "by_system": {k: dict(v) for k, v in self.by_system.items()},
            "projects": {k: dict(v) for k, v in self.projects.items()},
            "unattributed": dict(self.unattributed),
            "indicators": dict(self.indicators),
        }


def energy_report(
    systems: Iterable[System],
    usage: Iterable[ProjectUsage],
    periods: Iterable[Quarter],
    grid: Grid,
    utilisation: Mapping[tuple[str, str], float] | None = None,
    resources: Mapping[str, ResourceClass] | None = None,
) -> EnergyReport:
    """Energy per system partition and period, attributed to projects by usage share.

    A partition's utilisation is its recorded usage divided by its capacity in the period,
    unless ``utilisation[(system, resource)]`` gives it. Energy of a partition without any
    recorded usage is reported as unattributed (idle machines still draw power).
    """
    systems = list(systems)
    periods = list(periods)
    used: dict[tuple[str, str, Quarter], float] = {}
    rows: dict[tuple[str, str, Quarter], list[ProjectUsage]] = {}
    for u in usage:
        k = (u.system, u.resource, u.period)
        used[k] = used.get(k, 0.0) + u.quantity
        rows.setdefault(k, []).append(u)
    resources = resources or {}

    parts: list[PartitionEnergy] = []
    projects: dict[str, dict[str, float]] = {}
    by_system: dict[str, dict[str, float]] = {}
    unattributed = {"facility_kwh": 0.0, "co2_kg": 0.0}
    for s in systems:
        for res in s.power_kw:
            for q in periods:
                if s.active_fraction(q) == 0:
                    continue
                total_used = used.get((s.name, res, q), 0.0)
                if utilisation and (s.name, res) in utilisation:
                    util = utilisation[(s.name, res)]
                else:
                    util = _utilisation(
                        s, resources.get(res, ResourceClass(res, "unit", True)), q, total_used
                    )
                p = partition_energy(s, res, q, util, grid)
                parts.append(p)
                agg = by_system.setdefault(
                    s.name, {"it_kwh": 0.0, "facility_kwh": 0.0, "co2_kg": 0.0}
                )
                agg["it_kwh"] += p.it_kwh
                agg["facility_kwh"] += p.facility_kwh
                agg["co2_kg"] += p.co2_kg
                if total_used <= 0:
                    unattributed["facility_kwh"] += p.facility_kwh
                    unattributed["co2_kg"] += p.co2_kg
                    continue
                for u in rows[(s.name, res, q)]:
                    w = u.quantity / total_used
                    pr = projects.setdefault(u.project, {"facility_kwh": 0.0, "co2_kg": 0.0})
                    pr["facility_kwh"] += w * p.facility_kwh
                    pr["co2_kg"] += w * p.co2_kg

    return EnergyReport(tuple(parts), projects, by_system, _indicators(parts), unattributed)


def _utilisation(s: System, rc: ResourceClass, q: Quarter, used: float) -> float:
    """A partition's recorded usage over its capacity in the quarter."""
    cap = s.capacity(rc, q)
    return used / cap if cap > 0 else 0.0


def _indicators(parts: Sequence[PartitionEnergy]) -> dict[str, float | None]:
    """The goal-4 indicators over all partitions: energy, CO2, its intensity, the
    renewable share (of the partitions whose grid mix is known) and the energy-weighted PUE."""
    total_kwh = sum(p.facility_kwh for p in parts)
    total_it = sum(p.it_kwh for p in parts)
    known = [(p.facility_kwh, p.renewable_share) for p in parts if p.renewable_share is not None]
    known_kwh = sum(kwh for kwh, _ in known)
    renewable = (
        sum(kwh * share for kwh, share in known) / known_kwh if known and known_kwh > 0 else None
    )
    return {
        "facility_kwh": total_kwh,
        "co2_tonnes": sum(p.co2_kg for p in parts) / 1000.0,
        "grams_co2_per_kwh": (sum(p.co2_kg for p in parts) * 1000.0 / total_kwh)
        if total_kwh
        else None,
        "renewable_share": renewable,
        "energy_weighted_pue": (total_kwh / total_it) if total_it else None,
    }
