"""Use cases of the walking network: import a file into PostGIS, list, load as a graph.

An import reads any supported file (OSM ``.osm``/``.osm.pbf``, osmnx GraphML or GeoPackage,
plain line files), drops what pedestrians may not use, reports the disconnected fragments and
replaces the named network in PostGIS in the caller's transaction (all or nothing). The
network's version is a hash of its topology and lengths, so a coverage run can say exactly
which network it used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.errors import InvalidInputError, NetworkReadError, NotFoundError
from gis.network.edges import NetworkTables
from gis.network.graph import WalkGraph, build_walk_graph
from gis.network.lines import read_graphml, read_line_file, read_network_gpkg
from gis.network.osm import read_osm
from gis.network.store import NetworkEdge, NetworkNode, load_network, network_version, save_network

_OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".o5m")
MAX_NAME_LENGTH = 60


@dataclass(frozen=True)
class NetworkImport:
    """What an import stored and what it left out.

    Attributes
    ----------
    name, source, file_format : str
        The network name, the file read and how it was read (``osm``, ``graphml``,
        ``osmnx-gpkg``, ``lines``).
    version : str
        Hash of topology and lengths (see :func:`gis.network.store.network_version`).
    node_count, edge_count : int
        Rows stored.
    length_km : float
        Total walkable length.
    excluded : dict[str, int]
        Ways or edges dropped per reason (``foot=no``, ``access=private``, ``highway=motorway``…).
    fragments : dict[str, Any]
        Disconnected pieces: count, share of nodes in the largest, sizes of the largest ones.
    include_private : bool
        Whether gated compounds (``access=private``) were kept.
    """

    name: str
    source: str
    file_format: str
    version: str
    node_count: int
    edge_count: int
    length_km: float
    excluded: dict[str, int] = field(default_factory=dict)
    fragments: dict[str, Any] = field(default_factory=dict)
    include_private: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LoadedNetwork:
    """A stored network as a walking graph, with its version."""

    name: str
    version: str
    graph: WalkGraph


def network_file_format(path: str | Path, *, layer: str | None = None) -> str:
    """Return how a network file is read: ``osm``, ``graphml``, ``osmnx-gpkg`` or ``lines``.

    A GeoPackage with ``nodes`` and ``edges`` layers (and no ``layer`` asked for) is an osmnx
    graph; any other vector file is a plain line file.

    >>> network_file_format("beijing.osm.pbf")
    'osm'
    >>> network_file_format("roads.geojson")
    'lines'
    """
    name = Path(path).name.lower()
    if name.endswith(_OSM_SUFFIXES):
        return "osm"
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith(".gpkg") and layer is None and Path(path).is_file():
        try:
            layers = {str(row[0]) for row in pyogrio.list_layers(str(path))}
        except (pyogrio.errors.DataSourceError, OSError) as exc:
            raise NetworkReadError(f"{path}: cannot list layers ({exc})") from exc
        if {"nodes", "edges"} <= layers:
            return "osmnx-gpkg"
    return "lines"


def read_network_file(
    path: str | Path, *, include_private: bool = False, layer: str | None = None
) -> tuple[NetworkTables, str]:
    """Read any supported network file; return the tables and the format used.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.osm``/``.osm.pbf``, ``.graphml``, osmnx ``.gpkg``, or a line file (GeoJSON, GPKG,
        SHP…) in any declared CRS.
    include_private : bool
        Keep ``access=private`` ways (gated compounds, campuses).
    layer : str, optional
        The layer of a multi-layer line file.
    """
    if not Path(path).is_file():
        raise NetworkReadError(f"{path}: no such file")
    file_format = network_file_format(path, layer=layer)
    if file_format == "osm":
        return read_osm(path, include_private=include_private), file_format
    if file_format == "graphml":
        return read_graphml(path, include_private=include_private), file_format
    if file_format == "osmnx-gpkg":
        return read_network_gpkg(path, include_private=include_private), file_format
    return read_line_file(path, layer=layer, include_private=include_private), file_format


def import_network(
    session: Session,
    path: str | Path,
    *,
    name: str | None = None,
    include_private: bool = False,
    layer: str | None = None,
) -> NetworkImport:
    """Read a network file and replace the stored network ``name`` with it.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Writes happen in its transaction (the caller commits; a failure leaves nothing).
    path : str or pathlib.Path
        See :func:`read_network_file`.
    name : str, optional
        Network name (default: the file name without its suffixes).
    include_private : bool
        Gated compounds switch: keep ``access=private`` ways.
    layer : str, optional
        Layer of a multi-layer line file.

    Returns
    -------
    NetworkImport
        Counts, version, exclusions per reason and the fragment report.
    """
    name = name or Path(path).name.split(".")[0]
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"network name {name!r} must have 1 to {MAX_NAME_LENGTH} characters"
        )
    tables, file_format = read_network_file(path, include_private=include_private, layer=layer)
    graph = build_walk_graph(tables.edges)
    stored = save_network(session, name, tables)
    return NetworkImport(
        name=name,
        source=str(path),
        file_format=file_format,
        version=stored.version,
        node_count=stored.node_count,
        edge_count=stored.edge_count,
        length_km=round(float(tables.edges["length_m"].sum()) / 1000.0, 3),
        excluded=dict(tables.excluded),
        fragments=graph.fragments.to_dict(top=10),
        include_private=include_private,
    )


def list_networks(session: Session) -> list[dict[str, Any]]:
    """Return every stored network with its node and edge counts and total length."""
    nodes = dict(
        session.execute(
            select(NetworkNode.network, func.count()).group_by(NetworkNode.network)
        ).all()
    )
    rows = session.execute(
        select(NetworkEdge.network, func.count(), func.sum(NetworkEdge.length_m))
        .group_by(NetworkEdge.network)
        .order_by(NetworkEdge.network)
    ).all()
    return [
        {
            "name": network,
            "node_count": int(nodes.get(network, 0)),
            "edge_count": int(edges),
            "length_km": round(float(length or 0.0) / 1000.0, 3),
        }
        for network, edges, length in rows
    ]


def load_walk_graph(session: Session, name: str) -> LoadedNetwork:
    """Load the stored network ``name`` as a walking graph with its version.

    Raises
    ------
    NotFoundError
        When no network of that name is stored.
    """
    tables = load_network(session, name)
    if len(tables.edges) == 0:
        raise NotFoundError("network", name)
    return LoadedNetwork(name, network_version(tables.edges), build_walk_graph(tables.edges))
