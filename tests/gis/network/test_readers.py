from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

from gis.coverage import node_distances
from gis.errors import NetworkReadError
from gis.network import (
    EDGE_COLUMNS,
    build_walk_graph,
    read_graphml,
    read_line_file,
    read_network_gpkg,
    read_osm,
)
from gis.network.snapping import snap_to_nodes

REAL = Path("/work/shared/data/real/beijing")
NETWORK = REAL / "network"
LON, LAT = 116.40, 39.90
D = 0.001  # degrees: about 85 m east-west and 111 m north-south here

# 1(0,0) 2(D,0) 3(D,D) 4(0,D); 6 is a locked gate west of the square; 7-8 an island
NODES = {
    1: (0, 0),
    2: (D, 0),
    3: (D, D),
    4: (0, D),
    6: (-D / 2, D / 2),
    9: (-D, 0),
    20: (2 * D, D),
    7: (10 * D, 10 * D),
    8: (11 * D, 10 * D),
}
WAYS = [
    (10, [1, 2], {"highway": "residential"}),
    (11, [2, 3], {"highway": "residential", "oneway": "yes"}),
    (12, [3, 4], {"highway": "footway"}),
    (13, [4, 1], {"highway": "residential", "access": "private"}),
    (14, [1, 3], {"highway": "footway", "foot": "no"}),
    (15, [2, 4], {"highway": "service", "access": "no"}),
    (16, [4, 6, 1], {"highway": "path"}),
    (17, [1, 9], {"highway": "motorway"}),
    (18, [7, 8], {"highway": "service"}),
    (19, [3, 20], {"highway": "footway", "access": "no", "foot": "yes"}),
]


def write_osm(path: Path) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (dx, dy) in NODES.items():
        tags = '<tag k="barrier" v="gate"/><tag k="access" v="no"/>' if node_id == 6 else ""
        lines.append(
            f'<node id="{node_id}" version="1" lat="{LAT + dy:.7f}" lon="{LON + dx:.7f}">'
            f"{tags}</node>"
        )
    for way_id, refs, tags in WAYS:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{way_id}" version="1">{nds}{tag_xml}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def geodesic(a: int, b: int) -> float:
    (x1, y1), (x2, y2) = NODES[a], NODES[b]
    return float(Geod(ellps="WGS84").inv(LON + x1, LAT + y1, LON + x2, LAT + y2)[2])


def test_osm_reader_applies_pedestrian_access_rules(tmp_path: Path) -> None:
    tables = read_osm(write_osm(tmp_path / "toy.osm"))

    ways = sorted(set(tables.edges["osm_id"]))
    assert ways == [10, 11, 12, 16, 18, 19]
    assert list(tables.edges.columns) == list(EDGE_COLUMNS)
    assert tables.edges.crs.to_epsg() == 4326
    assert tables.excluded == {
        "access=private": 1,
        "foot=no": 1,
        "access=no": 1,
        "highway=motorway": 1,
        "barrier access=no": 1,
    }
    assert bool(tables.edges.loc[tables.edges.osm_id == 11, "oneway"].iloc[0])
    side = tables.edges.loc[tables.edges.osm_id == 10, "length_m"].iloc[0]
    assert side == pytest.approx(geodesic(1, 2), abs=1e-6)


def test_locked_gate_private_way_and_oneway_distances(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "toy.osm")
    graph = build_walk_graph(read_osm(path).edges)
    start = graph.node_index(np.array([4]))
    dist, _ = node_distances(graph, snap_to_nodes(graph, start), budget_m=10_000)
    at = graph.node_index(np.array([1, 7]))

    # 4 -> 3 -> 2 -> 1 walks way 11 against its oneway; the gate and private way 13 are shut
    assert dist[at[0]] == pytest.approx(geodesic(4, 3) + geodesic(3, 2) + geodesic(2, 1), abs=0.01)
    assert np.isinf(dist[at[1]])
    assert graph.fragments.count == 2
    assert graph.fragments.node_counts.tolist()[1] == 2

    private = build_walk_graph(read_osm(path, include_private=True).edges)
    start = private.node_index(np.array([4]))
    dist, _ = node_distances(private, snap_to_nodes(private, start), budget_m=10_000)
    assert dist[private.node_index(np.array([1]))[0]] == pytest.approx(geodesic(4, 1), abs=0.01)


def test_osm_reader_on_real_campus_extracts() -> None:
    tsinghua = read_osm(REAL / "osm" / "haidian_tsinghua_pku.osm")
    cau = read_osm(REAL / "osm" / "haidian_xueyuanlu_cau.osm")

    # osmnx finds 901 and 506 simplified nodes; ours also keeps dead ends of unsimplified ways
    assert 800 < len(tsinghua.nodes) < 1500
    assert 400 < len(cau.nodes) < 900
    assert tsinghua.excluded["highway=motorway"] == 2
    assert tsinghua.excluded["barrier foot=no"] == 1  # the closed 残拱桥 entrance
    assert cau.excluded["highway=motorway_link"] == 3
    assert not tsinghua.edges["highway"].isin(["motorway", "motorway_link"]).any()
    assert not (tsinghua.edges["foot"] == "no").any()
    assert set(tsinghua.edges.u) | set(tsinghua.edges.v) == set(tsinghua.nodes.id)
    # the extract is about 2.0 x 2.4 km; its walkable ways total 100-200 km
    assert 100_000 < tsinghua.edges["length_m"].sum() < 200_000
    graph = build_walk_graph(tsinghua.edges)
    assert graph.crs.to_epsg() == 4548
    assert graph.fragments.largest_share > 0.8


def test_graphml_and_gpkg_readers_agree_on_real_beijing_network() -> None:
    graphml = read_graphml(NETWORK / "beijing_inner_drive_osm2024.graphml")
    gpkg = read_network_gpkg(NETWORK / "beijing_inner_drive_osm2024.gpkg")

    # 22,500 directed osmnx edges minus 56 motorway/link and 28 access=no edges
    assert len(graphml.edges) + sum(graphml.excluded.values()) == 22_500
    assert graphml.excluded["highway=motorway"] > 0
    assert len(gpkg.edges) == len(graphml.edges)
    assert np.allclose(np.sort(gpkg.edges.length_m), np.sort(graphml.edges.length_m))
    assert not graphml.edges.highway.str.contains("motorway").any()
    graph = build_walk_graph(graphml.edges)
    # both directions of a two-way street collapse into one undirected edge
    assert graph.edge_count < 0.75 * len(graphml.edges)
    assert graph.node_count <= 10_166
    raw = gpd.read_file(NETWORK / "beijing_inner_drive_osm2024.gpkg", layer="edges")
    kept = raw[~raw.highway.str.contains("motorway") & ~(raw.access == "no")]
    # osmnx measures on a sphere; we measure on the WGS84 ellipsoid (< 0.5 % apart at 40N)
    assert np.allclose(kept["length"].to_numpy(), gpkg.edges.length_m.to_numpy(), rtol=0.005)


def test_line_file_is_noded_at_crossings(tmp_path: Path) -> None:
    # a plus sign (crossing without a shared vertex), a T and a footway with foot=no
    lines = [
        shapely.LineString([(LON, LAT), (LON + 2 * D, LAT)]),
        shapely.LineString([(LON + D, LAT - D), (LON + D, LAT + D)]),
        shapely.LineString([(LON + 2 * D, LAT), (LON + 2 * D, LAT + D)]),
        shapely.LineString([(LON, LAT + D), (LON + 2 * D, LAT + D)]),
    ]
    frame = gpd.GeoDataFrame(
        {
            "highway": ["residential", "residential", "footway", "footway"],
            "foot": [None, None, None, "no"],
        },
        geometry=lines,
        crs="EPSG:4326",
    )
    path = tmp_path / "lines.geojson"
    frame.to_file(path)

    tables = read_line_file(path)

    # the plus gives 4 pieces around its centre; the T end splits nothing (it is a line end)
    assert len(tables.edges) == 5
    assert len(tables.nodes) == 6
    assert tables.excluded == {"foot=no": 1}
    total = Geod(ellps="WGS84").geometry_length
    assert tables.edges.length_m.sum() == pytest.approx(sum(total(g) for g in lines[:3]), rel=1e-9)
    degree = np.bincount(np.concatenate([tables.edges.u, tables.edges.v]))
    assert sorted(degree.tolist()) == [1, 1, 1, 1, 2, 4]


def test_unreadable_files_raise_named_errors(tmp_path: Path) -> None:
    with pytest.raises(NetworkReadError, match="no such file"):
        read_osm(tmp_path / "missing.osm")
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml", encoding="utf-8")
    with pytest.raises(NetworkReadError, match=r"bad\.graphml"):
        read_graphml(bad)
