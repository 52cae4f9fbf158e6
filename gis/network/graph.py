"""The walking graph: undirected CSR adjacency over node indices, edge geometries in metres.

Walkers ignore ``oneway``, so every edge is usable both ways. Parallel edges (two ways between
the same junctions, or the two directions of an osmnx street) are collapsed to the shortest in
the adjacency matrix; the edge list keeps them all, because a building may stand beside the
longer one and must be snapped to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from pyproj import CRS
from scipy.sparse.csgraph import connected_components

from gis.crs import metric_crs_for, transformer_between
from gis.errors import NetworkGraphError


@dataclass(frozen=True)
class FragmentReport:
    """Connected pieces of a walking network, largest first.

    Attributes
    ----------
    node_counts : numpy.ndarray
        Nodes per fragment, descending.
    length_m : numpy.ndarray
        Total edge length per fragment (same order), metres.
    labels : numpy.ndarray
        Per node index, its fragment's rank in ``node_counts`` (0 = the largest).
    """

    node_counts: NDArray[np.int64]
    length_m: NDArray[np.float64]
    labels: NDArray[np.int64]

    @property
    def count(self) -> int:
        """Number of fragments."""
        return len(self.node_counts)

    @property
    def largest_share(self) -> float:
        """Share of nodes in the largest fragment (1.0 for a connected network)."""
        total = int(self.node_counts.sum())
        return float(self.node_counts[0]) / total if total else 1.0

    def to_dict(self, *, top: int = 20) -> dict[str, Any]:
        """Return a JSON-ready summary (the ``top`` largest fragments)."""
        return {
            "fragments": self.count,
            "largest_share": round(self.largest_share, 6),
            "node_counts": self.node_counts[:top].tolist(),
            "length_m": np.round(self.length_m[:top], 1).tolist(),
        }


@dataclass(frozen=True, eq=False)
class WalkGraph:
    """An undirected walking graph in a metric CRS.

    Attributes
    ----------
    crs : pyproj.CRS
        The metric CRS of ``node_xy`` and ``edge_geometry``.
    node_ids : numpy.ndarray
        Source node id (int64) per node index, ascending.
    node_xy : numpy.ndarray
        ``(n, 2)`` node coordinates in ``crs``.
    edge_u, edge_v : numpy.ndarray
        Node indices of each edge's start and end (the geometry runs from u to v).
    edge_length_m : numpy.ndarray
        Walking length of each edge, metres (the readers' geodesic length).
    edge_geometry : numpy.ndarray
        LineStrings in ``crs``.
    edge_row : numpy.ndarray
        Row of each edge in the edge table the graph was built from.
    matrix : scipy.sparse.csr_array
        Symmetric ``(n, n)`` adjacency; one entry per node pair, the shortest parallel edge.
    """

    crs: CRS
    node_ids: NDArray[np.int64]
    node_xy: NDArray[np.float64]
    edge_u: NDArray[np.int64]
    edge_v: NDArray[np.int64]
    edge_length_m: NDArray[np.float64]
    edge_geometry: NDArray[np.object_]
    edge_row: NDArray[np.int64]
    matrix: Any = field(repr=False)

    @property
    def node_count(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def edge_count(self) -> int:
        """Number of edges (parallel edges included)."""
        return len(self.edge_u)

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index over ``edge_geometry`` (built on first use)."""
        return shapely.STRtree(self.edge_geometry)

    @cached_property
    def node_tree(self) -> shapely.STRtree:
        """Spatial index over the node points (built on first use)."""
        return shapely.STRtree(np.asarray(shapely.points(self.node_xy), dtype=object))

    @cached_property
    def geometry_scale(self) -> NDArray[np.float64]:
        """Per edge, walking metres per CRS unit along its geometry (≈ 1 in a Gauss-Krüger zone)."""
        geom_length = shapely.length(self.edge_geometry)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(geom_length > 0, self.edge_length_m / geom_length, 1.0)
        return np.asarray(scale, dtype=np.float64)

    @cached_property
    def fragments(self) -> FragmentReport:
        """The connected fragments of the network (see :class:`FragmentReport`)."""
        count, labels = connected_components(self.matrix, directed=False)
        node_counts = np.bincount(labels, minlength=count)
        length_m = np.bincount(labels[self.edge_u], weights=self.edge_length_m, minlength=count)
        order = np.lexsort((-length_m, -node_counts))
        rank = np.empty(count, dtype=np.int64)
        rank[order] = np.arange(count)
        return FragmentReport(
            node_counts=node_counts[order].astype(np.int64),
            length_m=length_m[order].astype(np.float64),
            labels=rank[labels],
        )

    def node_index(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Return the node index of each source node id; raise on an unknown id."""
        ids = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(self.node_ids, ids).clip(0, max(self.node_count - 1, 0))
        unknown = self.node_ids[at] != ids
        if unknown.any():
            raise NetworkGraphError(f"node id {int(ids[unknown][0])} is not in the graph")
        return at.astype(np.int64)

    def to_metric(self, geometries: NDArray[np.object_], *, crs: Any = "EPSG:4326") -> Any:
        """Return ``geometries`` (given in ``crs``) transformed into the graph's CRS."""
        transformer = transformer_between(crs, self.crs)
        return shapely.transform(
            np.asarray(geometries, dtype=object),
            lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])),
        )

    def to_geographic(self, geometries: NDArray[np.object_]) -> Any:
        """Return graph-CRS ``geometries`` transformed to EPSG:4326 lon/lat."""
        transformer = transformer_between(self.crs, 4326)
        return shapely.transform(
            np.asarray(geometries, dtype=object),
            lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])),
        )


def build_walk_graph(edges: Any, *, crs: Any = None) -> WalkGraph:
    """Build the undirected walking graph of an edge table.

    Parameters
    ----------
    edges : geopandas.GeoDataFrame
        Columns ``u``, ``v`` (int64 node ids), ``length_m`` (metres) and LineString
        ``geometry`` running from ``u`` to ``v``, in any CRS (a reader's EPSG:4326 table, or
        a metric one).
    crs : pyproj.CRS or str, optional
        The metric CRS to work in. Default: the edges' CRS when it is projected, else the
        CGCS2000 Gauss-Krüger zone of the network's centre (``gis.crs.metric_crs_for``).

    Returns
    -------
    WalkGraph

    Raises
    ------
    NetworkGraphError
        No CRS, no edges, a non-line or empty geometry, or a negative/unknown length (the
        message names the first bad row).
    """
    if len(edges) == 0:
        raise NetworkGraphError("the edge table is empty")
    if edges.crs is None:
        raise NetworkGraphError("the edge table has no CRS")
    for column in ("u", "v", "length_m"):
        if column not in edges:
            raise NetworkGraphError(f"the edge table has no {column!r} column")
    geometry = np.asarray(edges.geometry.to_numpy(), dtype=object)
    bad = (shapely.get_type_id(geometry) != shapely.GeometryType.LINESTRING) | shapely.is_empty(
        geometry
    )
    length_m = edges["length_m"].to_numpy(dtype=np.float64)
    bad |= ~np.isfinite(length_m) | (length_m < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NetworkGraphError(
            f"edge row {row} (u={edges['u'].iloc[row]}, v={edges['v'].iloc[row]}) has an empty "
            f"or non-LineString geometry or an invalid length_m ({length_m[row]!r})"
        )
    source_crs = CRS.from_user_input(edges.crs)
    if crs is not None:
        metric = CRS.from_user_input(crs)
    elif source_crs.is_projected:
        metric = source_crs
    else:
        metric = metric_crs_for(geometry)  # the CGCS2000 Gauss-Krüger zone of the centre
    if not metric.is_projected:
        raise NetworkGraphError(f"the working CRS must be projected (metres), got {metric.name}")
    if metric != source_crs:
        transformer = transformer_between(source_crs, metric)
        geometry = shapely.transform(
            geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )

    u_id = edges["u"].to_numpy(dtype=np.int64)
    v_id = edges["v"].to_numpy(dtype=np.int64)
    rows = _drop_reverse_twins(u_id, v_id, length_m)
    u_id, v_id, length_m, geometry = u_id[rows], v_id[rows], length_m[rows], geometry[rows]
    node_ids, inverse = np.unique(np.concatenate([u_id, v_id]), return_inverse=True)
    m = len(rows)
    edge_u, edge_v = inverse[:m].astype(np.int64), inverse[m:].astype(np.int64)
    ends = np.concatenate([shapely.get_point(geometry, 0), shapely.get_point(geometry, -1)])
    end_xy = shapely.get_coordinates(ends)
    node_xy = np.empty((len(node_ids), 2))
    node_xy[inverse] = end_xy
    matrix = _collapsed_adjacency(edge_u, edge_v, length_m, len(node_ids))
    return WalkGraph(
        crs=metric,
        node_ids=node_ids.astype(np.int64),
        node_xy=node_xy,
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length_m=length_m,
        edge_geometry=np.asarray(geometry, dtype=object),
        edge_row=rows.astype(np.int64),
        matrix=matrix,
    )


def _drop_reverse_twins(
    u: NDArray[np.int64], v: NDArray[np.int64], length_m: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Rows to keep: one of each edge listed once per direction (same ends, same length ±1 cm)."""
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    cm = np.round(length_m * 100).astype(np.int64)
    _, first = np.unique(np.column_stack([lo, hi, cm]), axis=0, return_index=True)
    return np.sort(first).astype(np.int64)


def _collapsed_adjacency(
    edge_u: NDArray[np.int64], edge_v: NDArray[np.int64], length_m: NDArray[np.float64], n: int
) -> Any:
    """Symmetric CSR with the shortest length per node pair (scipy would SUM duplicates)."""
    lo, hi = np.minimum(edge_u, edge_v), np.maximum(edge_u, edge_v)
    loop = lo == hi  # a loop never shortens a path
    lo, hi, w = lo[~loop], hi[~loop], length_m[~loop]
    order = np.lexsort((w, hi, lo))
    lo, hi, w = lo[order], hi[order], w[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
    lo, hi, w = lo[first], hi[first], w[first]
    coo = sp.coo_array(
        (np.concatenate([w, w]), (np.concatenate([lo, hi]), np.concatenate([hi, lo]))),
        shape=(n, n),
    )
    matrix = coo.tocsr()
    matrix.sort_indices()
    return matrix
