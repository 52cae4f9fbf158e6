"""Per-cell figures: households, residents, dwellings, area, compactness, boundary on roads.

Pure, vectorised shapely 2 in a metric CRS (metres). Buildings count in the cell that holds
their anchor point (entrance or point on surface), as layer membership does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gis.gridding.adjacency import compactness
from gis.gridding.blocks import assign_points

# A cell edge within this distance (m) of a road centre line or the street edge runs along it.
ROAD_TOLERANCE_M = 1.0


def polsby_popper(cells: NDArray[np.object_]) -> NDArray[np.float64]:
    """Return 4πA/P² per polygon (1 for a disc, about 0.785 for a square, 0 if degenerate).

    Examples
    --------
    >>> round(float(polsby_popper(np.array([shapely.box(0, 0, 1, 1)]))[0]), 3)
    0.785
    """
    return compactness(shapely.area(cells), shapely.length(cells))


def road_share(
    cells: NDArray[np.object_],
    roads: NDArray[np.object_] | None,
    street: BaseGeometry,
    *,
    tolerance_m: float = ROAD_TOLERANCE_M,
) -> NDArray[np.float64]:
    """Share of each cell's boundary that runs along a road or the street edge (0..1)."""
    lines = [shapely.boundary(street)]
    if roads is not None and len(roads):
        lines.extend(np.asarray(roads, dtype=object).tolist())
    corridor = shapely.buffer(shapely.union_all(lines), tolerance_m)
    shapely.prepare(corridor)
    rings = shapely.boundary(cells)
    along = shapely.length(shapely.intersection(rings, corridor))
    total = shapely.length(rings)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, along / total, 0.0)
    return np.clip(np.asarray(share, dtype=np.float64), 0.0, 1.0)


def cell_figures(
    cells: NDArray[np.object_],
    anchors: NDArray[np.object_],
    households: NDArray[np.int64],
    residents: NDArray[np.int64],
    dwellings: NDArray[np.int64],
    *,
    roads: NDArray[np.object_] | None = None,
    street: BaseGeometry | None = None,
) -> pd.DataFrame:
    """Return one row per cell with the figures a plan stores.

    Parameters
    ----------
    cells : ndarray of Polygon
        Cells in a metric CRS (metres).
    anchors, households, residents, dwellings : ndarrays
        Building anchor points (same CRS) and their counts.
    roads, street : optional
        Road lines and the street boundary for ``road_share`` (None without a street).

    Returns
    -------
    pandas.DataFrame
        Columns ``households``, ``residents``, ``dwellings``, ``area_m2``, ``compactness``
        (Polsby-Popper) and ``road_share``.
    """
    cell_of = assign_points(cells, anchors)
    inside = cell_of >= 0
    n = len(cells)

    def total(values: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.bincount(cell_of[inside], values[inside], minlength=n).round().astype(np.int64)

    share = road_share(cells, roads, street) if street is not None else np.full(n, np.nan)
    return pd.DataFrame(
        {
            "households": total(np.asarray(households)),
            "residents": total(np.asarray(residents)),
            "dwellings": total(np.asarray(dwellings)),
            "area_m2": np.round(shapely.area(cells), 1),
            "compactness": np.round(polsby_popper(cells), 4),
            "road_share": np.round(share, 4),
        }
    )


def internal_road_share(
    cells: NDArray[np.object_],
    roads: NDArray[np.object_] | None,
    street: BaseGeometry,
    *,
    tolerance_m: float = ROAD_TOLERANCE_M,
) -> float:
    """Share of the boundaries *between* cells (street edge excluded) that runs on roads."""
    rings = shapely.union_all(shapely.boundary(cells))
    inner = shapely.difference(rings, shapely.buffer(shapely.boundary(street), tolerance_m))
    length = float(shapely.length(inner))
    if length <= 0 or roads is None or len(roads) == 0:
        return 0.0
    corridor = shapely.buffer(shapely.union_all(np.asarray(roads, dtype=object)), tolerance_m)
    return float(shapely.length(shapely.intersection(inner, corridor))) / length
