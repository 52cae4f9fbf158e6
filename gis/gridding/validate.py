"""Checks a plan must pass before activation: polygons, exact tiling, communities, buildings, band.

Pure, vectorised shapely on a metric CRS. ``validate_plan`` returns every finding, so a planner
sees all problems at once; ``ValidationReport.ok`` says whether activation may go ahead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

MAX_GAP_M2 = 1.0
MAX_OVERLAP_M2 = 1.0
# A cell counts as inside a community when this share of its area lies in it.
COMMUNITY_SHARE = 0.99
# A footprint split between cells by more than this area counts as cut.
BUILDING_CUT_M2 = 1.0


@dataclass
class ValidationReport:
    """What ``validate_plan`` found; ``errors`` block activation, ``warnings`` do not."""

    cell_count: int
    gap_m2: float
    overlap_m2: float
    in_band: int
    below_band: list[str] = field(default_factory=list)
    above_band: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks activation."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {**asdict(self), "ok": self.ok}


def validate_plan(
    codes: NDArray[np.str_] | list[str],
    cells: NDArray[np.object_],
    street: BaseGeometry,
    *,
    households: NDArray[np.int64] | None = None,
    dedicated: NDArray[np.bool_] | None = None,
    band: tuple[int, int] = (300, 500),
    communities: NDArray[np.object_] | None = None,
    community_codes: list[str] | None = None,
    buildings: NDArray[np.object_] | None = None,
    building_ids: NDArray[np.int64] | None = None,
) -> ValidationReport:
    """Validate cell polygons (metric CRS, metres) against their street.

    Parameters
    ----------
    codes, cells
        Cell codes and Polygon geometries, same order.
    street
        The street boundary in the same CRS.
    households, dedicated
        Per-cell household totals and the dedicated (专属) flag; dedicated cells may exceed
        the band and are reported as warnings, not errors.
    communities, community_codes
        Community polygons and codes inside the street, when they exist.
    buildings, building_ids
        Building footprints and their ids; no footprint may be split between two cells.
    """
    codes = np.asarray(codes, dtype=str)
    cells = np.asarray(cells, dtype=object)
    errors: list[str] = []
    warnings: list[str] = []

    types = shapely.get_type_id(cells)
    bad_type = types != shapely.GeometryType.POLYGON
    for code in codes[bad_type]:
        errors.append(f"cell {code} is not a single polygon")
    invalid = ~bad_type & ~shapely.is_valid(cells)
    for code, geom in zip(codes[invalid], cells[invalid], strict=True):
        errors.append(f"cell {code} is invalid: {shapely.is_valid_reason(geom)}")
    empty = shapely.area(cells) <= 0
    for code in codes[empty]:
        errors.append(f"cell {code} has no area")

    usable = cells[~invalid & ~empty]
    union = shapely.union_all(usable, grid_size=None) if len(usable) else shapely.Polygon()
    overlap_m2 = float(shapely.area(usable).sum() - union.area) if len(usable) else 0.0
    gap_m2 = float(street.difference(union).area)
    outside_m2 = float(union.difference(street).area)
    if gap_m2 > MAX_GAP_M2:
        errors.append(f"cells leave {gap_m2:.1f} m² of the street uncovered (max {MAX_GAP_M2})")
    if overlap_m2 > MAX_OVERLAP_M2:
        errors.append(f"cells overlap by {overlap_m2:.1f} m² (max {MAX_OVERLAP_M2})")
        errors.extend(_overlapping_pairs(codes, cells))
    if outside_m2 > MAX_GAP_M2:
        errors.append(f"cells reach {outside_m2:.1f} m² beyond the street boundary")

    if communities is not None and community_codes and len(communities):
        communities = np.asarray(communities, dtype=object)
        errors.extend(_community_errors(codes, cells, communities, community_codes))
    if buildings is not None and len(buildings):
        buildings = np.asarray(buildings, dtype=object)
        ids = np.arange(len(buildings)) if building_ids is None else np.asarray(building_ids)
        errors.extend(_cut_buildings(codes, cells, buildings, ids))

    below: list[str] = []
    above: list[str] = []
    in_band = 0
    if households is not None:
        low, high = band
        hh = np.asarray(households)
        ded = np.zeros(len(codes), dtype=bool) if dedicated is None else np.asarray(dedicated)
        below = codes[(hh < low) & ~ded].tolist()
        above = codes[(hh > high) & ~ded].tolist()
        in_band = int(((hh >= low) & (hh <= high)).sum())
        for code in codes[ded & (hh > high)]:
            warnings.append(f"cell {code} is a dedicated cell above the band")
        if below or above:
            warnings.append(
                f"{len(below)} cell(s) below and {len(above)} above {low}-{high} households"
            )
    return ValidationReport(
        cell_count=len(codes),
        gap_m2=gap_m2,
        overlap_m2=overlap_m2,
        in_band=in_band,
        below_band=below,
        above_band=above,
        errors=errors,
        warnings=warnings,
    )


def _overlapping_pairs(codes: NDArray[np.str_], cells: NDArray[np.object_]) -> list[str]:
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    areas = shapely.area(shapely.intersection(cells[left], cells[right]))
    big = areas > MAX_OVERLAP_M2
    return [
        f"cells {codes[i]} and {codes[j]} overlap by {a:.1f} m²"
        for i, j, a in zip(left[big], right[big], areas[big], strict=True)
    ]


def _community_errors(
    codes: NDArray[np.str_],
    cells: NDArray[np.object_],
    communities: NDArray[np.object_],
    community_codes: list[str],
) -> list[str]:
    tree = shapely.STRtree(communities)
    cell_idx, comm_idx = tree.query(cells, predicate="intersects")
    shares = shapely.area(shapely.intersection(cells[cell_idx], communities[comm_idx])) / (
        shapely.area(cells[cell_idx])
    )
    inside = np.zeros(len(codes), dtype=bool)
    inside[cell_idx[shares >= COMMUNITY_SHARE]] = True
    errors = []
    for i in np.flatnonzero(~inside):
        parts = comm_idx[(cell_idx == i) & (shares > 0.01)]
        names = ", ".join(community_codes[j] for j in parts) or "none"
        errors.append(f"cell {codes[i]} is not inside exactly one community (touches {names})")
    return errors


def _cut_buildings(
    codes: NDArray[np.str_],
    cells: NDArray[np.object_],
    buildings: NDArray[np.object_],
    ids: NDArray[np.int64],
) -> list[str]:
    tree = shapely.STRtree(cells)
    b_idx, c_idx = tree.query(buildings, predicate="intersects")
    areas = shapely.area(shapely.intersection(buildings[b_idx], cells[c_idx]))
    real = areas > BUILDING_CUT_M2
    counts = np.bincount(b_idx[real], minlength=len(buildings))
    errors = []
    for b in np.flatnonzero(counts > 1)[:50]:
        in_cells = sorted(codes[c_idx[real & (b_idx == b)]].tolist())
        errors.append(f"building {ids[b]} is split between cells {', '.join(in_cells)}")
    cut = int((counts > 1).sum())
    if cut > 50:
        errors.append(f"... {cut - 50} more buildings are split between cells")
    return errors
