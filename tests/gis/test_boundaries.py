"""Boundary import: real Beijing data in, every kind of bad file refused with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box, mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.boundaries import BoundaryImportOptions, import_boundaries
from gis.crs import wgs84_to_gcj02
from gis.divisions import Division, DivisionLevel
from gis.errors import ImportValidationError, InvalidInputError
from tests.conftest import PROJECT_DATA
from tests.gis.geojson_files import feature, feature_collection, write_json

BEIJING = PROJECT_DATA / "boundaries" / "beijing"
DONGCHENG_STREETS = BEIJING / "subdistricts" / "dongcheng-all.geojson"
DONGCHENG = BEIJING / "districts" / "dongcheng-outline.geojson"
XICHENG = BEIJING / "districts" / "xicheng-outline.geojson"
XICHENG_STREETS = BEIJING / "subdistricts" / "xicheng-all.geojson"
NETWORK = PROJECT_DATA / "network" / "beijing_inner_drive_osm2024.gpkg"


def _snapshot(session: Session) -> list[tuple[str, str, str]]:
    rows = session.execute(
        select(Division.code, Division.name, func.ST_AsText(Division.geom)).order_by(Division.code)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


# A real street of Dongcheng, away from everything else in the tests.
STREET = box(116.40, 39.90, 116.41, 39.91)


@pytest.fixture
def with_district(session: Session) -> Session:
    import_boundaries(session, DONGCHENG, BoundaryImportOptions(level=DivisionLevel.DISTRICT))
    return session


def test_real_dongcheng_and_xicheng_streets_import_with_12_digit_codes(session: Session) -> None:
    for path in (DONGCHENG, XICHENG):
        import_boundaries(session, path)
    r1 = import_boundaries(session, DONGCHENG_STREETS)
    r2 = import_boundaries(session, XICHENG_STREETS)

    streets = session.execute(
        select(Division.code, Division.stat_code, Division.name, Division.parent_code).where(
            Division.level == "street"
        )
    ).all()
    assert (r1.inserted, r2.inserted) == (17, 15)
    assert len(streets) == 32
    assert all(len(s.stat_code) == 12 and s.stat_code.endswith("000") for s in streets)
    assert {s.parent_code for s in streets} == {"110101", "110102"}
    names = {s.name for s in streets}
    assert "东华门街道" in names
    assert all(n.endswith("街道") for n in names)
    # Streets tile their district: total area within 0.5 % of the district outline.
    areas = dict(
        session.execute(
            select(Division.level, func.sum(func.ST_Area(func.Geography(Division.geom)))).group_by(
                Division.level
            )
        ).all()
    )
    assert areas["street"] == pytest.approx(areas["district"], rel=0.005)


def test_reimport_updates_instead_of_duplicating(with_district: Session) -> None:
    session = with_district
    first = import_boundaries(session, DONGCHENG_STREETS)
    second = import_boundaries(session, DONGCHENG_STREETS)

    count = session.execute(select(func.count()).select_from(Division)).scalar()
    assert (first.inserted, first.updated) == (17, 0)
    assert (second.inserted, second.updated) == (0, 17)
    assert count == 18


def _bad_case(tmp_path: Path, features: list[dict[str, Any]]) -> tuple[Path, BoundaryImportOptions]:
    return write_json(
        tmp_path, "bad.geojson", feature_collection(features)
    ), BoundaryImportOptions()


GOOD = feature(mapping(STREET), code="110101999000", Name="好街道")
BOWTIE = Polygon([(116.40, 39.90), (116.41, 39.91), (116.41, 39.90), (116.40, 39.91)])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (feature(mapping(BOWTIE), code="110101998000", Name="自交街道"), "Self-intersection"),
        (feature(None, code="110101998000", Name="空街道"), "missing geometry"),
        (
            feature({"type": "Polygon", "coordinates": []}, code="110101998000", Name="空"),
            "empty geometry",
        ),
        (feature(mapping(Point(116.4, 39.9)), code="110101998000", Name="点"), "type is Point"),
        (
            feature(mapping(box(10.0, 45.0, 10.1, 45.1)), code="110101998000", Name="外国"),
            "outside China",
        ),
        (
            feature(mapping(box(39.90, 116.40, 39.91, 116.41)), code="110101998000", Name="反"),
            "swapped",
        ),
        (feature(mapping(box(116.42, 39.9, 116.43, 39.91)), Name="无代码"), "missing code"),
        (
            feature(mapping(box(116.42, 39.9, 116.43, 39.91)), code="110101999000", Name="重"),
            "duplicate code 110101999 ",
        ),
        (
            feature(mapping(box(116.42, 39.9, 116.43, 39.91)), code="1101019", Name="短"),
            "has 7 digits",
        ),
        (
            feature(mapping(box(116.42, 39.9, 116.43, 39.91)), code="110105001000", Name="孤"),
            "parent division 110105 does not exist",
        ),
        (feature(mapping(box(116.42, 39.9, 116.43, 39.91)), code="110101998000"), "missing name"),
    ],
    ids=[
        "self-intersecting",
        "null-geometry",
        "empty-geometry",
        "wrong-type",
        "outside-china",
        "swapped-axes",
        "missing-code",
        "duplicate-code",
        "code-length",
        "missing-parent",
        "missing-name",
    ],
)
def test_bad_feature_is_named_and_nothing_is_written(
    with_district: Session, tmp_path: Path, bad: dict[str, Any], reason: str
) -> None:
    session = with_district
    before = _snapshot(session)
    path, options = _bad_case(tmp_path, [GOOD, bad])

    with pytest.raises(ImportValidationError) as info:
        import_boundaries(session, path, options)

    problems = info.value.report.problems
    assert any(reason in p.reason for p in problems), [p.reason for p in problems]
    assert any(p.index == 1 for p in problems)
    assert _snapshot(session) == before
    assert "nothing was imported" in str(info.value)


def test_code_of_the_wrong_level_is_refused(with_district: Session, tmp_path: Path) -> None:
    path = write_json(
        tmp_path,
        "community.geojson",
        feature_collection([feature(mapping(STREET), code="110101001001", Name="某社区")]),
    )

    with pytest.raises(ImportValidationError) as info:
        import_boundaries(
            session=with_district,
            path=path,
            options=BoundaryImportOptions(level=DivisionLevel.STREET),
        )

    assert "is a community code, not a street code" in info.value.report.problems[0].reason


def test_repair_fixes_a_self_intersection_and_reports_it(
    with_district: Session, tmp_path: Path
) -> None:
    path = write_json(
        tmp_path,
        "bowtie.geojson",
        feature_collection([feature(mapping(BOWTIE), code="110101998000", Name="修")]),
    )

    report = import_boundaries(with_district, path, BoundaryImportOptions(repair=True))

    assert report.inserted == 1
    assert "Self-intersection" in report.repairs[0].reason
    valid = with_district.execute(
        select(func.ST_IsValid(Division.geom)).where(Division.code == "110101998")
    ).scalar()
    assert valid is True


def test_gcj02_boundaries_declared_wgs84_are_caught_with_a_reference(
    session: Session, tmp_path: Path
) -> None:
    streets = gpd.read_file(DONGCHENG_STREETS)
    shifted = streets.copy()
    shifted["geometry"] = shapely.transform(
        streets.geometry.values,
        lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])),
    )
    path = tmp_path / "gcj.geojson"
    shifted.to_file(path, driver="GeoJSON")
    reference = tmp_path / "roads.gpkg"
    gpd.read_file(NETWORK, layer="edges", columns=["highway"]).to_file(reference, layer="edges")
    import_boundaries(session, DONGCHENG)
    before = _snapshot(session)

    with pytest.raises(ImportValidationError) as info:
        import_boundaries(session, path, BoundaryImportOptions(reference=reference))
    ok = import_boundaries(session, DONGCHENG_STREETS, BoundaryImportOptions(reference=reference))

    problems = info.value.report.problems
    assert len(problems) == 17
    assert all("likely GCJ-02" in p.reason for p in problems)
    assert ok.inserted == 17
    assert len(_snapshot(session)) == len(before) + 17


def test_gcj02_declared_file_is_converted_to_wgs84(with_district: Session, tmp_path: Path) -> None:
    gcj_box = shapely.transform(
        STREET, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
    )
    path = write_json(
        tmp_path,
        "gcj.geojson",
        feature_collection([feature(mapping(gcj_box), code="110101998000", Name="火星")]),
    )

    import_boundaries(with_district, path, BoundaryImportOptions(crs="gcj02"))

    bounds = with_district.execute(
        select(func.ST_XMin(Division.geom), func.ST_YMin(Division.geom)).where(
            Division.code == "110101998"
        )
    ).one()
    assert bounds[0] == pytest.approx(116.40, abs=1e-6)
    assert bounds[1] == pytest.approx(39.90, abs=1e-6)


def test_gbk_shapefile_without_cpg_keeps_chinese_names(
    with_district: Session, tmp_path: Path
) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["110101998000"], "Name": ["东华门测试街道"]},
        geometry=[MultiPolygon([STREET])],
        crs=4326,
    )
    path = tmp_path / "gbk.shp"
    frame.to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    raw = path.with_suffix(".dbf").read_bytes()
    assert "东华门".encode("gbk") in raw  # really GBK on disk

    import_boundaries(with_district, path)

    name = with_district.execute(select(Division.name).where(Division.code == "110101998")).scalar()
    assert name == "东华门测试街道"


def test_shapefile_without_crs_is_refused_until_crs_is_given(
    with_district: Session, tmp_path: Path
) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["110101998000"], "Name": ["无坐标系"]}, geometry=[STREET], crs=4326
    )
    path = tmp_path / "nocrs.shp"
    frame.to_file(path)
    path.with_suffix(".prj").unlink()

    with pytest.raises(InvalidInputError, match="declares no CRS"):
        import_boundaries(with_district, path)
    report = import_boundaries(with_district, path, BoundaryImportOptions(crs="cgcs2000"))

    assert report.inserted == 1


def test_projected_gauss_kruger_file_is_reprojected(with_district: Session, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["110101998000"], "Name": ["高斯"]}, geometry=[STREET], crs=4326
    ).to_crs(4548)
    path = tmp_path / "gk.gpkg"
    frame.to_file(path)

    import_boundaries(with_district, path)

    xmin = with_district.execute(
        select(func.ST_XMin(Division.geom)).where(Division.code == "110101998")
    ).scalar()
    assert xmin == pytest.approx(116.40, abs=1e-7)


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ('{"type": "FeatureCollection", "features": [', "malformed JSON at line 1")],
    ids=["empty-file", "malformed-json"],
)
def test_unreadable_files_get_a_clear_error(
    with_district: Session, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text(content)

    with pytest.raises(InvalidInputError, match=message):
        import_boundaries(with_district, path)


def test_file_without_features_is_refused(with_district: Session, tmp_path: Path) -> None:
    path = write_json(tmp_path, "none.geojson", feature_collection([]))

    with pytest.raises(InvalidInputError, match="no features"):
        import_boundaries(with_district, path)
