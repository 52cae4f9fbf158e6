"""Walking network: readers (OSM, osmnx GraphML/GeoPackage, line files), CSR graph, snapping."""

from gis.network.edges import EDGE_COLUMNS, NetworkTables, walk_exclusion_reasons
from gis.network.graph import FragmentReport, WalkGraph, build_walk_graph
from gis.network.lines import read_graphml, read_line_file, read_network_gpkg
from gis.network.osm import read_osm
from gis.network.snapping import DEFAULT_MAX_SNAP_M, Snap, snap_points, snap_to_nodes

__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "EDGE_COLUMNS",
    "FragmentReport",
    "NetworkTables",
    "Snap",
    "WalkGraph",
    "build_walk_graph",
    "read_graphml",
    "read_line_file",
    "read_network_gpkg",
    "read_osm",
    "snap_points",
    "snap_to_nodes",
    "walk_exclusion_reasons",
]
