"""Shared edges between polygons of a coverage, sliver merging and dissolving by label.

Pure, vectorised shapely 2 on a metric CRS (metres). Used by the regular grids (sliver cells),
the road blocks (median strips, tiny blocks) and the balanced partition (block graph).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

GeomArray = NDArray[np.object_]
# Neighbours must share at least this much boundary (m): touching at a corner does not count.
MIN_SHARED_M = 0.5
SNAP_M = 1e-3


def compactness(area_m2: object, perimeter_m: object) -> NDArray[np.float64]:
    """Polsby-Popper 4πA/P² from areas and perimeters (1 for a disc, 0 when degenerate).

    >>> compactness(np.array([1.0]), np.array([4.0])).round(3).tolist()
    [0.785]
    """
    area = np.asarray(area_m2, dtype=np.float64)
    perimeter = np.asarray(perimeter_m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, 0.0))


def shared_edges(
    polys: GeomArray, *, min_shared_m: float = MIN_SHARED_M
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Return the pairs ``(i, j)`` (i < j) of polygons that share an edge and its length.

    Parameters
    ----------
    polys : ndarray of Polygon
        A coverage in a metric CRS (metres): polygons that meet along common edges.
    min_shared_m : float
        Pairs sharing less boundary than this (metres) are not neighbours.

    Examples
    --------
    >>> a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 2)
    >>> i, j, length = shared_edges(np.array([a, b], dtype=object))
    >>> i.tolist(), j.tolist(), length.tolist()
    ([0], [1], [1.0])
    """
    polys = np.asarray(polys, dtype=object)
    if len(polys) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="intersects")
    keep = left < right
    left, right = left[keep].astype(np.int64), right[keep].astype(np.int64)
    rings = shapely.boundary(polys)
    # Boundaries of exact neighbours overlap along the shared edge; near-coincident edges
    # (after reprojection) are caught by the interiors overlapping slightly too.
    lengths = shapely.length(shapely.intersection(rings[left], rings[right]))
    neighbour = lengths >= min_shared_m
    return left[neighbour], right[neighbour], np.asarray(lengths[neighbour], dtype=np.float64)


def merge_small(
    polys: GeomArray, small: NDArray[np.bool_], *, min_shared_m: float = MIN_SHARED_M
) -> NDArray[np.int64]:
    """Return a group label per polygon that joins each small one to its best neighbour.

    Each small polygon joins the neighbour with which it shares the longest edge, preferring
    neighbours that are not small themselves; chains of joins are followed, so a run of slivers
    ends in one group. A small polygon with no neighbour keeps its own group.

    Parameters
    ----------
    polys : ndarray of Polygon
        A coverage in a metric CRS.
    small : ndarray of bool
        Which polygons must be merged away.

    Returns
    -------
    ndarray of int
        Labels ``0..k-1``; polygons with equal labels are to be dissolved together.
    """
    n = len(polys)
    i, j, length = shared_edges(polys, min_shared_m=min_shared_m)
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    weight = np.concatenate([length, length])
    candidate = small[src]
    src, dst, weight = src[candidate], dst[candidate], weight[candidate]
    # Sort by (source, neighbour is big, shared length) so the last row per source wins.
    order = np.lexsort((weight, ~small[dst], src))
    src, dst = src[order], dst[order]
    last = np.r_[src[1:] != src[:-1], True] if len(src) else np.zeros(0, dtype=bool)
    graph = coo_matrix((np.ones(int(last.sum())), (src[last], dst[last])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def dissolve(polys: GeomArray, labels: NDArray[np.int64]) -> GeomArray:
    """Union the polygons of each label; return one geometry per label ``0..max``."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    ends = np.r_[starts[1:], len(order)]
    out = np.empty(len(starts), dtype=object)
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):  # one union per output cell
        members = polys[order[a:b]]
        out[k] = members[0] if b - a == 1 else _union(members)
    return out


def _union(members: GeomArray) -> shapely.Geometry:
    try:  # exact coverages (polygonize, lattices) take the fast path
        merged = shapely.coverage_union_all(members)
    except shapely.errors.GEOSException:
        merged = None
    # Nearly coincident edges (pieces cut from cells read back from storage) are no coverage:
    # GEOS may then leave a hairline between neighbours and return several parts instead of
    # raising. Snap to 1 mm so that no sliver survives.
    if merged is None or shapely.get_num_geometries(merged) > 1:
        merged = shapely.union_all(members, grid_size=SNAP_M)
    return merged


def single_parts(polys: GeomArray) -> tuple[GeomArray, NDArray[np.int64]]:
    """Explode (Multi)Polygons into Polygons; also return each part's source index."""
    parts, index = shapely.get_parts(np.asarray(polys, dtype=object), return_index=True)
    is_poly = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    keep = is_poly & (shapely.area(parts) > 0)
    return np.asarray(parts[keep], dtype=object), np.asarray(index[keep], dtype=np.int64)
