"""Hand-made networks in a metric CRS (EPSG:4548, Beijing's Gauss-Krüger zone), for tests."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

CRS = "EPSG:4548"
X0, Y0 = 500_000.0, 4_420_000.0


def toy_edges(
    rows: Sequence[tuple[int, int, Sequence[tuple[float, float]]]], **tags: Sequence[Any]
) -> Any:
    """Edge table from (u, v, [(x, y), ...]) with coordinates relative to (X0, Y0) in metres."""
    lines = [shapely.LineString([(X0 + x, Y0 + y) for x, y in coords]) for _, _, coords in rows]
    frame = gpd.GeoDataFrame(
        {
            "u": np.array([r[0] for r in rows], dtype=np.int64),
            "v": np.array([r[1] for r in rows], dtype=np.int64),
            "length_m": shapely.length(np.array(lines, dtype=object)),
            **{k: list(v) for k, v in tags.items()},
        },
        geometry=gpd.GeoSeries(lines, crs=CRS),
    )
    return frame


def pt(x: float, y: float) -> shapely.Point:
    """A point relative to (X0, Y0)."""
    return shapely.Point(X0 + x, Y0 + y)


def reference_distances(graph: Any, facilities: Any, points: Any, *, cutoff: float) -> Any:
    """Nearest-facility distance per point with networkx over the network split at every snap.

    Independent of the CSR code: each edge is cut into a chain at all facility and point
    offsets on it, then networkx runs a multi-source Dijkstra from the facility nodes.
    """
    g = nx.Graph()
    marks: dict[int, list[tuple[float, Any]]] = {}
    for i in np.flatnonzero(facilities.snapped):
        marks.setdefault(int(facilities.edge[i]), []).append((facilities.offset_m[i], ("f", i)))
    for i in np.flatnonzero(points.snapped):
        marks.setdefault(int(points.edge[i]), []).append((points.offset_m[i], ("b", i)))
    for e in range(graph.edge_count):
        u, v, length = int(graph.edge_u[e]), int(graph.edge_v[e]), graph.edge_length_m[e]
        chain = [(0.0, ("n", u)), *sorted(marks.get(e, []), key=lambda m: m[0]), (length, ("n", v))]
        for (a, na), (b, nb) in pairwise(chain):
            if na == nb:
                continue
            w = b - a
            if g.has_edge(na, nb):
                w = min(w, g[na][nb]["weight"])
            g.add_edge(na, nb, weight=w)
    sources = {("f", int(i)) for i in np.flatnonzero(facilities.snapped)}
    dist = nx.multi_source_dijkstra_path_length(g, sources, cutoff=cutoff)
    return np.array([dist.get(("b", i), np.inf) for i in range(len(points))])
