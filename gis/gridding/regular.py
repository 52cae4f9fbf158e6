"""Regular unit grids: squares (the 万米单元网格, 100 m) and hexagons, clipped to a boundary.

Pure, vectorised shapely 2 in a metric CRS (the street's Gauss-Krüger zone): every cell of
the lattice is built and clipped in one call; only the dissolve of merged slivers loops, once
per output cell that absorbed a sliver.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from gis.errors import InvalidInputError
from gis.gridding.adjacency import GeomArray, dissolve, merge_small, single_parts

DEFAULT_SQUARE_SIZE_M = 100.0
# Side of the regular hexagon with the area of a 100 m square (10,000 m²).
DEFAULT_HEX_SIDE_M = math.sqrt(2 * 10_000 / (3 * math.sqrt(3)))
# Clipped pieces smaller than this share of a full cell are merged into a neighbour.
DEFAULT_SLIVER_SHARE = 0.25


def _check(area: Polygon | MultiPolygon, size_m: float, what: str) -> None:
    if not (math.isfinite(size_m) and size_m > 0):
        raise InvalidInputError(f"{what} grid: cell size must be a positive number of metres")
    if area.is_empty or area.area <= 0:
        raise InvalidInputError(f"{what} grid: the boundary is empty")
    if area.area / (size_m * size_m) > 2_000_000:
        raise InvalidInputError(
            f"{what} grid: {size_m} m cells over {area.area / 1e6:.1f} km² would give more "
            "than 2,000,000 cells; choose a larger size"
        )


def square_cells(
    area: Polygon | MultiPolygon,
    *,
    size_m: float = DEFAULT_SQUARE_SIZE_M,
    min_area_m2: float | None = None,
) -> GeomArray:
    """Cover ``area`` with ``size_m`` squares clipped to it, slivers merged into neighbours.

    Parameters
    ----------
    area : Polygon or MultiPolygon
        The boundary in a metric CRS (metres); holes and several parts are allowed.
    size_m : float
        Side of a square in metres (default 100 m: the 10,000 m² unit grid).
    min_area_m2 : float, optional
        Clipped pieces below this area (m²) join the neighbour sharing the longest edge;
        default a quarter of a full square.

    Returns
    -------
    ndarray of Polygon
        The cells, each a single polygon; together they tile ``area``.

    Examples
    --------
    >>> cells = square_cells(shapely.box(0, 0, 250, 200), size_m=100)
    >>> len(cells), round(float(shapely.area(cells).sum()))
    (6, 50000)
    """
    _check(area, size_m, "square")
    minx, miny, maxx, maxy = area.bounds
    # Anchor the lattice on multiples of the size so neighbouring streets' grids line up.
    x0, y0 = math.floor(minx / size_m) * size_m, math.floor(miny / size_m) * size_m
    xs, ys = np.meshgrid(np.arange(x0, maxx, size_m), np.arange(y0, maxy, size_m))
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + size_m, ys.ravel() + size_m)
    threshold = DEFAULT_SLIVER_SHARE * size_m * size_m if min_area_m2 is None else min_area_m2
    return _clip_and_merge(boxes, area, threshold)


def hexagon_cells(
    area: Polygon | MultiPolygon,
    *,
    side_m: float = DEFAULT_HEX_SIDE_M,
    min_area_m2: float | None = None,
) -> GeomArray:
    """Cover ``area`` with flat-topped regular hexagons of side ``side_m``, clipped to it.

    Parameters
    ----------
    area : Polygon or MultiPolygon
        The boundary in a metric CRS (metres).
    side_m : float
        Side (= circumradius) of a hexagon in metres; the default gives 10,000 m² cells.
    min_area_m2 : float, optional
        Clipped pieces below this area (m²) are merged; default a quarter of a full hexagon.

    Examples
    --------
    >>> cells = hexagon_cells(shapely.box(0, 0, 500, 500), side_m=50)
    >>> round(float(shapely.area(cells).sum()))
    250000
    """
    _check(area, side_m, "hexagon")
    minx, miny, maxx, maxy = area.bounds
    dx, dy = 1.5 * side_m, math.sqrt(3) * side_m
    cols = np.arange(math.floor(minx / dx) - 1, math.ceil(maxx / dx) + 2)
    rows = np.arange(math.floor(miny / dy) - 1, math.ceil(maxy / dy) + 2)
    col, row = np.meshgrid(cols, rows)
    cx = (col * dx).ravel()
    cy = (row * dy + (col % 2) * dy / 2).ravel()  # odd columns shift half a row up
    angles = np.deg2rad(np.arange(0, 360, 60))
    ring_x = cx[:, None] + side_m * np.cos(angles)[None, :]
    ring_y = cy[:, None] + side_m * np.sin(angles)[None, :]
    # Round so neighbours computed from different centres share bit-identical vertices.
    coords = np.round(np.stack([ring_x, ring_y], axis=-1), 6)
    hexes = np.asarray(shapely.polygons(coords), dtype=object)
    full_m2 = 1.5 * math.sqrt(3) * side_m * side_m
    threshold = DEFAULT_SLIVER_SHARE * full_m2 if min_area_m2 is None else min_area_m2
    return _clip_and_merge(hexes, area, threshold)


def _clip_and_merge(
    lattice: NDArray[np.object_], area: Polygon | MultiPolygon, min_area_m2: float
) -> GeomArray:
    """Clip lattice cells to ``area``, split multi-part pieces, merge pieces below the minimum."""
    shapely.prepare(area)
    touching = lattice[shapely.intersects(lattice, area)]
    inside = shapely.contains_properly(area, touching)
    clipped = touching.copy()
    clipped[~inside] = shapely.intersection(touching[~inside], area)
    pieces, _ = single_parts(clipped)
    if len(pieces) == 0:
        return pieces
    small = shapely.area(pieces) < min_area_m2
    if not small.any():
        return pieces
    labels = merge_small(pieces, small)
    return dissolve(pieces, labels)
