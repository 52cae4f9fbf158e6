"""Blocks (街坊): a street or community cut by roads, rivers and railways, big blocks split.

Pure shapely 2 / numpy in a metric CRS (metres). ``road_blocks`` polygonises the boundary
together with the barrier lines and merges slivers (median strips of dual carriageways, tiny
corners) into their neighbours. ``building_blocks`` also cuts blocks whose households exceed a
limit along straight lines through gaps between buildings, so no building is ever cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInputError
from gis.gridding.adjacency import (
    GeomArray,
    compactness,
    dissolve,
    merge_small,
    single_parts,
)

DEFAULT_MIN_BLOCK_M2 = 2_000.0
# Strips narrower than this (2·area/perimeter, m) are road medians or verges, not blocks.
DEFAULT_MIN_WIDTH_M = 15.0
# A footprint overlapping a second block by more than this (m²) counts as cut by a line.
CUT_TOLERANCE_M2 = 1.0
# Each bisection tries the block's own axes and these extra turns (degrees).
SPLIT_ANGLES_DEG = (0.0, 90.0, 45.0, 135.0)
CUT_OVERSHOOT_M = 0.05
SLIVER_M2 = 0.01
BOUNDARY_OVERSHOOT_M = 1.0
# Blocks less compact than this (Polsby-Popper) are cut across their length (`_thin_cuts`).
THIN_BLOCK_PP = 0.12
THIN_PIECE_MIN_M = 80.0


@dataclass
class Blocks:
    """Blocks of one area, with the block of every building and what could not be split."""

    geoms: GeomArray
    building_block: NDArray[np.int64]
    unsplittable: list[int] = field(default_factory=list)


def road_blocks(
    area: Polygon | MultiPolygon,
    barriers: NDArray[np.object_] | None,
    *,
    min_block_m2: float = DEFAULT_MIN_BLOCK_M2,
    min_width_m: float = DEFAULT_MIN_WIDTH_M,
    keep: NDArray[np.object_] | None = None,
) -> GeomArray:
    """Cut ``area`` into blocks along barrier lines (roads, rivers, railways).

    Parameters
    ----------
    area : Polygon or MultiPolygon
        Street or community boundary in a metric CRS (metres); holes and parts allowed.
    barriers : ndarray of LineString, optional
        Road centre lines, rivers, railways in the same CRS. Dead ends do not cut.
    min_block_m2, min_width_m : float
        Blocks smaller than ``min_block_m2`` (m²) or narrower than ``min_width_m`` (m) join
        the neighbour sharing the longest edge.
    keep : ndarray of Point, optional
        Blocks holding one of these points (building anchors) are never merged away.

    Returns
    -------
    ndarray of Polygon
        Blocks that tile ``area`` exactly.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> cross = np.array([LineString([(100, -10), (100, 210)])], dtype=object)
    >>> blocks = road_blocks(shapely.box(0, 0, 200, 200), cross)
    >>> sorted(shapely.area(blocks).tolist())
    [20000.0, 20000.0]
    """
    if area.is_empty or area.area <= 0:
        raise InvalidInputError("blocks: the boundary is empty")
    lines = [shapely.boundary(area)]
    if barriers is not None and len(barriers):
        barriers = np.asarray(barriers, dtype=object)
        shapely.prepare(area)
        near = barriers[shapely.intersects(barriers, area)]
        # Clip a metre outside the boundary, not on it: an end computed exactly on the
        # boundary can miss it by rounding and then dangles instead of closing a block.
        # The overshoots are dangles that polygonize ignores.
        reach = shapely.buffer(area, BOUNDARY_OVERSHOOT_M)
        lines.extend(shapely.get_parts(shapely.intersection(near, reach)).tolist())
    noded = shapely.union_all(lines)  # nodes every crossing once
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = np.asarray(faces[shapely.area(faces) > 0], dtype=object)
    # Faces inside holes of the area are also polygonised: keep only those in the area.
    inside = shapely.within(shapely.point_on_surface(faces), area)
    faces = faces[inside]
    area_m2 = shapely.area(faces)
    width_m = 2 * area_m2 / np.maximum(shapely.length(faces), 1e-9)
    small = (area_m2 < min_block_m2) | (width_m < min_width_m)
    if keep is not None and len(keep):
        small &= np.bincount(assign_points(faces, keep), minlength=len(faces)) == 0
    if small.any() and not small.all():
        faces = dissolve(faces, merge_small(faces, small))
        faces, _ = single_parts(faces)
        # A sliver that touched its neighbour only at a point comes back out of the union as
        # a part of its own; below SLIVER_M2 and holding no anchor it would become a phantom
        # cell, so it is left as a gap (well inside the 1 m² tiling tolerance).
        sliver = shapely.area(faces) < SLIVER_M2
        if keep is not None and len(keep):
            sliver &= np.bincount(assign_points(faces, keep), minlength=len(faces)) == 0
        faces = faces[~sliver]
    return faces


def assign_points(polys: GeomArray, points: NDArray[np.object_]) -> NDArray[np.int64]:
    """Return the index of the polygon holding each point (nearest one if none), -1 if empty."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polys) == 0:
        return out
    tree = shapely.STRtree(polys)
    pt, poly = tree.query(points, predicate="intersects")
    # A point on a shared edge goes to the first polygon listed (stable tie rule).
    first = np.r_[True, pt[1:] != pt[:-1]] if len(pt) else np.zeros(0, dtype=bool)
    out[pt[first]] = poly[first]
    lost = np.flatnonzero(out < 0)
    if len(lost):
        out[lost] = tree.query_nearest(points[lost], return_distance=False, all_matches=False)[1]
    return out


def around_buildings(
    lines: NDArray[np.object_], footprints: NDArray[np.object_]
) -> NDArray[np.object_]:
    """Interrupt barrier lines where they cross a footprint, so no block edge cuts a building.

    A road drawn through a building (a passage, a tunnel, misaligned data) then no longer
    closes a block there: the blocks on both sides stay one block around the building.
    """
    if len(lines) == 0 or len(footprints) == 0:
        return lines
    tree = shapely.STRtree(footprints)
    line_idx, fp_idx = tree.query(lines, predicate="intersects")
    if len(line_idx) == 0:
        return lines
    out = np.asarray(lines, dtype=object).copy()
    hit = np.unique(line_idx)
    for i in hit:  # only the few lines that cross a building
        out[i] = shapely.difference(out[i], shapely.union_all(footprints[fp_idx[line_idx == i]]))
    parts = shapely.get_parts(out)
    return np.asarray(parts[~shapely.is_empty(parts)], dtype=object)


def building_blocks(
    area: Polygon | MultiPolygon,
    barriers: NDArray[np.object_] | None,
    footprints: NDArray[np.object_],
    anchors: NDArray[np.object_],
    households: NDArray[np.int64],
    *,
    max_households: int,
    min_block_m2: float = DEFAULT_MIN_BLOCK_M2,
    min_width_m: float = DEFAULT_MIN_WIDTH_M,
) -> Blocks:
    """Cut ``area`` into road blocks, then split blocks above ``max_households``.

    Oversized blocks are bisected recursively by straight lines through gaps between building
    footprints (never through one), placed so the household shares of the two sides suit the
    number of cells the block needs. The cut lines join the roads and everything is
    polygonised once more, so the blocks stay an exact coverage (shared edges have identical
    vertices). A block whose buildings leave no gap, or that holds one building, stays whole
    and is listed in ``unsplittable``.

    Parameters
    ----------
    area : Polygon or MultiPolygon
        Street or community boundary in a metric CRS (metres).
    barriers : ndarray of LineString, optional
        Roads, rivers, railways in the same CRS.
    footprints, anchors : ndarray of geometries
        Building footprints and anchor points (entrance or point on surface).
    households : ndarray of int
        Households per building.
    max_households : int
        Largest household total a block may keep when its buildings can be separated.
    """
    lines = np.zeros(0, dtype=object) if barriers is None else np.asarray(barriers, dtype=object)
    lines = around_buildings(lines, np.asarray(footprints, dtype=object))
    blocks = road_blocks(area, lines, min_block_m2=min_block_m2, min_width_m=min_width_m)
    block_of = assign_points(blocks, anchors)
    has = block_of >= 0
    totals = np.bincount(block_of[has], households[has], len(blocks))
    cuts: list[BaseGeometry] = []
    stuck: list[BaseGeometry] = []
    oversize = totals > max_households
    for b in np.flatnonzero(oversize):  # per oversized block, buildings as arrays
        members = np.flatnonzero(block_of == b)
        more_cuts, more_stuck = _bisect(
            blocks[b], footprints[members], households[members], max_households
        )
        cuts.extend(more_cuts)
        stuck.extend(more_stuck)
    pp = compactness(shapely.area(blocks), shapely.length(blocks))
    for b in np.flatnonzero((pp < THIN_BLOCK_PP) & ~oversize):
        cuts.extend(_thin_cuts(blocks[b], footprints[block_of == b]))
    if cuts:
        cut_lines = np.asarray(cuts, dtype=object)
        blocks = road_blocks(
            area,
            np.concatenate([lines, cut_lines]).astype(object),
            min_block_m2=min_block_m2,
            min_width_m=min_width_m,
            keep=anchors,
        )
    building_block = assign_points(blocks, anchors)
    unsplittable = (
        np.unique(assign_points(blocks, np.asarray(stuck, dtype=object))).tolist() if stuck else []
    )
    return Blocks(blocks, building_block, unsplittable)


def _bisect(
    block: BaseGeometry,
    footprints: NDArray[np.object_],
    households: NDArray[np.int64],
    max_households: int,
) -> tuple[list[BaseGeometry], list[BaseGeometry]]:
    """Return the cut lines of one block, and a point in each piece that could not be split."""
    cuts: list[BaseGeometry] = []
    stuck: list[BaseGeometry] = []
    stack: list[tuple[BaseGeometry, NDArray[np.int64]]] = [(block, np.arange(len(footprints)))]
    while stack:
        poly, idx = stack.pop()
        if int(households[idx].sum()) <= max_households:
            continue
        found = _best_gap(poly, footprints[idx], households[idx], max_households)
        if found is None:
            stuck.append(footprints[idx[0]].centroid)
            continue
        line, left, right, on_left = _split_at(poly, footprints[idx], *found)
        cuts.append(line)
        stack.append((left, idx[on_left]))
        stack.append((right, idx[~on_left]))
    return cuts, stuck


def _thin_cuts(block: BaseGeometry, footprints: NDArray[np.object_]) -> list[BaseGeometry]:
    """Return lines that cut a long thin block across its length into more compact pieces.

    Strips along ring roads and rivers would otherwise make long thin cells whatever the
    partition does. Each piece is halved across its long axis through the gap between
    buildings nearest its middle (never through a footprint) until it is compact enough
    (``THIN_BLOCK_PP``) or its long side is under ``2 * THIN_PIECE_MIN_M``.
    """
    cuts: list[BaseGeometry] = []
    stack: list[tuple[BaseGeometry, NDArray[np.object_]]] = [(block, footprints)]
    while stack:
        poly, members = stack.pop()
        area, length = shapely.area(poly), shapely.length(poly)
        if length <= 0 or compactness(area, length) >= THIN_BLOCK_PP:
            continue
        angle = _orientation_deg(poly)
        cx, cy = poly.centroid.x, poly.centroid.y
        minx, _, maxx, _ = _rotate(np.asarray([poly], dtype=object), -angle, cx, cy)[0].bounds
        if maxx - minx < 2 * THIN_PIECE_MIN_M:
            continue
        if len(members):
            _, _, between, first, last = _gaps(members, angle, cx, cy)
            spots = np.concatenate([between, [first - 1.0, last + 1.0]])
        else:
            spots = np.asarray([cx])
        spots = spots[(spots > minx + THIN_PIECE_MIN_M) & (spots < maxx - THIN_PIECE_MIN_M)]
        if len(spots) == 0:
            continue
        position = float(spots[np.argmin(np.abs(spots - (minx + maxx) / 2))])
        line, left, right, on_left = _split_at(poly, members, angle, position)
        cuts.append(line)
        stack.append((left, members[on_left]))
        stack.append((right, members[~on_left]))
    return cuts


def _gaps(
    footprints: NDArray[np.object_], angle: float, cx: float, cy: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], float, float]:
    """Where a cut square to ``angle`` passes between footprints (rotated about cx, cy).

    Returns the footprints' order along the rotated x axis, the sorted positions ``g`` after
    which a gap opens, the x of each gap's middle, and where the first footprint starts and
    the last one ends.
    """
    bounds = shapely.bounds(_rotate(footprints, -angle, cx, cy))
    lo, hi = bounds[:, 0], bounds[:, 2]
    order = np.argsort(lo, kind="stable")
    reach = np.maximum.accumulate(hi[order])
    gaps = np.flatnonzero(reach[:-1] < lo[order][1:])  # cut after sorted position g
    middles = (reach[gaps] + lo[order][gaps + 1]) / 2
    return order, gaps, middles, float(lo[order][0]), float(reach[-1])


def _split_at(
    poly: BaseGeometry, footprints: NDArray[np.object_], angle: float, position: float
) -> tuple[BaseGeometry, BaseGeometry, BaseGeometry, NDArray[np.bool_]]:
    """Cut ``poly`` square to ``angle`` at rotated x ``position`` (rotation about its centroid).

    Returns the cut line (overshooting the piece a little so it nodes with the edges it ends
    on), the left and right pieces and which footprints lie on the left.
    """
    cx, cy = poly.centroid.x, poly.centroid.y
    minx, miny, maxx, maxy = poly.bounds
    reach_m = 2 * (maxx - minx + maxy - miny) + 10.0
    half = shapely.box(cx - reach_m, cy - reach_m, position, cy + reach_m)
    cut = shapely.linestrings([[position, cy - reach_m], [position, cy + reach_m]])
    left_half, line = _rotate(np.asarray([half, cut], dtype=object), angle, cx, cy)
    on_left = (
        shapely.bounds(_rotate(footprints, -angle, cx, cy))[:, 2] < position
        if len(footprints)
        else np.zeros(0, dtype=bool)
    )
    return (
        shapely.intersection(line, poly.buffer(CUT_OVERSHOOT_M)),
        shapely.intersection(poly, left_half),
        shapely.difference(poly, left_half),
        on_left,
    )


def _best_gap(
    poly: BaseGeometry,
    footprints: NDArray[np.object_],
    households: NDArray[np.int64],
    max_households: int,
) -> tuple[float, float] | None:
    """Find the straight cut through a gap that best matches the wanted household split.

    Returns its angle and position (for `_split_at`), or None when every direction is blocked
    by footprints.
    """
    if len(footprints) < 2:
        return None
    total = float(households.sum())
    cells = math.ceil(total / max_households)
    want_left = total * (cells // 2) / cells
    base = _orientation_deg(poly)
    cx, cy = poly.centroid.x, poly.centroid.y
    best: tuple[float, float, float] | None = None  # (error, angle, position)
    # The block's own axes first, then north-south/east-west (Beijing's street grid).
    for angle, turn in [(base + t, t) for t in SPLIT_ANGLES_DEG] + [(0.0, 0.0), (90.0, 0.0)]:
        order, gaps, middles, _, _ = _gaps(footprints, angle, cx, cy)
        if len(gaps) == 0:
            continue
        left_hh = np.cumsum(households[order])[gaps]
        errors = np.abs(left_hh - want_left)
        g = int(np.argmin(errors))
        # A small preference for the block's own axes keeps cuts square to the streets.
        error = float(errors[g]) * (1.0 if turn in (0.0, 90.0) else 1.1)
        if best is None or error < best[0]:
            best = (error, angle, float(middles[g]))
    if best is None:
        return None
    return best[1], best[2]


def _orientation_deg(poly: BaseGeometry) -> float:
    """Angle (degrees) of the long side of the polygon's minimum rotated rectangle."""
    rect = shapely.oriented_envelope(poly)
    coords = np.asarray(rect.exterior.coords) if isinstance(rect, Polygon) else None
    if coords is None or len(coords) < 4:
        return 0.0
    edges = np.diff(coords[:3], axis=0)
    longest = edges[int(np.argmax(np.hypot(edges[:, 0], edges[:, 1])))]
    return math.degrees(math.atan2(longest[1], longest[0]))


def _rotate(
    geoms: NDArray[np.object_], angle_deg: float, cx: float, cy: float
) -> NDArray[np.object_]:
    """Rotate geometries by ``angle_deg`` about (cx, cy), vectorised over coordinates."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)

    def turn(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = xy[:, 0] - cx, xy[:, 1] - cy
        return np.column_stack([cx + x * cos - y * sin, cy + x * sin + y * cos])

    return np.asarray(shapely.transform(geoms, turn), dtype=object)
