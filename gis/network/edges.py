"""The common edge table every network reader produces, and the pedestrian access rules.

Every reader (``osm.py``, ``lines.py``) returns a :class:`NetworkTables`: an edge table and a
node table in EPSG:4326. The edge table has the columns of :data:`EDGE_COLUMNS`; ``u`` and ``v``
are int64 node ids, ``length_m`` is the geodesic length on the WGS84 ellipsoid, and tag columns
hold OSM tag values (``;``-separated when a simplified edge merged several ways).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Geod

EDGE_COLUMNS = ("u", "v", "length_m", "highway", "access", "foot", "oneway", "osm_id", "geometry")
"""Columns of every reader's edge table, in order."""

STORAGE_CRS = "EPSG:4326"

EXCLUDED_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "disused",
        "razed",
        "raceway",
        "bus_guideway",
        "busway",
        "escape",
        "no",
    }
)
"""``highway`` values a pedestrian may not use (or that are not built)."""

_CLOSED_ACCESS = frozenset({"no"})
_PRIVATE_ACCESS = frozenset({"private"})
_FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})

_WGS84 = Geod(ellps="WGS84")


@dataclass
class NetworkTables:
    """What a reader found: walkable edges and their nodes, plus what it left out and why.

    Attributes
    ----------
    edges : geopandas.GeoDataFrame
        EPSG:4326 LineStrings with the columns of :data:`EDGE_COLUMNS`.
    nodes : geopandas.GeoDataFrame
        EPSG:4326 Points with an int64 ``id`` column; every ``u``/``v`` of ``edges`` is present.
    excluded : dict[str, int]
        Number of source ways/edges dropped, per reason (e.g. ``"foot=no"``).
    source : str
        The file read, for messages.
    """

    edges: Any
    nodes: Any
    excluded: dict[str, int] = field(default_factory=dict)
    source: str = ""


def split_tag_values(values: pd.Series[Any]) -> pd.Series[Any]:
    """Return one lower-cased tag value per row, exploded (index repeats) on ``;``.

    Missing values become the empty string so that comparisons never see NaN.
    """
    text = values.astype("string").fillna("").str.lower()
    return text.str.split(";").explode().str.strip().fillna("")


def _any_in(values: pd.Series[Any], accepted: frozenset[str]) -> NDArray[np.bool_]:
    """Return True per row when any of its ``;``-separated values is in ``accepted``."""
    tokens = split_tag_values(values)
    hits = tokens.isin(accepted).groupby(level=0).any()
    return hits.reindex(values.index, fill_value=False).to_numpy(dtype=bool)


def walk_exclusion_reasons(
    edges: pd.DataFrame, *, include_private: bool = False
) -> NDArray[np.object_]:
    """Return, per edge, why a pedestrian may not use it (``""`` when they may).

    Parameters
    ----------
    edges : pandas.DataFrame
        Needs ``highway``; ``access`` and ``foot`` are used when present (a missing column
        means "no restriction", as for plain line files).
    include_private : bool
        Whether ``access=private`` (gated residential compounds, campuses) is walkable.

    Returns
    -------
    numpy.ndarray
        Object array of reasons: ``"foot=no"``, ``"highway=<value>"``, ``"access=no"``,
        ``"access=private"`` or ``""``.

    Notes
    -----
    A ``foot=yes|designated|permissive`` tag overrides a closed ``access``, as in OSM's access
    hierarchy; ``foot=no`` always excludes. ``oneway`` is ignored: it binds vehicles only.
    A multi-valued tag (``"tertiary;motorway_link"``) excludes when any value does, because
    part of the merged edge is closed.
    """
    n = len(edges)
    empty = pd.Series([""] * n, index=edges.index, dtype="string")
    highway = edges.get("highway", empty)
    access = edges.get("access", empty)
    foot = edges.get("foot", empty)

    foot_no = _any_in(foot, frozenset({"no"}))
    foot_ok = _any_in(foot, _FOOT_ALLOWED)
    foot_private = _any_in(foot, _PRIVATE_ACCESS)
    bad_highway = _any_in(highway, EXCLUDED_HIGHWAYS)
    access_no = _any_in(access, _CLOSED_ACCESS) & ~foot_ok
    access_private = (_any_in(access, _PRIVATE_ACCESS) | foot_private) & ~foot_ok

    reasons = np.full(n, "", dtype=object)
    if not include_private:
        reasons[access_private] = "access=private"
    reasons[access_no] = "access=no"
    if bad_highway.any():
        first_bad = (
            split_tag_values(highway)
            .loc[lambda s: s.isin(EXCLUDED_HIGHWAYS)]
            .groupby(level=0)
            .first()
            .reindex(edges.index)
            .to_numpy(dtype=object)
        )
        reasons[bad_highway] = "highway=" + first_bad[bad_highway].astype(str)
    reasons[foot_no] = "foot=no"
    return reasons


def count_reasons(reasons: NDArray[np.object_]) -> dict[str, int]:
    """Return ``{reason: count}`` for the non-empty reasons, largest first."""
    kept = reasons[reasons != ""]
    if kept.size == 0:
        return {}
    labels, counts = np.unique(kept.astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {str(labels[i]): int(counts[i]) for i in order}


def geodesic_lengths_m(lines: NDArray[np.object_]) -> NDArray[np.float64]:
    """Return the WGS84 ellipsoidal length in metres of each lon/lat LineString.

    Vectorised: one ``Geod.inv`` call over every segment of every line.

    >>> from shapely import LineString
    >>> round(float(geodesic_lengths_m(np.array([LineString([(116, 40), (116, 40.01)])]))[0]), 1)
    1110.3
    """
    coords, index = shapely.get_coordinates(lines, return_index=True)
    lengths = np.zeros(len(lines), dtype=np.float64)
    if len(coords) < 2:
        return lengths
    same = index[1:] == index[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    _, _, seg_m = _WGS84.inv(start[:, 0], start[:, 1], end[:, 0], end[:, 1])
    lengths += np.bincount(index[1:][same], weights=np.asarray(seg_m), minlength=len(lines))
    return lengths


def line_substrings(
    lines: NDArray[np.object_], start: NDArray[np.float64], end: NDArray[np.float64]
) -> NDArray[np.object_]:
    """Return the part of each line between two distances along it, vectorised.

    Parameters
    ----------
    lines : numpy.ndarray
        LineStrings in any CRS.
    start, end : numpy.ndarray
        Distances along each line in the units of its CRS, clipped to ``[0, length]``;
        ``start <= end`` is expected (a piece of zero length is a two-point line).

    Returns
    -------
    numpy.ndarray
        LineStrings, one per input line.

    Examples
    --------
    >>> from shapely import LineString
    >>> line_substrings(np.array([LineString([(0, 0), (10, 0), (10, 10)])]),
    ...                 np.array([5.0]), np.array([15.0]))[0].wkt
    'LINESTRING (5 0, 10 0, 10 5)'
    """
    n = len(lines)
    if n == 0:
        return np.empty(0, dtype=object)
    total = shapely.length(lines)
    start = np.clip(start, 0.0, total)
    end = np.clip(np.maximum(end, start), 0.0, total)
    coords, index = shapely.get_coordinates(lines, return_index=True)
    step = np.zeros(len(coords))
    same = index[1:] == index[:-1]
    step[1:][same] = np.hypot(*(coords[1:] - coords[:-1])[same].T)
    along = np.cumsum(step)
    first = np.searchsorted(index, np.arange(n))
    along -= along[first][index]
    inner = (along > start[index]) & (along < end[index])
    start_xy = shapely.get_coordinates(shapely.line_interpolate_point(lines, start))
    end_xy = shapely.get_coordinates(shapely.line_interpolate_point(lines, end))
    all_xy = np.concatenate([start_xy, coords[inner], end_xy])
    all_line = np.concatenate([np.arange(n), index[inner], np.arange(n)])
    # rank 0/1/2 keeps the start first and the end last even where distances tie
    rank = np.concatenate([np.zeros(n), np.ones(int(inner.sum())), np.full(n, 2.0)])
    pos = np.concatenate([start, along[inner], end])
    order = np.lexsort((rank, pos, all_line))
    return np.asarray(shapely.linestrings(all_xy[order], indices=all_line[order]), dtype=object)


def edge_table(
    *,
    u: NDArray[np.int64],
    v: NDArray[np.int64],
    geometry: NDArray[np.object_],
    highway: Any = "",
    access: Any = "",
    foot: Any = "",
    oneway: Any = False,
    osm_id: Any = -1,
) -> Any:
    """Assemble an EPSG:4326 edge table with the columns of :data:`EDGE_COLUMNS`.

    ``length_m`` is computed here, geodesically, so every source measures the same way.
    """
    frame = gpd.GeoDataFrame(
        {
            "u": np.asarray(u, dtype=np.int64),
            "v": np.asarray(v, dtype=np.int64),
            "length_m": geodesic_lengths_m(geometry),
            "highway": pd.array(
                np.broadcast_to(np.asarray(highway, dtype=object), len(u)), dtype="string"
            ),
            "access": pd.array(
                np.broadcast_to(np.asarray(access, dtype=object), len(u)), dtype="string"
            ),
            "foot": pd.array(
                np.broadcast_to(np.asarray(foot, dtype=object), len(u)), dtype="string"
            ),
            "oneway": np.broadcast_to(np.asarray(oneway, dtype=bool), len(u)).copy(),
            "osm_id": np.broadcast_to(np.asarray(osm_id, dtype=np.int64), len(u)).copy(),
        },
        geometry=gpd.GeoSeries(geometry, crs=STORAGE_CRS),
    )
    return frame[list(EDGE_COLUMNS)]


def node_table(ids: NDArray[np.int64], lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Any:
    """Assemble an EPSG:4326 node table (``id``, ``geometry``)."""
    return gpd.GeoDataFrame(
        {"id": np.asarray(ids, dtype=np.int64)},
        geometry=gpd.GeoSeries(shapely.points(lon, lat), crs=STORAGE_CRS),
    )


def parse_oneway(values: pd.Series[Any]) -> NDArray[np.bool_]:
    """Return True where an OSM/osmnx ``oneway`` value means one-way (``yes``, ``true``, ``-1``)."""
    return _any_in(values, frozenset({"yes", "true", "1", "-1", "reversible"}))
