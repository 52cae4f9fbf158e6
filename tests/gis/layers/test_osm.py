"""OSM import of the two real campus extracts, checked against independent readings of the XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import geopandas as gpd
import osmium
import pytest
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.boundaries import import_boundaries
from gis.errors import InvalidInputError
from gis.layers.buildings import Building
from gis.layers.checklist import classify_osm_tags
from gis.layers.facilities import Facility
from gis.layers.osm import OSM_SOURCE, import_osm
from tests.conftest import PROJECT_DATA

OSM = PROJECT_DATA / "osm"
TSINGHUA = OSM / "haidian_tsinghua_pku.osm"
XUEYUANLU = OSM / "haidian_xueyuanlu_cau.osm"
HAIDIAN = PROJECT_DATA / "boundaries" / "beijing" / "districts" / "haidian-outline.geojson"
HAIDIAN_STREETS = PROJECT_DATA / "boundaries" / "beijing" / "subdistricts" / "haidian-all.geojson"


def _expected(path: Path) -> tuple[int, Counter[str]]:
    """Count buildings and classify POIs straight from the XML (ElementTree, per-object rules)."""
    root = ET.parse(path).getroot()
    node_ids = {n.get("id") for n in root.iter("node")}
    buildings = 0
    categories: Counter[str] = Counter()

    def tags_of(element: ET.Element) -> dict[str, str]:
        return {t.get("k", ""): t.get("v", "") for t in element.iter("tag")}

    for node in root.iter("node"):
        category = classify_osm_tags(tags_of(node))
        if category:
            categories[category] += 1
    for way in root.iter("way"):
        tags, refs = tags_of(way), [n.get("ref") for n in way.iter("nd")]
        closed = len(refs) >= 4 and refs[0] == refs[-1] and all(r in node_ids for r in refs)
        if closed and tags.get("area") != "no":
            buildings += tags.get("building", "no") != "no"
            category = classify_osm_tags(tags)
            if category:
                categories[category] += 1
    for relation in root.iter("relation"):
        tags = tags_of(relation)
        if tags.get("type") == "multipolygon":
            buildings += tags.get("building", "no") != "no"
            category = classify_osm_tags(tags)
            if category:
                categories[category] += 1
    return buildings, categories


@pytest.fixture
def haidian(session: Session) -> gpd.GeoDataFrame:
    import_boundaries(session, HAIDIAN)
    import_boundaries(session, HAIDIAN_STREETS)
    streets = gpd.read_file(HAIDIAN_STREETS)
    streets["street_code"] = streets["code"].astype(str).str[:9]
    return streets


@pytest.mark.parametrize("path", [TSINGHUA, XUEYUANLU], ids=["tsinghua_pku", "xueyuanlu"])
def test_campus_extract_imports_real_buildings_and_pois(
    session: Session, haidian: gpd.GeoDataFrame, path: Path
) -> None:
    expected_buildings, expected_categories = _expected(path)

    report = import_osm(session, path)

    assert report.buildings is not None and report.facilities is not None
    assert report.buildings.inserted == expected_buildings
    stored = Counter(
        dict(
            session.execute(
                select(Facility.category, func.count()).group_by(Facility.category)
            ).all()
        )
    )
    assert stored == expected_categories
    assert {"kindergarten", "primary_school", "pharmacy"} <= set(stored)
    sources = set(session.execute(select(Building.source).distinct()).scalars())
    assert sources == {OSM_SOURCE}
    assert "OpenStreetMap contributors" in OSM_SOURCE


def test_membership_matches_an_independent_join(
    session: Session, haidian: gpd.GeoDataFrame
) -> None:
    report = import_osm(session, TSINGHUA)

    rows = session.execute(
        select(
            Building.source_id, Building.street_code, func.ST_AsBinary(Building.anchor)
        ).outerjoin(Building.membership)
    ).all()
    anchors = gpd.GeoDataFrame(
        {"source_id": [r[0] for r in rows], "db": [r[1] for r in rows]},
        geometry=shapely.from_wkb([bytes(r[2]) for r in rows]),
        crs="EPSG:4326",
    )
    joined = anchors.sjoin(haidian[["street_code", "geometry"]], how="left", predicate="intersects")
    joined = joined.sort_values("street_code").drop_duplicates("source_id")
    expected = dict(
        zip(
            joined["source_id"],
            joined["street_code"].where(joined["street_code"].notna(), None),
            strict=True,
        )
    )
    actual = dict(zip(anchors["source_id"], anchors["db"], strict=True))
    assert actual == expected
    assert len(set(actual.values()) - {None}) >= 3  # the extract spans several streets
    outside = sum(v is None for v in actual.values())
    assert report.buildings is not None
    reported = [w for w in report.buildings.warnings if w.index >= 0]
    assert len(reported) == outside


def test_reimport_and_pbf_update_the_same_rows(
    session: Session, haidian: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    first = import_osm(session, XUEYUANLU)
    pbf = tmp_path / "xueyuanlu.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(XUEYUANLU)):
            writer.add(obj)

    again = import_osm(session, pbf)

    assert first.buildings is not None and again.buildings is not None
    assert (again.buildings.inserted, again.buildings.updated) == (0, first.buildings.inserted)
    assert again.facilities is not None and first.facilities is not None
    assert again.facilities.updated == first.facilities.inserted
    total = session.execute(select(func.count()).select_from(Building)).scalar_one()
    assert total == first.buildings.inserted
    tags = session.execute(
        select(Facility.osm_tags).where(Facility.category == "kindergarten").limit(1)
    ).scalar_one()
    assert tags is not None
    assert "amenity" in tags or "name" in tags


def test_bad_osm_file_is_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.osm"
    path.write_text("<osm><node id='1' lat='x'", encoding="utf-8")

    with pytest.raises(InvalidInputError, match="cannot read OSM data"):
        import_osm(session, path)

    assert session.execute(select(func.count()).select_from(Building)).scalar_one() == 0
