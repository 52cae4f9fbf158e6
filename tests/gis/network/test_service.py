"""Importing walking networks into PostGIS: every file kind, access rules, fragments, versions."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.errors import InvalidInputError, NetworkReadError, NotFoundError
from gis.network.service import (
    import_network,
    list_networks,
    load_walk_graph,
    network_file_format,
)
from gis.network.store import NetworkEdge
from tests.conftest import PROJECT_DATA
from tests.gis.network.test_readers import LAT, LON, NETWORK, D, write_osm

CAMPUS = PROJECT_DATA / "osm" / "haidian_tsinghua_pku.osm"


def edge_count(session: Session, name: str) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(NetworkEdge).where(NetworkEdge.network == name)
        ).scalar_one()
    )


def test_osm_import_honours_access_rules_and_the_gated_compound_switch(
    session: Session, tmp_path: Path
) -> None:
    path = write_osm(tmp_path / "toy.osm")

    closed = import_network(session, path, name="closed")
    gated = import_network(session, path, name="gated", include_private=True)

    assert closed.file_format == "osm"
    assert closed.excluded["access=private"] == 1
    assert closed.excluded["foot=no"] == 1
    assert closed.excluded["highway=motorway"] == 1
    assert closed.excluded["access=no"] == 1
    assert "access=private" not in gated.excluded
    assert gated.edge_count == closed.edge_count + 1 == edge_count(session, "gated")
    assert gated.version != closed.version
    # the island (ways 18) is a fragment of its own
    assert closed.fragments["fragments"] >= 2
    assert closed.fragments["node_counts"][-1] <= 2


def test_real_campus_and_beijing_networks_import(session: Session) -> None:
    campus = import_network(session, CAMPUS)
    beijing = import_network(session, NETWORK / "beijing_inner_drive_osm2024.gpkg", name="bj")

    assert campus.name == "haidian_tsinghua_pku"
    assert campus.edge_count == edge_count(session, campus.name) > 1000
    assert campus.fragments["largest_share"] > 0.8
    assert beijing.file_format == "osmnx-gpkg"
    assert beijing.excluded["highway=motorway"] > 0
    assert beijing.node_count > 9000
    assert beijing.length_km > 1000
    loaded = load_walk_graph(session, "bj")
    assert loaded.version == beijing.version
    assert loaded.graph.fragments.count == beijing.fragments["fragments"]
    names = {n["name"]: n for n in list_networks(session)}
    assert names["bj"]["edge_count"] == beijing.edge_count
    assert names["bj"]["length_km"] == pytest.approx(beijing.length_km, rel=1e-6)


def test_graphml_and_line_files_import(session: Session, tmp_path: Path) -> None:
    lines = gpd.GeoDataFrame(
        {"highway": ["residential", "residential", "footway"], "foot": [None, None, "no"]},
        geometry=[
            shapely.LineString([(LON, LAT), (LON + 2 * D, LAT)]),
            shapely.LineString([(LON + D, LAT - D), (LON + D, LAT + D)]),
            shapely.LineString([(LON, LAT + D), (LON + 2 * D, LAT + D)]),
        ],
        crs="EPSG:4326",
    ).to_crs(4548)  # any declared CRS is accepted
    path = tmp_path / "streets.geojson"
    lines.to_file(path)

    plain = import_network(session, path)
    osmnx = import_network(session, NETWORK / "beijing_inner_drive_osm2024.graphml")

    assert plain.file_format == "lines"
    assert plain.node_count == 5  # the crossing is noded
    assert plain.edge_count == 4
    assert plain.excluded == {"foot=no": 1}
    assert osmnx.file_format == "graphml"
    assert osmnx.edge_count > 10_000


def test_version_follows_topology_and_lengths_only(session: Session, tmp_path: Path) -> None:
    path = write_osm(tmp_path / "toy.osm")

    first = import_network(session, path, name="a")
    second = import_network(session, path, name="b")
    reread = load_walk_graph(session, "a")

    assert first.version == second.version == reread.version
    assert edge_count(session, "a") == edge_count(session, "b")


def test_bad_inputs_are_named(session: Session, tmp_path: Path) -> None:
    with pytest.raises(NetworkReadError, match=r"missing\.osm: no such file"):
        import_network(session, tmp_path / "missing.osm")
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(NetworkReadError, match=r"broken\.geojson"):
        import_network(session, broken)
    with pytest.raises(InvalidInputError, match="network name"):
        import_network(session, write_osm(tmp_path / "toy.osm"), name="x" * 61)
    with pytest.raises(NotFoundError, match="network 'nowhere'"):
        load_walk_graph(session, "nowhere")
    assert network_file_format("city.osm.pbf") == "osm"
