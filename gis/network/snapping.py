"""Attach points (building centroids or entrances, facilities) to the nearest walkable edge."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from gis.errors import CoverageInputError
from gis.network.graph import WalkGraph

DEFAULT_MAX_SNAP_M = 300.0


@dataclass(frozen=True)
class Snap:
    """Where each point joins the network.

    Attributes
    ----------
    edge : numpy.ndarray
        Edge index per point (``-1`` when the point is farther than the snapping limit).
    offset_m : numpy.ndarray
        Walking metres from the edge's ``u`` end to the attachment point (NaN if unsnapped).
    distance_m : numpy.ndarray
        Perpendicular distance from the point to the edge, metres (NaN if unsnapped).
    """

    edge: NDArray[np.int64]
    offset_m: NDArray[np.float64]
    distance_m: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def snapped(self) -> NDArray[np.bool_]:
        """True for points attached to the network."""
        return self.edge >= 0

    @property
    def unsnapped(self) -> NDArray[np.int64]:
        """Indices of the points farther than the limit from every walkable edge."""
        return np.flatnonzero(self.edge < 0).astype(np.int64)

    def take(self, indices: NDArray[np.int64]) -> Snap:
        """Return the snaps of a subset of the points, in ``indices`` order."""
        return Snap(self.edge[indices], self.offset_m[indices], self.distance_m[indices])


def snap_points(
    graph: WalkGraph,
    points: NDArray[np.object_],
    *,
    max_distance_m: float = DEFAULT_MAX_SNAP_M,
    threads: int | None = None,
) -> Snap:
    """Snap points to the nearest walkable edge, with the offset along it.

    Parameters
    ----------
    graph : WalkGraph
        The network; ``points`` must be in ``graph.crs`` (use ``graph.to_metric`` first).
    points : numpy.ndarray
        shapely Points (or any geometry: its nearest point is used) in ``graph.crs``.
    max_distance_m : float
        Points farther than this from every edge stay unsnapped and are listed in
        ``Snap.unsnapped``, never attached to a far-away street.
    threads : int, optional
        Threads for the nearest-edge search (GEOS releases the GIL); default one per CPU.

    Returns
    -------
    Snap
        One entry per point, in input order.
    """
    if not max_distance_m > 0:
        raise CoverageInputError(f"max_distance_m must be positive, got {max_distance_m}")
    points = np.asarray(points, dtype=object)
    missing = shapely.is_missing(points) | shapely.is_empty(points)
    if missing.any():
        raise CoverageInputError(f"point {int(np.flatnonzero(missing)[0])} is missing or empty")
    n = len(points)
    edge = np.full(n, -1, dtype=np.int64)
    offset_m = np.full(n, np.nan)
    distance_m = np.full(n, np.nan)
    if n == 0:
        return Snap(edge, offset_m, distance_m)
    tree = graph.edge_tree
    workers = max(1, min(threads or os.cpu_count() or 1, n // 50_000 + 1))
    chunks = np.array_split(np.arange(n), workers)

    def nearest(chunk: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64], Any]:
        # a tie between edges resolves to one of them; any is equally near
        (i, e), d = tree.query_nearest(
            points[chunk], max_distance=max_distance_m, return_distance=True, all_matches=False
        )
        return chunk[i], e, d

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(nearest, chunks))
    point_idx = np.concatenate([f[0] for f in found])
    edge_idx = np.concatenate([f[1] for f in found])
    dist = np.concatenate([f[2] for f in found])
    lines = graph.edge_geometry[edge_idx]
    along = shapely.line_locate_point(lines, points[point_idx])
    scale = graph.geometry_scale[edge_idx]
    edge[point_idx] = edge_idx
    offset_m[point_idx] = np.clip(along * scale, 0.0, graph.edge_length_m[edge_idx])
    distance_m[point_idx] = dist
    return Snap(edge, offset_m, distance_m)


def snap_to_nodes(graph: WalkGraph, nodes: NDArray[np.int64]) -> Snap:
    """Return snaps sitting exactly on the given node indices (for candidate sites at nodes).

    Each node is attached to one incident edge at offset 0 (its ``u`` end) or the edge length
    (its ``v`` end), so reachability treats it as the node itself.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    ends = np.concatenate([graph.edge_u, graph.edge_v])
    order = np.argsort(ends, kind="stable")
    at = np.searchsorted(ends[order], nodes)
    found = (at < len(ends)) & (ends[order][at.clip(0, len(ends) - 1)] == nodes)
    if not found.all():
        raise CoverageInputError(f"node index {int(nodes[~found][0])} has no edge")
    slot = order[at]
    m = graph.edge_count
    edge = np.where(slot < m, slot, slot - m).astype(np.int64)
    offset = np.where(slot < m, 0.0, graph.edge_length_m[edge])
    return Snap(edge, offset, np.zeros(len(nodes)))
