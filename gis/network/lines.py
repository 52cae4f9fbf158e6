"""Read the walking network from osmnx GraphML/GeoPackage files and from plain line files.

osmnx files already hold a noded graph (``u``/``v`` node ids); plain line files (GeoJSON, GPKG,
SHP) are noded here: every crossing, touching end and line end becomes a node.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from numpy.typing import NDArray

from gis.errors import NetworkReadError
from gis.network.edges import (
    STORAGE_CRS,
    NetworkTables,
    count_reasons,
    edge_table,
    line_substrings,
    node_table,
    parse_oneway,
    walk_exclusion_reasons,
)

_GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"
_NODE_SNAP_DEG = 1e-9  # ~0.1 mm: a noded crossing point lies on both lines up to rounding


def read_graphml(path: str | Path, *, include_private: bool = False) -> NetworkTables:
    """Read an osmnx GraphML file (MultiDiGraph, EPSG:4326) without importing osmnx.

    Parameters
    ----------
    path : str or pathlib.Path
        GraphML written by ``osmnx.save_graphml``; nodes need ``x``/``y`` (lon/lat), edges may
        carry ``geometry`` as WKT (straight lines otherwise).
    include_private : bool
        Keep ``access=private`` edges.

    Returns
    -------
    NetworkTables
        Directed osmnx edges become one row each; :func:`gis.network.graph.build_walk_graph`
        merges the two directions of a street.
    """
    source = str(path)
    try:
        root = ET.parse(source).getroot()
    except (OSError, ET.ParseError) as exc:
        raise NetworkReadError(f"{source}: cannot read GraphML ({exc})") from exc
    names = {key.get("id", ""): key.get("attr.name", "") for key in root.iter(f"{_GRAPHML}key")}
    graph = root.find(f"{_GRAPHML}graph")
    if graph is None:
        raise NetworkReadError(f"{source}: no <graph> element")

    def attributes(element: ET.Element) -> dict[str, str]:
        return {
            names.get(d.get("key", ""), ""): d.text or "" for d in element.iter(f"{_GRAPHML}data")
        }

    node_rows = [{"id": n.get("id"), **attributes(n)} for n in graph.iter(f"{_GRAPHML}node")]
    edge_rows = [
        {"u": e.get("source"), "v": e.get("target"), **attributes(e)}
        for e in graph.iter(f"{_GRAPHML}edge")
    ]
    nodes = pd.DataFrame(node_rows)
    edges = pd.DataFrame(edge_rows)
    for column in ("x", "y"):
        if column not in nodes:
            raise NetworkReadError(f"{source}: nodes have no {column!r} attribute")
    nodes = nodes.rename(columns={"id": "osmid"})
    geometry = None
    if "geometry" in edges:
        wkt = edges["geometry"].fillna("").to_numpy(dtype=object)
        wkt[wkt == ""] = None
        geometry = np.asarray(shapely.from_wkt(wkt), dtype=object)
    return _from_osmnx_frames(nodes, edges, geometry, source, include_private=include_private)


def read_network_gpkg(
    path: str | Path,
    *,
    nodes_layer: str = "nodes",
    edges_layer: str = "edges",
    include_private: bool = False,
) -> NetworkTables:
    """Read an osmnx-style GeoPackage (``nodes`` Points with ``osmid``, ``edges`` with ``u``/``v``).

    Parameters
    ----------
    path : str or pathlib.Path
        The GeoPackage; layers in any CRS (reprojected to EPSG:4326).
    nodes_layer, edges_layer : str
        Layer names.
    include_private : bool
        Keep ``access=private`` edges.
    """
    source = str(path)
    try:
        nodes = gpd.read_file(source, layer=nodes_layer).to_crs(STORAGE_CRS)
        edges = gpd.read_file(source, layer=edges_layer).to_crs(STORAGE_CRS)
    except (
        OSError,
        ValueError,
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
    ) as exc:
        raise NetworkReadError(
            f"{source}: cannot read layers {nodes_layer!r}/{edges_layer!r} ({exc})"
        ) from exc
    if "osmid" not in nodes:
        nodes = nodes.assign(osmid=nodes.index)
    xy = shapely.get_coordinates(nodes.geometry.to_numpy())
    nodes = pd.DataFrame({"osmid": nodes["osmid"], "x": xy[:, 0], "y": xy[:, 1]})
    geometry = edges.geometry.to_numpy()
    return _from_osmnx_frames(
        nodes,
        pd.DataFrame(edges.drop(columns="geometry")),
        geometry,
        source,
        include_private=include_private,
    )


def read_line_file(
    path: str | Path, *, layer: str | None = None, include_private: bool = False
) -> NetworkTables:
    """Read a plain line file (GeoJSON, GPKG, SHP...) and node it into a walking network.

    Parameters
    ----------
    path : str or pathlib.Path
        Lines in any CRS (reprojected to EPSG:4326). Optional tag columns ``highway``,
        ``access``, ``foot``, ``oneway``, ``osm_id`` are carried over and filtered as for OSM.
    layer : str, optional
        The layer of a multi-layer file.
    include_private : bool
        Keep ``access=private`` lines.

    Notes
    -----
    Lines are noded with :func:`shapely.node`: where two lines cross or touch, both are split
    and share a node, so a line file cannot express a bridge (use OSM for that). Node ids are
    ``0..n-1`` in coordinate order.
    """
    source = str(path)
    try:
        frame = gpd.read_file(source, layer=layer)
    except (
        OSError,
        ValueError,
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
    ) as exc:
        raise NetworkReadError(f"{source}: cannot read ({exc})") from exc
    if frame.crs is None:
        raise NetworkReadError(f"{source}: the file declares no CRS")
    frame = frame.to_crs(STORAGE_CRS).explode(index_parts=False).reset_index(drop=True)
    kinds = shapely.get_type_id(frame.geometry.to_numpy())
    bad = np.flatnonzero(kinds != shapely.GeometryType.LINESTRING)
    if bad.size:
        raise NetworkReadError(
            f"{source}: feature {int(bad[0])} is a {frame.geometry.iloc[bad[0]].geom_type}, "
            f"not a line ({bad.size} such feature(s))"
        )
    reasons = walk_exclusion_reasons(frame, include_private=include_private)
    lines_frame = frame[reasons == ""].reset_index(drop=True)
    if lines_frame.empty:
        raise NetworkReadError(f"{source}: no walkable line")
    lines = lines_frame.geometry.to_numpy()
    pieces, piece_line = _node_lines(lines)
    ends = np.concatenate([shapely.get_point(pieces, 0), shapely.get_point(pieces, -1)])
    end_xy = np.round(shapely.get_coordinates(ends), 9)
    unique_xy, end_id = np.unique(end_xy, axis=0, return_inverse=True)
    end_id = end_id.reshape(-1)
    n = len(pieces)

    def column(name: str, default: object) -> Any:
        if name not in lines_frame:
            return default
        return lines_frame[name].to_numpy(dtype=object)[piece_line]

    osm_id = column("osm_id", -1)
    if not np.isscalar(osm_id):
        osm_id = pd.to_numeric(pd.Series(osm_id), errors="coerce").fillna(-1).to_numpy(np.int64)
    oneway = parse_oneway(lines_frame["oneway"])[piece_line] if "oneway" in lines_frame else False
    edges = edge_table(
        u=end_id[:n].astype(np.int64),
        v=end_id[n:].astype(np.int64),
        geometry=pieces,
        highway=column("highway", ""),
        access=column("access", ""),
        foot=column("foot", ""),
        oneway=oneway,
        osm_id=osm_id,
    )
    return NetworkTables(
        edges=edges,
        nodes=node_table(np.arange(len(unique_xy)), unique_xy[:, 0], unique_xy[:, 1]),
        excluded=count_reasons(reasons),
        source=source,
    )


def _node_lines(lines: NDArray[np.object_]) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Split lines at every crossing/touching point and at each other's ends, vectorised.

    Returns the pieces and, per piece, the index of the line it came from. A line crossing
    itself is cut where it first passes the crossing only (``line_locate_point``).
    """
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(lines)))
    # shapely.node cuts at every vertex; a junction is where the segment degree is not 2,
    # or an original line end (two lines meeting end to end keep their own attributes)
    seg_ends = np.concatenate([shapely.get_point(noded, 0), shapely.get_point(noded, -1)])
    xy = np.round(shapely.get_coordinates(seg_ends), 9)
    unique_xy, degree = np.unique(xy, axis=0, return_counts=True)
    line_ends = np.round(
        shapely.get_coordinates(
            np.concatenate([shapely.get_point(lines, 0), shapely.get_point(lines, -1)])
        ),
        9,
    )
    junction_xy = np.unique(np.concatenate([unique_xy[degree != 2], line_ends]), axis=0)
    junctions = np.asarray(shapely.points(junction_xy), dtype=object)
    tree = shapely.STRtree(junctions)
    line_idx, point_idx = tree.query(lines, predicate="dwithin", distance=_NODE_SNAP_DEG)
    along = shapely.line_locate_point(lines[line_idx], junctions[point_idx])
    lengths = shapely.length(lines)
    # every line is cut at its own ends plus the junctions on it
    all_line = np.concatenate([line_idx, np.arange(len(lines)), np.arange(len(lines))])
    all_pos = np.concatenate([along, np.zeros(len(lines)), lengths])
    order = np.lexsort((all_pos, all_line))
    all_line, all_pos = all_line[order], all_pos[order]
    same = all_line[1:] == all_line[:-1]
    gap = all_pos[1:] - all_pos[:-1]
    # a piece shorter than the node tolerance is rounding noise between two cuts at one point
    keep = same & (gap > _NODE_SNAP_DEG)
    piece_line = all_line[:-1][keep]
    pieces = line_substrings(lines[piece_line], all_pos[:-1][keep], all_pos[1:][keep])
    return pieces, piece_line.astype(np.int64)


def _from_osmnx_frames(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    geometry: NDArray[np.object_] | None,
    source: str,
    *,
    include_private: bool,
) -> NetworkTables:
    """Turn osmnx-shaped node/edge frames into the common tables."""
    for column in ("u", "v"):
        if column not in edges:
            raise NetworkReadError(f"{source}: edges have no {column!r} column")
    try:
        node_id = pd.to_numeric(nodes["osmid"]).to_numpy(np.int64)
        u = pd.to_numeric(edges["u"]).to_numpy(np.int64)
        v = pd.to_numeric(edges["v"]).to_numpy(np.int64)
        x = pd.to_numeric(nodes["x"]).to_numpy(np.float64)
        y = pd.to_numeric(nodes["y"]).to_numpy(np.float64)
    except (ValueError, TypeError) as exc:
        raise NetworkReadError(
            f"{source}: node ids and coordinates must be numbers ({exc})"
        ) from exc
    order = np.argsort(node_id)
    at_u = np.searchsorted(node_id, u, sorter=order).clip(0, len(order) - 1)
    at_v = np.searchsorted(node_id, v, sorter=order).clip(0, len(order) - 1)
    missing = (node_id[order[at_u]] != u) | (node_id[order[at_v]] != v)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise NetworkReadError(
            f"{source}: edge {i} ({u[i]}->{v[i]}) names a node that is not in the node table"
        )
    straight = shapely.linestrings(
        np.stack(
            [
                np.column_stack([x[order[at_u]], y[order[at_u]]]),
                np.column_stack([x[order[at_v]], y[order[at_v]]]),
            ],
            axis=1,
        )
    )
    lines = np.asarray(straight, dtype=object)
    if geometry is not None:
        given = ~shapely.is_missing(geometry)
        lines[given] = geometry[given]

    tags = pd.DataFrame(
        {
            name: _osmnx_tag(edges[name]) if name in edges else ""
            for name in ("highway", "access", "foot", "oneway")
        },
        index=edges.index,
    )
    reasons = walk_exclusion_reasons(tags, include_private=include_private)
    keep = reasons == ""
    osm_id = (
        _osmnx_tag(edges["osmid"]).str.split(";").str[0]
        if "osmid" in edges
        else pd.Series("-1", index=edges.index)
    )
    table = edge_table(
        u=u[keep],
        v=v[keep],
        geometry=lines[keep],
        highway=tags["highway"].to_numpy(dtype=object)[keep],
        access=tags["access"].to_numpy(dtype=object)[keep],
        foot=tags["foot"].to_numpy(dtype=object)[keep],
        oneway=parse_oneway(tags["oneway"])[keep],
        osm_id=pd.to_numeric(osm_id, errors="coerce").fillna(-1).to_numpy(np.int64)[keep],
    )
    used = np.isin(node_id, np.concatenate([u[keep], v[keep]]))
    return NetworkTables(
        edges=table,
        nodes=node_table(node_id[used], x[used], y[used]),
        excluded=count_reasons(reasons),
        source=source,
    )


def _osmnx_tag(values: pd.Series[Any]) -> pd.Series[Any]:
    """Turn osmnx list values (``"['a', 'b']"``) into OSM's ``"a;b"``; keep plain strings."""
    text = values.astype("string").fillna("").str.strip()
    listed = text.str.startswith("[") & text.str.endswith("]")
    unlisted = (
        text.str.slice(1, -1).str.replace(r"['\"]?\s*,\s*['\"]?", ";", regex=True).str.strip("'\" ")
    )
    return text.where(~listed, unlisted).replace({"nan": "", "None": ""})
