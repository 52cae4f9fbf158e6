"""What decides a coverage run (its parameters) and what a run holds while it computes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gis.coverage.inputs import BuildingInputs, FacilityInputs, PopulationSource
from gis.coverage.isochrones import DEFAULT_ISOCHRONE_BUFFER_M
from gis.coverage.reach import DEFAULT_BUDGET_M
from gis.coverage.stats import NATIONAL_TARGET_SHARE
from gis.errors import CoverageInputError
from gis.layers.checklist import Checklist
from gis.network.graph import WalkGraph
from gis.network.snapping import DEFAULT_MAX_SNAP_M, Snap

Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: called as a run advances (CLI progress bars)."""

CIRCLE_15_MIN = 15.0


def quiet(step: str, done: int, total: int) -> None:
    """Progress sink that ignores everything."""


@dataclass(frozen=True)
class CoverageParams:
    """Everything that decides a run's results (stored with the run).

    Attributes
    ----------
    network : str
        Name of the stored walking network.
    categories : tuple of str, optional
        Checklist categories to compute (default: all of the checklist).
    budget_m : float
        Walking distance of the 15-minute circle (default 1,000 m, i.e. 4 km/h); 5- and
        10-minute circles scale with it.
    max_snap_m : float
        Buildings and facilities farther than this from every walkable edge are reported and
        left off the network.
    isochrones : bool
        Whether to compute and store isochrones (and their Euclidean discs).
    isochrone_minutes : tuple of int, optional
        Circles to draw per facility; default: each category's own circle.
    isochrone_buffer_m : float
        Half-width of the band around the reached network.
    gap_cell_m : float
        Square size of the gap polygons.
    population : str
        ``building`` (building.residents) or ``register`` (person rows).
    street_codes : tuple of str
        Restrict the buildings to these streets/districts (facilities everywhere count).
    checklist : str, optional
        Path of a checklist TOML (default: the packaged ``life_circle.toml``).
    target_share : float
        National target of residents with everything within reach (85 %).
    """

    network: str
    categories: tuple[str, ...] | None = None
    budget_m: float = DEFAULT_BUDGET_M
    max_snap_m: float = DEFAULT_MAX_SNAP_M
    isochrones: bool = True
    isochrone_minutes: tuple[int, ...] | None = None
    isochrone_buffer_m: float = DEFAULT_ISOCHRONE_BUFFER_M
    gap_cell_m: float = 100.0
    population: str = PopulationSource.BUILDING.value
    street_codes: tuple[str, ...] = ()
    checklist: str | None = None
    target_share: float = NATIONAL_TARGET_SHARE

    @property
    def speed_m_per_min(self) -> float:
        """Walking speed implied by the 15-minute budget."""
        return self.budget_m / CIRCLE_15_MIN

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (what ``coverage_run.params`` holds)."""
        out = asdict(self)
        for key in ("categories", "isochrone_minutes", "street_codes"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CoverageParams:
        """Rebuild the parameters of a stored run."""
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in raw.items() if k in known}
        for key in ("categories", "isochrone_minutes", "street_codes"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    def validate(self) -> None:
        """Raise CoverageInputError naming the first unusable parameter."""
        for name in ("budget_m", "max_snap_m", "isochrone_buffer_m", "gap_cell_m"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise CoverageInputError(f"{name} must be a positive number, got {value!r}")
        if self.population not in {p.value for p in PopulationSource}:
            raise CoverageInputError(
                f"population must be 'building' or 'register', got {self.population!r}"
            )
        if not 0 < self.target_share <= 1:
            raise CoverageInputError(f"target_share must be in (0, 1], got {self.target_share}")
        for minutes in self.isochrone_minutes or ():
            if not 0 < minutes <= CIRCLE_15_MIN * 4:
                raise CoverageInputError(f"isochrone minutes must be 1..60, got {minutes}")


@dataclass
class RunContext:
    """What a run loaded and computed, kept for the writers, siting and tests."""

    params: CoverageParams
    checklist: Checklist
    graph: WalkGraph
    network_version: str
    buildings: BuildingInputs
    facilities: FacilityInputs
    building_snaps: Snap
    facility_snaps: dict[str, Snap]
    circle_m: dict[str, float]
    walk_m: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    facility_of: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    euclid_m: dict[str, NDArray[np.float64]] = field(default_factory=dict)


def category_circles(params: CoverageParams, checklist: Checklist) -> dict[str, float]:
    """Return {category: circle radius in walking metres} for the run's categories."""
    keys = params.categories or checklist.keys
    unknown = [k for k in keys if k not in checklist.keys]
    if unknown:
        raise CoverageInputError(
            f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown}; the checklist has "
            f"{list(checklist.keys)}"
        )
    circles = checklist.circles()
    return {k: float(circles[k]) * params.speed_m_per_min for k in keys}
