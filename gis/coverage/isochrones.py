"""Isochrone polygons: the network a facility reaches within each circle, buffered and unioned.

Shortest paths come from batched bounded Dijkstra runs (``indices=`` many facilities at once).
Edges are cut exactly at the remaining budget, from either end and around the facility's own
position, then buffered per facility and circle. Euclidean buffers of the same radii sit beside
them for comparison.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from gis.coverage.reach import CIRCLE_MINUTES, SourceBatch, circle_distance_m, source_batches
from gis.errors import CoverageInputError
from gis.network.edges import line_substrings
from gis.network.graph import WalkGraph
from gis.network.snapping import Snap

DEFAULT_ISOCHRONE_BUFFER_M = 50.0
DEFAULT_CIRCLES_M = tuple(circle_distance_m(m) for m in CIRCLE_MINUTES)


@dataclass(frozen=True)
class ReachedNetwork:
    """Pieces of edges reached by each facility within each radius (graph CRS).

    ``facility`` indexes the facilities given; ``radius_m`` is the circle; ``edge`` the edge the
    piece lies on; ``whole`` whether the piece is the entire edge; ``geometry`` the LineString.
    """

    facility: NDArray[np.int64]
    radius_m: NDArray[np.float64]
    edge: NDArray[np.int64]
    whole: NDArray[np.bool_]
    geometry: NDArray[np.object_]


def reached_network(
    graph: WalkGraph,
    facilities: Snap,
    *,
    circles_m: Sequence[float] = DEFAULT_CIRCLES_M,
) -> ReachedNetwork:
    """Return every edge piece each facility reaches within each radius.

    Parameters
    ----------
    graph : WalkGraph
        The network.
    facilities : Snap
        Facilities snapped to ``graph``; unsnapped ones reach nothing.
    circles_m : sequence of float
        Walking radii in metres (e.g. 5/10/15 min at 4 km/h).

    Returns
    -------
    ReachedNetwork
        An edge fully within reach is one piece; a partly reached edge gives the piece(s)
        from the reached end(s), cut where the remaining budget runs out.
    """
    radii = np.asarray(sorted(float(r) for r in circles_m), dtype=np.float64)
    if radii.size == 0 or not (np.all(np.isfinite(radii)) and radii[0] > 0):
        raise CoverageInputError(f"circles_m must be positive distances, got {list(circles_m)}")
    incidence = node_edges(graph)
    parts: list[
        tuple[
            NDArray[np.int64],
            NDArray[np.float64],
            NDArray[np.int64],
            NDArray[np.float64],
            NDArray[np.float64],
        ]
    ] = []
    for batch in source_batches(graph, facilities, limit_m=float(radii[-1])):
        parts.extend(_pieces_of_batch(graph, batch, facilities, radii, incidence))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return ReachedNetwork(
            empty, np.empty(0), empty, np.empty(0, dtype=bool), np.empty(0, dtype=object)
        )
    facility, radius, edge, start, end = (np.concatenate(p) for p in zip(*parts, strict=True))
    whole = (start <= 0) & (end >= graph.edge_length_m[edge])
    geometry = graph.edge_geometry[edge]  # a fancy-indexed copy
    cut = np.flatnonzero(~whole)
    scale = graph.geometry_scale[edge[cut]]
    geometry[cut] = line_substrings(geometry[cut], start[cut] / scale, end[cut] / scale)
    return ReachedNetwork(facility.astype(np.int64), radius, edge.astype(np.int64), whole, geometry)


def isochrone_polygons(
    graph: WalkGraph,
    facilities: Snap,
    *,
    circles_m: Sequence[float] = DEFAULT_CIRCLES_M,
    buffer_m: float = DEFAULT_ISOCHRONE_BUFFER_M,
    quad_segs: int = 4,
    threads: int | None = None,
) -> Any:
    """Return one isochrone polygon per facility and radius.

    Parameters
    ----------
    graph : WalkGraph
        The network.
    facilities : Snap
        Facilities snapped to ``graph``.
    circles_m : sequence of float
        Walking radii in metres.
    buffer_m : float
        Half-width of the band drawn around the reached network, metres.
    quad_segs : int
        Segments per quarter circle of the buffer's round caps (4 is plenty at 50 m).
    threads : int, optional
        Worker threads for the unions (GEOS releases the GIL); default: one per CPU.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``facility`` (index into ``facilities``), ``radius_m``, ``geometry``
        (Polygon/MultiPolygon in ``graph.crs``); one row per snapped facility and radius.
    """
    if not buffer_m > 0:
        raise CoverageInputError(f"buffer_m must be positive, got {buffer_m}")
    reached = reached_network(graph, facilities, circles_m=circles_m)
    radii = np.asarray(sorted(float(r) for r in circles_m))
    group = np.searchsorted(radii, reached.radius_m) + len(radii) * reached.facility
    groups, inverse = np.unique(group, return_inverse=True)
    # most pieces are whole edges shared by many facilities: buffer each such edge once
    bands = np.empty(len(reached.edge), dtype=object)
    whole_edges, at = np.unique(reached.edge[reached.whole], return_inverse=True)
    edge_bands = shapely.buffer(graph.edge_geometry[whole_edges], buffer_m, quad_segs=quad_segs)
    bands[reached.whole] = edge_bands[at]
    part = ~reached.whole
    bands[part] = shapely.buffer(reached.geometry[part], buffer_m, quad_segs=quad_segs)
    polygons = union_by_group(bands, inverse, len(groups), threads=threads)
    return gpd.GeoDataFrame(
        {
            "facility": (groups // len(radii)).astype(np.int64),
            "radius_m": radii[groups % len(radii)],
        },
        geometry=gpd.GeoSeries(polygons, crs=graph.crs),
    )


def euclidean_buffers(
    points: NDArray[np.object_],
    *,
    crs: Any,
    circles_m: Sequence[float] = DEFAULT_CIRCLES_M,
    quad_segs: int = 16,
) -> Any:
    """Return straight-line circles around each point (metric ``crs``), one per radius.

    Same columns as :func:`isochrone_polygons`, for the network-versus-buffer comparison.
    """
    points = np.asarray(points, dtype=object)
    radii = np.asarray(sorted(float(r) for r in circles_m))
    facility = np.repeat(np.arange(len(points)), len(radii))
    radius = np.tile(radii, len(points))
    return gpd.GeoDataFrame(
        {"facility": facility.astype(np.int64), "radius_m": radius},
        geometry=gpd.GeoSeries(
            shapely.buffer(points[facility], radius, quad_segs=quad_segs), crs=crs
        ),
    )


def union_by_group(
    geometries: NDArray[np.object_],
    group: NDArray[np.int64],
    n_groups: int,
    *,
    threads: int | None = None,
    max_cells: int = 2_000_000,
    coverage: bool = False,
) -> NDArray[np.object_]:
    """Return the union of the geometries of each group ``0..n_groups-1`` (None if empty).

    Vectorised: groups are laid out as rows of a None-padded 2-D array and reduced with
    ``shapely.union_all(axis=1)`` (GEOS cascaded union per row), largest groups first, in
    chunks of at most ``max_cells`` cells (but at least four per thread) run on ``threads``
    threads (GEOS releases the GIL). This is about twice as fast per thread as buffering a
    MultiLineString, whose internal self-union is not cascaded. With ``coverage=True`` the
    geometries of a group must form a coverage (edge-matched, no overlaps, e.g. grid squares)
    and the much faster ``shapely.coverage_union_all`` is used.
    """
    group = np.asarray(group, dtype=np.int64)
    geometries = np.asarray(geometries, dtype=object)
    counts = np.bincount(group, minlength=n_groups)
    # rows of similar width waste fewest padding cells: lay groups out largest first
    rank = np.empty(n_groups, dtype=np.int64)
    by_size = np.argsort(-counts, kind="stable")
    rank[by_size] = np.arange(n_groups)
    order = np.argsort(rank[group], kind="stable")
    row_of, geometries = rank[group][order], geometries[order]
    sizes = counts[by_size]
    first = np.cumsum(sizes) - sizes
    column = np.arange(len(row_of)) - first[row_of]
    workers = threads or os.cpu_count() or 1
    n_chunks = min(max(n_groups, 1), 4 * workers)
    while True:
        bounds = np.linspace(0, n_groups, n_chunks + 1).astype(np.int64)
        widest = sizes[bounds[:-1].clip(max=max(n_groups - 1, 0))] if n_groups else sizes
        if n_chunks >= n_groups or (np.diff(bounds) * widest).max(initial=0) <= max_cells:
            break
        n_chunks = min(n_groups, 2 * n_chunks)
    unions = np.full(n_groups, None, dtype=object)

    def run(lo: int, hi: int) -> None:
        if hi <= lo:
            return
        cells = np.full((hi - lo, max(1, int(sizes[lo]))), None, dtype=object)
        rows = slice(first[lo], first[hi - 1] + sizes[hi - 1])
        cells[row_of[rows] - lo, column[rows]] = geometries[rows]
        reduce = shapely.coverage_union_all if coverage else shapely.union_all
        unions[lo:hi] = reduce(cells, axis=1)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, bounds[:-1].tolist(), bounds[1:].tolist()))
    result = np.full(n_groups, None, dtype=object)
    result[by_size] = unions
    return result


def reached_edges(
    graph: WalkGraph,
    batch: SourceBatch,
    incidence: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Return the (row, edge) pairs where batch row ``r`` reached an end of the edge.

    Also returns the distances of the row's source to the edge's ``u`` and ``v`` (``inf`` when
    unreached), so callers can cut or test positions along the edge.
    """
    indptr, node_edge = incidence if incidence is not None else node_edges(graph)
    r, local = np.nonzero(np.isfinite(batch.dist))
    node = batch.nodes[local]
    degree = indptr[node + 1] - indptr[node]
    r_e = np.repeat(r, degree)
    starts = np.repeat(indptr[node], degree)
    offsets = np.arange(len(r_e)) - np.repeat(np.cumsum(degree) - degree, degree)
    e = node_edge[starts + offsets]
    key = np.unique(r_e.astype(np.int64) * graph.edge_count + e)
    r_e, e = (key // graph.edge_count).astype(np.int64), (key % graph.edge_count).astype(np.int64)
    return r_e, e, batch.at(r_e, graph.edge_u[e]), batch.at(r_e, graph.edge_v[e])


def node_edges(graph: WalkGraph) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """CSR incidence: the edges at each node (``indptr``, ``edges``)."""
    ends = np.concatenate([graph.edge_u, graph.edge_v])
    edge = np.concatenate([np.arange(graph.edge_count)] * 2)
    order = np.argsort(ends, kind="stable")
    indptr = np.searchsorted(ends[order], np.arange(graph.node_count + 1))
    return indptr.astype(np.int64), edge[order].astype(np.int64)


def _pieces_of_batch(
    graph: WalkGraph,
    batch: SourceBatch,
    facilities: Snap,
    radii: NDArray[np.float64],
    incidence: tuple[NDArray[np.int64], NDArray[np.int64]],
) -> list[
    tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
    ]
]:
    """Interval pieces ``[start, end]`` (metres from u) per (facility, radius, edge) of a batch."""
    r_e, e, d_u, d_v = reached_edges(graph, batch, incidence)
    length = graph.edge_length_m[e]
    own_edge = facilities.edge[batch.sources]
    own_t = facilities.offset_m[batch.sources]
    own_len = graph.edge_length_m[own_edge]
    out = []
    for radius in radii:
        rem_u, rem_v = radius - d_u, radius - d_v  # -inf where the end is unreached
        whole = (rem_u >= length) | (rem_v >= length) | (rem_u + rem_v >= length)
        from_u = ~whole & (rem_u >= 0)
        from_v = ~whole & (rem_v >= 0)
        fac = np.concatenate([r_e[whole], r_e[from_u], r_e[from_v], np.arange(len(batch.sources))])
        edge = np.concatenate([e[whole], e[from_u], e[from_v], own_edge])
        start = np.concatenate(
            [
                np.zeros(whole.sum()),
                np.zeros(from_u.sum()),
                (length - rem_v)[from_v],
                np.maximum(own_t - radius, 0.0),
            ]
        )
        end = np.concatenate(
            [length[whole], rem_u[from_u], length[from_v], np.minimum(own_t + radius, own_len)]
        )
        out.append((batch.sources[fac], np.full(len(fac), radius), edge, start, end))
    return out
