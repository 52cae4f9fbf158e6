"""Layer imports: good files land with membership; every kind of bad file writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, Polygon, box, mapping
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.auth import PermissionDeniedError, Principal, Role
from gis.crs import gcj02_to_wgs84, wgs84_to_gcj02
from gis.errors import ImportValidationError, InvalidInputError
from gis.layers.buildings import Building
from gis.layers.components import Component
from gis.layers.facilities import Facility
from gis.layers.imports import LayerImportOptions, import_layer_file
from tests.conftest import PROJECT_DATA
from tests.gis.geojson_files import feature, feature_collection, write_json
from tests.gis.layers.conftest import EAST_GRID, STREET_CODE, WEST_GRID, Town

NETWORK = PROJECT_DATA / "network" / "beijing_inner_drive_osm2024.gpkg"
GEOD = Geod(ellps="WGS84")


def _footprint(lon: float, lat: float) -> Polygon:
    return box(lon - 0.0002, lat - 0.0001, lon + 0.0002, lat + 0.0001)


def _buildings(n: int, *, floors: int = 6, prefix: str = "B") -> list[dict[str, Any]]:
    lons = np.linspace(116.4015, 116.4185, n)
    return [
        feature(
            mapping(_footprint(float(lon), 39.905)),
            code=f"{prefix}{i:04d}",
            name=f"楼{i}",
            floors=floors,
        )
        for i, lon in enumerate(lons)
    ]


def _count(session: Session, model: type[Any]) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# ----------------------------------------------------------------------------- good files
def test_buildings_import_with_membership_and_estimated_dwellings(
    session: Session, town: Town, tmp_path: Path
) -> None:
    path = write_json(tmp_path, "b.geojson", feature_collection(_buildings(10, floors=6)))

    report = import_layer_file(session, "building", path)

    rows = session.execute(
        select(
            Building.code,
            Building.grid_code,
            Building.street_code,
            Building.dwellings,
            Building.dwellings_estimated,
            func.ST_AsText(Building.geom),
        )
        .outerjoin(Building.membership)
        .where(Building.source == "b.geojson")
        .order_by(Building.code)
    ).all()
    assert (report.feature_count, report.inserted, report.updated) == (10, 10, 0)
    assert len(rows) == 10
    for row in rows:
        geom = shapely.from_wkt(row[5])
        expected_grid = WEST_GRID if geom.centroid.x < 116.41 else EAST_GRID
        assert (row.grid_code, row.street_code) == (expected_grid, STREET_CODE)
        area_m2 = abs(GEOD.geometry_area_perimeter(geom)[0])
        assert row.dwellings == pytest.approx(area_m2 * 6 / 90.0, abs=1)
        assert row.dwellings_estimated


def test_reimport_updates_and_never_duplicates(
    session: Session, town: Town, tmp_path: Path
) -> None:
    path = write_json(tmp_path, "b.geojson", feature_collection(_buildings(5, floors=6)))
    import_layer_file(session, "building", path)
    before = _count(session, Building)
    changed = _buildings(5, floors=12)
    changed[0]["properties"]["dwellings"] = 7
    path.write_text(json.dumps(feature_collection(changed), ensure_ascii=False))

    report = import_layer_file(session, "building", path)

    assert (report.inserted, report.updated) == (0, 5)
    assert _count(session, Building) == before
    floors = session.execute(
        select(Building.code, Building.floors, Building.dwellings, Building.dwellings_estimated)
        .where(Building.source == "b.geojson")
        .order_by(Building.code)
    ).all()
    assert {f.floors for f in floors} == {12}
    assert (floors[0].dwellings, floors[0].dwellings_estimated) == (7, False)


def test_streaming_in_small_chunks_gives_the_same_rows(
    session: Session, town: Town, tmp_path: Path
) -> None:
    path = write_json(tmp_path, "b.geojson", feature_collection(_buildings(11)))
    seen: list[tuple[int, int]] = []

    report = import_layer_file(
        session,
        "building",
        path,
        LayerImportOptions(chunk_rows=3),
        progress=lambda d, t: seen.append((d, t)),
    )

    assert report.inserted == 11
    assert seen == [(3, 11), (6, 11), (9, 11), (11, 11)]


def test_csv_with_gcj02_tag_is_converted(session: Session, town: Town, tmp_path: Path) -> None:
    lon, lat = np.array([116.405, 116.415]), np.array([39.91, 39.905])
    glon, glat = (a.tolist() for a in wgs84_to_gcj02(lon, lat))
    path = tmp_path / "f.csv"
    path.write_text(
        "id,name,category,lon,lat\n"
        f"c1,社区卫生服务站,community_health_station,{glon[0]!r},{glat[0]!r}\n"
        f"c2,菜市场,菜市场或生鲜超市,{glon[1]!r},{glat[1]!r}\n".replace(
            "菜市场或生鲜超市", "fresh_food_market"
        ),
        encoding="utf-8",
    )

    import_layer_file(session, "facility", path, LayerImportOptions(crs="gcj02"))

    rows = session.execute(
        select(
            Facility.source_id,
            Facility.category,
            func.ST_X(Facility.geom),
            func.ST_Y(Facility.geom),
            Facility.grid_code,
        )
        .outerjoin(Facility.membership)
        .order_by(Facility.source_id)
    ).all()
    back = np.array([[r[2], r[3]] for r in rows])
    assert np.abs(back - np.column_stack([lon, lat])).max() < 1e-7  # < 1 cm
    assert [r.grid_code for r in rows] == [WEST_GRID, EAST_GRID]
    assert rows[1].category == "fresh_food_market"


def test_components_from_geopackage(session: Session, town: Town, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "ObjID": ["1101010101000001", "1101010108000002"],
            "ObjName": ["上水井盖", "路灯"],
            "ORDate": ["2020-05-01", None],
        },
        geometry=[Point(116.405, 39.91), Point(116.415, 39.91)],
        crs="EPSG:4326",
    )
    path = tmp_path / "c.gpkg"
    frame.to_file(path, driver="GPKG")

    report = import_layer_file(session, "component", path)

    rows = session.execute(
        select(
            Component.obj_id,
            Component.major_code,
            Component.minor_code,
            Component.name,
            Component.grid_code,
        )
        .outerjoin(Component.membership)
        .order_by(Component.obj_id)
    ).all()
    assert report.inserted == 2
    assert [tuple(r) for r in rows] == [
        ("1101010101000001", "01", "01", "上水井盖", WEST_GRID),
        ("1101010108000002", "01", "08", "路灯", EAST_GRID),
    ]


def test_gbk_shapefile_without_cpg(session: Session, town: Town, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["G1"], "name": ["东华门小区一号楼"], "floors": [5]},
        geometry=[_footprint(116.405, 39.91)],
        crs="EPSG:4326",
    )
    path = tmp_path / "gbk.shp"
    pyogrio.write_dataframe(frame, path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert "东华门".encode("gbk") in path.with_suffix(".dbf").read_bytes()

    import_layer_file(session, "building", path)

    name = session.execute(select(Building.name).where(Building.code == "G1")).scalar_one()
    assert name == "东华门小区一号楼"


def test_features_outside_every_street_are_reported(
    session: Session, town: Town, tmp_path: Path
) -> None:
    features = _buildings(2)
    features.append(feature(mapping(_footprint(116.50, 39.95)), code="FAR", floors=3))
    path = write_json(tmp_path, "b.geojson", feature_collection(features))

    report = import_layer_file(session, "building", path)

    assert report.inserted == 3
    outside = [w for w in report.warnings if w.index >= 0]
    assert [(w.index, w.code) for w in outside] == [(2, "FAR")]
    street = session.execute(
        select(Building.street_code)
        .select_from(Building)
        .outerjoin(Building.membership)
        .where(Building.code == "FAR")
    )
    assert street.scalar_one() is None


# ------------------------------------------------------------------------------ bad files
BOWTIE = Polygon([(116.405, 39.905), (116.406, 39.906), (116.406, 39.905), (116.405, 39.906)])


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (feature(mapping(BOWTIE), code="X", floors=3), "geometry", "Self-intersection"),
        (feature(None, code="X", floors=3), "geometry", "missing geometry"),
        (feature(mapping(Point(116.405, 39.91)), code="X"), "geometry", "type is Point"),
        (feature(mapping(box(10.0, 45.0, 10.001, 45.001)), code="X"), "geometry", "outside China"),
        (
            feature(mapping(box(39.905, 116.405, 39.906, 116.406)), code="X"),
            "geometry",
            "latitude/longitude swapped",
        ),
        (
            feature(mapping(_footprint(116.405, 39.91)), code="X", floors="abc"),
            "floors",
            "bad floors",
        ),
        (feature(mapping(_footprint(116.405, 39.91)), code="X", floors=0), "floors", "bad floors"),
        (
            feature(mapping(_footprint(116.405, 39.91)), code="X", floors=2.5),
            "floors",
            "bad floors",
        ),
        (
            feature(mapping(_footprint(116.405, 39.91)), code="B0001", floors=3),
            "key",
            "duplicate key B0001",
        ),
    ],
)
def test_bad_building_row_is_named_and_nothing_is_written(
    session: Session, town: Town, tmp_path: Path, bad: dict[str, Any], field: str, reason: str
) -> None:
    features = _buildings(4)
    features.insert(2, bad)
    path = write_json(tmp_path, "bad.geojson", feature_collection(features))
    before = _count(session, Building)

    with pytest.raises(ImportValidationError) as caught:
        import_layer_file(session, "building", path)

    problems = caught.value.report.problems
    assert _count(session, Building) == before
    assert reason in str(caught.value)
    named = [p for p in problems if p.index == 2]
    assert named and field in (named[0].field or "")
    if "duplicate" in reason:  # both rows of the pair are named
        assert sorted(p.index for p in problems) == [1, 2]
    else:
        assert [p.index for p in problems] == [2]


def test_every_bad_row_is_reported_across_chunks(
    session: Session, town: Town, tmp_path: Path
) -> None:
    features = _buildings(9)
    features[1]["properties"]["floors"] = -1
    features[7]["geometry"] = mapping(BOWTIE)
    path = write_json(tmp_path, "bad.geojson", feature_collection(features))

    with pytest.raises(ImportValidationError) as caught:
        import_layer_file(session, "building", path, LayerImportOptions(chunk_rows=4))

    assert [p.index for p in caught.value.report.problems] == [1, 7]
    assert _count(session, Building) == 2  # the town's own


def test_code_taken_by_another_source_is_a_duplicate(
    session: Session, town: Town, tmp_path: Path
) -> None:
    features = _buildings(2)
    features[1]["properties"]["code"] = "B-W-1"  # the town fixture's building
    path = write_json(tmp_path, "b.geojson", feature_collection(features))

    with pytest.raises(ImportValidationError, match="duplicate code B-W-1: already used"):
        import_layer_file(session, "building", path)


def test_facility_and_component_codes_are_checked(
    session: Session, town: Town, tmp_path: Path
) -> None:
    fac = tmp_path / "f.csv"
    fac.write_text(
        "id,name,category,lon,lat\n"
        "1,A,kindergarten,116.405,39.91\n"
        "2,B,spaceport,116.406,39.91\n"
        "3,C,pharmacy,abc,39.91\n",
        encoding="utf-8",
    )
    comp = tmp_path / "c.csv"
    comp.write_text(
        "obj_id,name,wkt\n"
        "1101010101000001,井盖,POINT (116.405 39.91)\n"
        "1101019999000002,怪,POINT (116.405 39.91)\n"
        "12345,短,POINT (116.405 39.91)\n"
        "1101010101000003,坏,POINT (116.405\n",
        encoding="utf-8",
    )

    with pytest.raises(ImportValidationError) as fac_error:
        import_layer_file(session, "facility", fac, LayerImportOptions(crs="wgs84"))
    with pytest.raises(ImportValidationError) as comp_error:
        import_layer_file(session, "component", comp, LayerImportOptions(crs="wgs84"))

    fac_problems = {p.index: p.reason for p in fac_error.value.report.problems}
    comp_problems = {p.index: p.reason for p in comp_error.value.report.problems}
    assert sorted(fac_problems) == [3, 4]  # CSV rows are file line numbers
    assert "unknown category 'spaceport'" in fac_problems[3]
    assert "not numbers" in fac_problems[4]
    assert sorted(comp_problems) == [3, 4, 5]
    assert "unknown component class 9999" in comp_problems[3]
    assert "must be 16 digits" in comp_problems[4]
    assert "not valid WKT" in comp_problems[5]
    assert _count(session, Facility) == 0
    assert _count(session, Component) == 0


def test_gcj02_declared_as_wgs84_is_caught(session: Session, town: Town, tmp_path: Path) -> None:
    edges = gpd.read_file(NETWORK, layer="edges", bbox=(116.38, 39.90, 116.43, 39.93))
    mids = shapely.line_interpolate_point(
        np.asarray(edges.geometry.values, dtype=object), 0.5, normalized=True
    )[:300]
    x, y = wgs84_to_gcj02(shapely.get_x(mids), shapely.get_y(mids))
    lines = ["id,category,lon,lat"] + [
        f"p{i},convenience_store,{a!r},{b!r}"
        for i, (a, b) in enumerate(zip(x.tolist(), y.tolist(), strict=True))
    ]
    path = tmp_path / "gcj.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ImportValidationError) as caught:
        import_layer_file(
            session, "facility", path, LayerImportOptions(crs="wgs84", reference=NETWORK)
        )
    report = import_layer_file(
        session, "facility", path, LayerImportOptions(crs="gcj02", reference=NETWORK)
    )

    problems = caught.value.report.problems
    assert len(problems) > 0.5 * len(mids)
    assert all("likely GCJ-02" in p.reason for p in problems)
    assert report.inserted == len(mids)
    back = session.execute(select(func.ST_X(Facility.geom), func.ST_Y(Facility.geom))).all()
    lon, _ = gcj02_to_wgs84(x, y)
    assert len(back) == len(mids) and np.allclose(sorted(lon), sorted(r[0] for r in back))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.geojson", "", "the file is empty"),
        ("broken.geojson", '{"type": "FeatureCollection", "features": [', "malformed JSON"),
        ("none.geojson", json.dumps(feature_collection([])), "no features"),
        ("header.csv", "id,category,lon,lat\n", "no rows"),
        ("nocoords.csv", "id,category\n1,pharmacy\n", "lon/lat columns"),
        ("nocrs.csv", "id,category,lon,lat\n1,pharmacy,116.405,39.91\n", "declares no CRS"),
    ],
)
def test_unusable_files_are_refused(
    session: Session, town: Town, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    with pytest.raises(InvalidInputError, match=message):
        import_layer_file(session, "facility", path)

    assert _count(session, Facility) == 0


def test_shapefile_without_prj_needs_crs(session: Session, town: Town, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["P1"]}, geometry=[_footprint(116.405, 39.91)], crs="EPSG:4326"
    )
    path = tmp_path / "noprj.shp"
    frame.to_file(path)
    path.with_suffix(".prj").unlink()

    with pytest.raises(InvalidInputError, match="declares no CRS; pass --crs"):
        import_layer_file(session, "building", path)
    report = import_layer_file(session, "building", path, LayerImportOptions(crs="wgs84"))

    assert report.inserted == 1


def test_scope_and_permission_are_enforced(session: Session, town: Town, tmp_path: Path) -> None:
    path = write_json(tmp_path, "b.geojson", feature_collection(_buildings(4)))
    other_street = Principal(username="p", role=Role.PLANNER, divisions=("110101002",))

    with pytest.raises(PermissionDeniedError):
        import_layer_file(session, "building", path, principal=town.west_worker)
    with pytest.raises(ImportValidationError, match="outside p's scope"):
        import_layer_file(session, "building", path, principal=other_street)
    session.execute(text("SELECT 1"))  # the session is still usable

    assert _count(session, Building) == 2
