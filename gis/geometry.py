"""Pure, vectorised shapely checks shared by every importer.

Each check takes an array of geometries and returns, per geometry, a reason string (or None
when the geometry is fine), so the caller can name every bad feature at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

GeomArray = NDArray[np.object_]

POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class GeometryCheck:
    """Result of a polygon check: fixed geometries, problems and repairs by index."""

    geoms: GeomArray
    problems: dict[int, str]
    repairs: dict[int, str]


def as_multipolygons(geoms: GeomArray) -> GeomArray:
    """Return every Polygon as a one-part MultiPolygon (MultiPolygons unchanged).

    >>> from shapely import box
    >>> as_multipolygons(np.array([box(0, 0, 1, 1)]))[0].geom_type
    'MultiPolygon'
    """
    out = geoms.copy()
    is_poly = shapely.get_type_id(out) == shapely.GeometryType.POLYGON
    if is_poly.any():
        out[is_poly] = shapely.multipolygons(out[is_poly].reshape(-1, 1))
    return out


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry | None:
    """Keep only the polygons of a (repaired) geometry collection."""
    if geom.geom_type in POLYGONAL:
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in POLYGONAL]
    if not parts:
        return None
    return shapely.union_all(parts)


def check_polygons(geoms: GeomArray, *, repair: bool = False) -> GeometryCheck:
    """Check that each geometry is a non-empty, valid Polygon or MultiPolygon.

    Parameters
    ----------
    geoms
        Geometries in any CRS (validity does not depend on it).
    repair
        Repair invalid polygons with ``make_valid`` (structure method) instead of rejecting
        them; each repair is reported with the area change.

    Returns
    -------
    GeometryCheck with the (possibly repaired) geometries as MultiPolygons.
    """
    geoms = np.asarray(geoms, dtype=object)
    problems: dict[int, str] = {}
    repairs: dict[int, str] = {}
    missing = shapely.is_missing(geoms)
    for i in np.flatnonzero(missing):
        problems[int(i)] = "missing geometry"
    present = ~missing
    empty = np.zeros(len(geoms), dtype=bool)
    empty[present] = shapely.is_empty(geoms[present])
    for i in np.flatnonzero(empty):
        problems[int(i)] = "empty geometry"
    usable = present & ~empty
    types = np.full(len(geoms), "", dtype=object)
    types[usable] = shapely.get_type_id(geoms[usable])
    polygonal = np.zeros(len(geoms), dtype=bool)
    polygonal[usable] = np.isin(
        types[usable].astype(int),
        [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON],
    )
    for i in np.flatnonzero(usable & ~polygonal):
        problems[int(i)] = (
            f"geometry type is {geoms[i].geom_type}; expected Polygon or MultiPolygon"
        )
    cand = usable & polygonal
    coords_ok = np.ones(len(geoms), dtype=bool)
    if cand.any():
        bounds = shapely.bounds(geoms[cand])
        coords_ok[cand] = np.isfinite(bounds).all(axis=1)
    for i in np.flatnonzero(cand & ~coords_ok):
        problems[int(i)] = "coordinates are not finite numbers (NaN or infinity)"
    cand &= coords_ok
    valid = np.ones(len(geoms), dtype=bool)
    valid[cand] = shapely.is_valid(geoms[cand])
    out = geoms.copy()
    for i in np.flatnonzero(cand & ~valid):
        reason = shapely.is_valid_reason(geoms[i])
        if not repair:
            problems[int(i)] = f"invalid geometry: {reason} (use --repair to fix it)"
            continue
        fixed = _polygonal_part(shapely.make_valid(geoms[i], method="structure"))
        if fixed is None or fixed.is_empty:
            problems[int(i)] = f"invalid geometry: {reason}; repair left no polygon"
            continue
        before, after = abs(shapely.area(geoms[i])), shapely.area(fixed)
        change = f"{(after - before) / before:+.2%}" if before > 0 else "from zero area"
        repairs[int(i)] = f"repaired {reason}; area changed {change}"
        out[i] = fixed
    ok = np.ones(len(geoms), dtype=bool)
    ok[list(problems)] = False
    if ok.any():
        out[ok] = as_multipolygons(out[ok])
    return GeometryCheck(out, problems, repairs)
