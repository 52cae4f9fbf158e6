"""Read the walking network from an OpenStreetMap ``.osm`` / ``.osm.pbf`` file with pyosmium.

Ways are split at every node they share with another walkable way (and at their ends), so graph
nodes are junctions and dead ends; a bridge over a street shares no node with it and stays
unconnected, as it should.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import osmium
import pandas as pd
import shapely
from numpy.typing import NDArray

from gis.errors import NetworkReadError
from gis.network.edges import (
    NetworkTables,
    count_reasons,
    edge_table,
    node_table,
    parse_oneway,
    walk_exclusion_reasons,
)

_TAGS = ("highway", "access", "foot", "oneway", "motorroad")
_BARRIER_TAGS = ("barrier", "access", "foot")


def read_osm(path: str | Path, *, include_private: bool = False) -> NetworkTables:
    """Read the walkable ways of an OSM XML or PBF file as a noded edge table.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.osm``, ``.osm.pbf`` (anything libosmium reads). Coordinates are WGS84 lon/lat.
    include_private : bool
        Keep ``access=private`` ways (gated compounds, campuses).

    Returns
    -------
    NetworkTables
        Edges (one per way piece between junctions) and nodes, EPSG:4326; ``excluded`` counts
        the dropped ways per reason, including ``motorroad=yes`` and ``missing node locations``.

    Raises
    ------
    NetworkReadError
        When the file cannot be read or holds no walkable way.
    """
    source = str(path)
    if not Path(path).is_file():
        raise NetworkReadError(f"{source}: no such file")
    way_ids: list[int] = []
    tags: dict[str, list[str]] = {key: [] for key in _TAGS}
    sizes: list[int] = []
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    barrier_ids: list[int] = []
    barrier_tags: dict[str, list[str]] = {key: [] for key in _BARRIER_TAGS}
    try:
        processor = (
            osmium.FileProcessor(source, osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway", "barrier"))
        )
        # one Python step per way is inherent to pyosmium; all geometry work below is vectorised
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                if "barrier" in obj.tags:
                    barrier_ids.append(obj.id)
                    for key in _BARRIER_TAGS:
                        barrier_tags[key].append(obj.tags.get(key) or "")
                continue
            if not isinstance(obj, osmium.osm.Way) or "highway" not in obj.tags:
                continue
            nodes = obj.nodes
            way_ids.append(obj.id)
            for key in _TAGS:
                tags[key].append(obj.tags.get(key) or "")
            sizes.append(len(nodes))
            for node in nodes:
                refs.append(node.ref)
                loc = node.location
                if loc.valid():
                    lons.append(loc.lon)
                    lats.append(loc.lat)
                else:
                    lons.append(np.nan)
                    lats.append(np.nan)
    except (RuntimeError, OSError) as exc:  # libosmium reports bad input as RuntimeError
        raise NetworkReadError(f"{source}: cannot read OSM data ({exc})") from exc

    ways = pd.DataFrame(tags)
    reasons = walk_exclusion_reasons(ways, include_private=include_private)
    reasons[(reasons == "") & (ways["motorroad"].str.lower() == "yes").to_numpy()] = "motorroad=yes"
    size_arr = np.asarray(sizes, dtype=np.int64)
    way_of = np.repeat(np.arange(len(size_arr)), size_arr)
    ref_arr = np.asarray(refs, dtype=np.int64)
    xy = np.column_stack([np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)])

    # nodes outside an extract have no location: drop them, then ways left with < 2 nodes
    located = ~np.isnan(xy[:, 0])
    kept_size = np.bincount(way_of[located], minlength=len(size_arr))
    reasons[(reasons == "") & (kept_size < 2)] = "missing node locations"
    keep_way = reasons == ""
    keep = located & keep_way[way_of]
    if not keep.any():
        raise NetworkReadError(f"{source}: no walkable way found")
    barrier_reasons = walk_exclusion_reasons(
        pd.DataFrame(barrier_tags).assign(highway=""), include_private=include_private
    )
    blocked = np.asarray(barrier_ids, dtype=np.int64)[barrier_reasons != ""]
    pieces = _split_at_junctions(way_of[keep], ref_arr[keep], xy[keep], blocked)
    piece_way = pieces.way
    table = edge_table(
        u=pieces.u,
        v=pieces.v,
        geometry=pieces.geometry,
        highway=ways["highway"].to_numpy(dtype=object)[piece_way],
        access=ways["access"].to_numpy(dtype=object)[piece_way],
        foot=ways["foot"].to_numpy(dtype=object)[piece_way],
        oneway=parse_oneway(ways["oneway"])[piece_way],
        osm_id=np.asarray(way_ids, dtype=np.int64)[piece_way],
    )
    return NetworkTables(
        edges=table,
        nodes=node_table(pieces.node_id, pieces.node_xy[:, 0], pieces.node_xy[:, 1]),
        excluded=count_reasons(reasons)
        | {f"barrier {k}": c for k, c in count_reasons(barrier_reasons).items()},
        source=source,
    )


class _Pieces(NamedTuple):
    """Way pieces between junctions and the junction nodes."""

    u: NDArray[np.int64]
    v: NDArray[np.int64]
    way: NDArray[np.int64]
    geometry: NDArray[np.object_]
    node_id: NDArray[np.int64]
    node_xy: NDArray[np.float64]


def _split_at_junctions(
    way: NDArray[np.int64],
    ref: NDArray[np.int64],
    xy: NDArray[np.float64],
    blocked: NDArray[np.int64],
) -> _Pieces:
    """Split ways (flat node lists, consecutive per ``way`` index) at shared nodes, vectorised.

    Returns the pieces (``u``, ``v``, ``way``, ``geometry``) and the junction nodes
    (``id``, ``lon``, ``lat``). A ``blocked`` node (a closed gate) becomes a separate dead end
    for every piece that reaches it, with a negative id, so nobody walks through it.
    """
    n = len(ref)
    starts_way = np.ones(n, dtype=bool)
    starts_way[1:] = way[1:] != way[:-1]
    ends_way = np.ones(n, dtype=bool)
    ends_way[:-1] = starts_way[1:]
    _, inverse, counts = np.unique(ref, return_inverse=True, return_counts=True)
    # a node used twice (by two ways, or a way crossing itself) is a junction
    is_blocked = np.isin(ref, blocked)
    is_node = starts_way | ends_way | (counts[inverse] > 1) | is_blocked

    opens = is_node & ~ends_way
    piece = np.cumsum(opens) - 1
    closes_prev = is_node & ~starts_way & ~ends_way
    pos = np.concatenate([np.arange(n), np.flatnonzero(closes_prev)])
    pid = np.concatenate([piece, piece[closes_prev] - 1])
    order = np.lexsort((pos, pid))
    pos, pid = pos[order], pid[order]
    geometry = np.asarray(shapely.linestrings(xy[pos], indices=pid), dtype=object)
    bounds = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    first = pos[bounds]
    last = pos[np.r_[bounds[1:] - 1, len(pos) - 1]]
    u, v = ref[first].copy(), ref[last].copy()
    cut_u, cut_v = is_blocked[first], is_blocked[last]
    u[cut_u] = -(2 * np.flatnonzero(cut_u)) - 1
    v[cut_v] = -(2 * np.flatnonzero(cut_v)) - 2
    end_ids = np.concatenate([u, v])
    end_xy = np.concatenate([xy[first], xy[last]])
    node_ids, unique_at = np.unique(end_ids, return_index=True)
    node_xy = end_xy[unique_at]
    return _Pieces(u, v, way[first], geometry, node_ids, node_xy)
