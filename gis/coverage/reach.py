"""Walking distance from every building to its nearest facility of a category.

One bounded multi-source Dijkstra (scipy's C implementation) per category. Facilities sit on
edges, not nodes: each becomes a virtual node joined to its edge's ends by the two partial
lengths, so ``sources`` tells which facility reached a node first. Buildings read the distance
at both ends of their own edge, plus the direct walk along it when a facility shares the edge.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.errors import CoverageInputError
from gis.network.graph import WalkGraph
from gis.network.snapping import Snap

DEFAULT_BUDGET_M = 1000.0
DEFAULT_SPEED_M_PER_MIN = 1000.0 / 15.0  # GB 50180 pairs 15 min with 1,000 m: 4 km/h
CIRCLE_MINUTES = (5.0, 10.0, 15.0)


@dataclass(frozen=True)
class Reach:
    """Nearest facility of one category for every building.

    Attributes
    ----------
    distance_m : numpy.ndarray
        Walking metres to the nearest facility; ``inf`` when none is within the budget or the
        building is not on the network.
    facility : numpy.ndarray
        Index (into the facilities given) of that facility, ``-1`` when none.
    budget_m : float
        The search limit used.
    speed_m_per_min : float
        Walking speed for :attr:`walk_min`.
    """

    distance_m: NDArray[np.float64]
    facility: NDArray[np.int64]
    budget_m: float
    speed_m_per_min: float = DEFAULT_SPEED_M_PER_MIN

    @property
    def walk_min(self) -> NDArray[np.float64]:
        """Walking time in minutes (``inf`` where unreached)."""
        return self.distance_m / self.speed_m_per_min

    def within(self, minutes: float) -> NDArray[np.bool_]:
        """Return True for buildings whose nearest facility is within ``minutes`` of walking."""
        limit_m = minutes * self.speed_m_per_min
        if limit_m > self.budget_m * (1 + 1e-12):
            raise CoverageInputError(
                f"a {minutes} min circle ({limit_m:.0f} m) exceeds the search budget "
                f"({self.budget_m:.0f} m); raise budget_m"
            )
        return np.asarray(self.distance_m <= limit_m, dtype=bool)


def circle_distance_m(minutes: float, *, speed_m_per_min: float = DEFAULT_SPEED_M_PER_MIN) -> float:
    """Return the walking distance of a ``minutes`` circle at ``speed_m_per_min``.

    >>> round(circle_distance_m(15), 6)
    1000.0
    """
    return float(minutes) * float(speed_m_per_min)


def with_sources(graph: WalkGraph, sources: Snap) -> tuple[Any, NDArray[np.int64]]:
    """Return the adjacency with one virtual node per snapped source, and their original indices.

    Virtual node ``graph.node_count + i`` is source ``kept[i]``; it has out-edges only (to its
    edge's ``u`` at the offset, to ``v`` at the rest of the length). No shortest path from a
    source can gain by passing through another virtual node (its detour ``t + (len - t)`` is no
    shorter than the edge itself), so in-edges are unnecessary.
    """
    kept = np.flatnonzero(sources.snapped).astype(np.int64)
    edge = sources.edge[kept]
    matrix = _add_sources(
        graph.matrix,
        graph.edge_u[edge],
        graph.edge_v[edge],
        sources.offset_m[kept],
        graph.edge_length_m[edge],
    )
    return matrix, kept


def _add_sources(
    base: Any,
    u: NDArray[np.int64],
    v: NDArray[np.int64],
    to_u: NDArray[np.float64],
    length_m: NDArray[np.float64],
) -> Any:
    """Append one out-only virtual node per source to the CSR ``base``.

    Source ``i`` sits on an edge ``(u[i], v[i], length_m[i])`` at ``to_u[i]`` metres from u.
    """
    to_v = length_m - to_u
    loop = u == v  # a loop edge: both ends are one node, keep the nearer way (no summing)
    first = np.where(loop, u, np.minimum(u, v))
    second = np.maximum(u, v)
    w_first = np.where(loop, np.minimum(to_u, to_v), np.where(u <= v, to_u, to_v))
    w_second = np.where(u <= v, to_v, to_u)
    count = np.where(loop, 1, 2)
    use = np.column_stack([np.ones(len(to_u), dtype=bool), ~loop])
    indices = np.column_stack([first, second])[use]
    data = np.column_stack([w_first, w_second])[use]
    n_all = base.shape[0] + len(to_u)
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(count)])
    matrix = sp.csr_array(
        (
            np.concatenate([base.data, data]),
            np.concatenate([base.indices, indices]),
            indptr,
        ),
        shape=(n_all, n_all),
    )
    return matrix


@dataclass(frozen=True)
class SourceBatch:
    """Bounded shortest-path distances from a few sources over their local subgraph.

    ``sources`` are indices into the :class:`Snap` given; ``nodes`` the ascending global node
    indices of the subgraph; ``dist[i, j]`` the metres from ``sources[i]`` to ``nodes[j]``
    (``inf`` beyond the limit).
    """

    sources: NDArray[np.int64]
    nodes: NDArray[np.int64]
    dist: NDArray[np.float64]

    def at(self, rows: NDArray[np.int64], nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return ``dist`` for (row, global node) pairs; ``inf`` for nodes outside the batch."""
        pos = np.searchsorted(self.nodes, nodes).clip(0, max(len(self.nodes) - 1, 0))
        inside = self.nodes[pos] == nodes if len(self.nodes) else np.zeros(len(nodes), bool)
        return np.where(inside, self.dist[rows, pos], np.inf)


def source_batches(
    graph: WalkGraph, sources: Snap, *, limit_m: float, max_batch: int = 256
) -> Iterator[SourceBatch]:
    """Yield bounded Dijkstra results for every snapped source, a spatial batch at a time.

    A walk of at most ``limit_m`` stays within ``limit_m`` (straight line) of its start, so
    each batch of nearby sources runs on the subgraph inside their bounding box grown by the
    limit: memory and time follow the reached area, not the city (a 1M-node network costs
    no more per batch than a district).
    """
    _check_budget(limit_m)
    kept = np.flatnonzero(sources.snapped).astype(np.int64)
    if kept.size == 0:
        return
    edge = sources.edge[kept]
    xy = shapely.get_coordinates(
        shapely.line_interpolate_point(
            graph.edge_geometry[edge], sources.offset_m[kept] / graph.geometry_scale[edge]
        )
    )
    tile_m = max(2.0 * limit_m, 500.0)
    tx, ty = np.floor(xy[:, 0] / tile_m), np.floor(xy[:, 1] / tile_m)
    order = np.lexsort((ty, tx))
    new_tile = np.r_[True, (tx[order][1:] != tx[order][:-1]) | (ty[order][1:] != ty[order][:-1])]
    tile_rank = np.cumsum(new_tile) - 1
    slot = np.arange(len(order)) - np.flatnonzero(new_tile)[tile_rank]
    starts = np.flatnonzero(new_tile | (slot % max_batch == 0))
    # 0.1 % covers the Gauss-Krüger scale error between planar and walked metres
    margin = limit_m * 1.001 + 1.0
    local_of = np.full(graph.node_count, -1, dtype=np.int64)
    for lo, hi in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        rows = order[lo:hi]
        (x0, y0), (x1, y1) = xy[rows].min(axis=0) - margin, xy[rows].max(axis=0) + margin
        near = graph.node_tree.query(shapely.box(x0, y0, x1, y1))
        e = edge[rows]
        nodes = np.unique(np.concatenate([near, graph.edge_u[e], graph.edge_v[e]]))
        local = _subgraph(graph.matrix, nodes, local_of)
        matrix = _add_sources(
            local,
            np.searchsorted(nodes, graph.edge_u[e]),
            np.searchsorted(nodes, graph.edge_v[e]),
            sources.offset_m[kept[rows]],
            graph.edge_length_m[e],
        )
        n = len(nodes)
        dist = dijkstra(matrix, directed=True, indices=n + np.arange(len(rows)), limit=limit_m)
        yield SourceBatch(kept[rows], nodes.astype(np.int64), dist[:, :n])


def _subgraph(matrix: Any, nodes: NDArray[np.int64], local_of: NDArray[np.int64]) -> Any:
    """Return the CSR of ``matrix`` restricted to ``nodes`` (ascending), in O(their degree).

    ``local_of`` is a caller-owned array of -1 (one per node), used and restored here, so no
    city-sized array is allocated per batch.
    """
    local_of[nodes] = np.arange(len(nodes))
    indptr = matrix.indptr
    start, stop = indptr[nodes], indptr[nodes + 1]
    degree = stop - start
    slots = np.repeat(start - np.cumsum(degree) + degree, degree) + np.arange(int(degree.sum()))
    column = local_of[matrix.indices[slots]]
    keep = column >= 0
    row = np.repeat(np.arange(len(nodes)), degree)[keep]
    local_of[nodes] = -1
    counts = np.bincount(row, minlength=len(nodes))
    return sp.csr_array(
        (matrix.data[slots][keep], column[keep], np.r_[0, np.cumsum(counts)]),
        shape=(len(nodes), len(nodes)),
    )


def node_distances(
    graph: WalkGraph, facilities: Snap, *, budget_m: float = DEFAULT_BUDGET_M
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return, per node, the walking metres to the nearest facility and its index.

    One multi-source Dijkstra bounded by ``budget_m``; unreached nodes get ``inf`` and ``-1``.
    """
    _check_budget(budget_m)
    n = graph.node_count
    if not facilities.snapped.any():
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    matrix, kept = with_sources(graph, facilities)
    dist, _, source = dijkstra(
        matrix,
        directed=True,
        indices=n + np.arange(len(kept)),
        limit=budget_m,
        min_only=True,
        return_predecessors=True,
    )
    reached = source[:n] >= 0
    nearest = np.full(n, -1, dtype=np.int64)
    nearest[reached] = kept[source[:n][reached] - n]
    return np.asarray(dist[:n], dtype=np.float64), nearest


def nearest_facility(
    graph: WalkGraph,
    facilities: Snap,
    buildings: Snap,
    *,
    budget_m: float = DEFAULT_BUDGET_M,
    speed_m_per_min: float = DEFAULT_SPEED_M_PER_MIN,
) -> Reach:
    """Return each building's walking distance to its nearest facility (one category).

    Parameters
    ----------
    graph : WalkGraph
        The walking network.
    facilities, buildings : Snap
        Facilities and buildings snapped to ``graph`` (unsnapped ones are ignored / get
        ``inf``).
    budget_m : float
        Search limit in metres (default 1,000 m = 15 min at 4 km/h).
    speed_m_per_min : float
        Walking speed, for the minutes in the result.

    Returns
    -------
    Reach
        Exact network distances: a building at offset ``s`` of edge ``(u, v, len)`` gets
        ``min(d[u] + s, d[v] + len - s)``, or ``|t - s|`` when a facility at offset ``t`` shares
        its edge and is nearer.
    """
    return _nearest(
        graph,
        facilities,
        _Attached.of(graph, buildings),
        budget_m=budget_m,
        speed_m_per_min=speed_m_per_min,
    )


def _nearest(
    graph: WalkGraph,
    facilities: Snap,
    attached: _Attached,
    *,
    budget_m: float,
    speed_m_per_min: float,
) -> Reach:
    node_dist, node_facility = node_distances(graph, facilities, budget_m=budget_m)
    distance_m, facility = _along_edges(graph, node_dist, node_facility, attached, facilities)
    beyond = distance_m > budget_m
    distance_m[beyond] = np.inf
    facility[beyond] = -1
    return Reach(distance_m, facility, float(budget_m), float(speed_m_per_min))


def reach_all(
    graph: WalkGraph,
    facilities: Mapping[str, Snap],
    buildings: Snap,
    *,
    budget_m: float | Mapping[str, float] = DEFAULT_BUDGET_M,
    speed_m_per_min: float = DEFAULT_SPEED_M_PER_MIN,
) -> dict[str, Reach]:
    """Run :func:`nearest_facility` for every category (``budget_m`` may differ per category)."""
    attached = _Attached.of(graph, buildings)  # shared by every category
    result = {}
    for category, snaps in facilities.items():
        limit = budget_m[category] if isinstance(budget_m, Mapping) else budget_m
        result[category] = _nearest(
            graph, snaps, attached, budget_m=limit, speed_m_per_min=speed_m_per_min
        )
    return result


def euclidean_nearest(
    facility_points: NDArray[np.object_],
    building_points: NDArray[np.object_],
    *,
    max_distance_m: float = DEFAULT_BUDGET_M,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return the straight-line distance (metric CRS units) to the nearest facility and its index.

    ``inf`` / ``-1`` beyond ``max_distance_m``. For the Euclidean-buffer comparison figures.
    Point-to-point uses a k-d tree on all CPUs; other geometries (footprints) an STRtree.
    """
    n = len(building_points)
    distance = np.full(n, np.inf)
    nearest = np.full(n, -1, dtype=np.int64)
    if len(facility_points) == 0 or n == 0:
        return distance, nearest
    facility_points = np.asarray(facility_points, dtype=object)
    building_points = np.asarray(building_points, dtype=object)
    point = shapely.GeometryType.POINT
    if (shapely.get_type_id(facility_points) == point).all() and (
        shapely.get_type_id(building_points) == point
    ).all():
        tree_xy = cKDTree(shapely.get_coordinates(facility_points))
        d, f = tree_xy.query(
            shapely.get_coordinates(building_points),
            distance_upper_bound=max_distance_m * (1 + 1e-12),
            workers=-1,
        )
        found = np.isfinite(d)
        distance[found] = d[found]
        nearest[found] = f[found]
        return distance, nearest
    tree = shapely.STRtree(np.asarray(facility_points, dtype=object))
    (b, f), d = tree.query_nearest(
        np.asarray(building_points, dtype=object),
        max_distance=max_distance_m,
        return_distance=True,
        all_matches=False,
    )
    distance[b] = d
    nearest[b] = f
    return distance, nearest


@dataclass(frozen=True)
class _Attached:
    """Snapped points with their edge ends and both partial lengths, computed once."""

    snaps: Snap
    on: NDArray[np.int64]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    to_u: NDArray[np.float64]
    to_v: NDArray[np.float64]
    edge: NDArray[np.int64]  # edge of each point in ``on``
    all_on: bool  # every point snapped: results need no scatter into ``on``

    @classmethod
    def of(cls, graph: WalkGraph, snaps: Snap) -> _Attached:
        on = np.flatnonzero(snaps.snapped)
        edge = snaps.edge[on]
        to_u = snaps.offset_m[on]
        return cls(
            snaps,
            on,
            graph.edge_u[edge],
            graph.edge_v[edge],
            to_u,
            graph.edge_length_m[edge] - to_u,
            edge,
            len(on) == len(snaps),
        )


def _along_edges(
    graph: WalkGraph,
    node_dist: NDArray[np.float64],
    node_facility: NDArray[np.int64],
    points: _Attached,
    facilities: Snap,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distances of snapped points from node distances, plus the same-edge shortcut.

    Runs once per category over every building: kept to a few whole-array passes (one gather
    of the nearer end, no scatter when every point is snapped).
    """
    via_u = node_dist[points.u] + points.to_u
    via_v = node_dist[points.v] + points.to_v
    use_v = via_v < via_u
    best = np.where(use_v, via_v, via_u)
    owner = node_facility[np.where(use_v, points.v, points.u)]
    if points.all_on:
        distance, facility = best, owner
    else:
        n = len(points.snaps)
        distance = np.full(n, np.inf)
        facility = np.full(n, -1, dtype=np.int64)
        distance[points.on] = best
        facility[points.on] = owner

    has_facility = np.zeros(graph.edge_count, dtype=bool)
    has_facility[facilities.edge[facilities.snapped]] = True
    shared = points.on[has_facility[points.edge]]
    direct_d, direct_f = same_edge_nearest(facilities, points.snaps.take(shared))
    better = direct_d < distance[shared]
    distance[shared[better]] = direct_d[better]
    facility[shared[better]] = direct_f[better]
    return distance, facility


def same_edge_nearest(
    facilities: Snap, points: Snap
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return, per point, ``|t - s|`` to the nearest facility on its own edge (``inf``/-1 if none).

    Vectorised: facilities and points on shared edges are sorted together by (edge, offset);
    each point's nearest facility on the edge is its predecessor or successor facility.
    """
    n = len(points)
    distance = np.full(n, np.inf)
    facility = np.full(n, -1, dtype=np.int64)
    f_idx = np.flatnonzero(facilities.snapped)
    shared = np.flatnonzero(points.snapped & np.isin(points.edge, facilities.edge[f_idx]))
    if shared.size == 0:
        return distance, facility
    edge = np.concatenate([facilities.edge[f_idx], points.edge[shared]])
    pos = np.concatenate([facilities.offset_m[f_idx], points.offset_m[shared]])
    is_point = np.concatenate([np.zeros(len(f_idx), bool), np.ones(len(shared), bool)])
    order = np.lexsort((is_point, pos, edge))
    edge, pos, is_point = edge[order], pos[order], is_point[order]
    slots = np.arange(len(order))
    prev = np.maximum.accumulate(np.where(~is_point, slots, -1))
    nxt = np.minimum.accumulate(np.where(~is_point, slots, len(order))[::-1])[::-1]
    at = np.flatnonzero(is_point)
    p, q = prev[at], nxt[at]
    p_ok = (p >= 0) & (edge[p.clip(0)] == edge[at])
    q_ok = (q < len(order)) & (edge[q.clip(max=len(order) - 1)] == edge[at])
    d_prev = np.where(p_ok, pos[at] - pos[p.clip(0)], np.inf)
    d_next = np.where(q_ok, pos[q.clip(max=len(order) - 1)] - pos[at], np.inf)
    take_next = d_next < d_prev
    best_slot = np.where(take_next, q.clip(max=len(order) - 1), p.clip(0))
    best = np.where(take_next, d_next, d_prev)
    # back from sorted slots to facility and point indices
    f_of_slot = np.full(len(order), -1, dtype=np.int64)
    f_of_slot[~is_point] = f_idx[order[~is_point]]
    point_of = shared[order[at] - len(f_idx)]
    found = np.isfinite(best)
    distance[point_of[found]] = best[found]
    facility[point_of[found]] = f_of_slot[best_slot[found]]
    return distance, facility


def _check_budget(budget_m: float) -> None:
    if not (np.isfinite(budget_m) and budget_m > 0):
        raise CoverageInputError(f"budget_m must be a positive number of metres, got {budget_m}")
