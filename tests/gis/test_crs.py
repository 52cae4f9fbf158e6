"""Tests for gis.crs: tags, GCJ-02/BD-09, storage and Gauss-Krüger transforms, validators."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from gis.crs import (
    BD09,
    CGCS2000,
    CHINA_EXTENT,
    GCJ02,
    WGS84,
    CrsKind,
    InputCrs,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_metric,
    gauss_kruger_epsg,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs_for,
    parse_crs_tag,
    to_metric,
    to_storage_geometries,
    to_storage_xy,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gis.crs_checks import gcj02_offset_score, looks_swapped, outside_china
from gis.errors import CoordinateTransformError, InvalidInputError, UnknownCrsError

REAL = Path("/work/shared/data/real/beijing")
DONGCHENG = REAL / "subdistricts" / "dongcheng-all.geojson"
NETWORK = REAL / "network" / "beijing_inner_drive_osm2024.gpkg"

GEOD = Geod(ellps="WGS84")


def geodesic_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, dtype=np.float64)


def random_china_points(n: int, seed: int) -> tuple[npt.NDArray[np.float64], ...]:
    rng = np.random.default_rng(seed)
    lon_min, lat_min, lon_max, lat_max = CHINA_EXTENT
    return rng.uniform(lon_min, lon_max, n), rng.uniform(lat_min, lat_max, n)


def central_meridian(epsg: int) -> float:
    """The central meridian PROJ records for a transverse Mercator EPSG CRS."""
    operation = CRS.from_epsg(epsg).coordinate_operation
    assert operation is not None
    params = {p.name: p.value for p in operation.params}
    return float(params["Longitude of natural origin"])


# --------------------------------------------------------------------------------------------
# Published vectors


# googollee/eviltransform, python/test.py (TESTS: wgsLat, wgsLng, gcjLat, gcjLng), commit
# 3416646abc64972e899118271bd98030224d9d6c. Given here as (lon, lat) pairs.
EVILTRANSFORM_WGS_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform_vectors(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = wgs84_to_gcj02(*wgs)

    # eviltransform asserts 6 decimal places; we are far closer than that.
    assert float(lon) == pytest.approx(gcj[0], abs=1e-9)
    assert float(lat) == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_gcj02_to_wgs84_inverts_eviltransform_vectors_to_a_millimetre(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = gcj02_to_wgs84(*gcj)

    # eviltransform's own exact inverse only promises 0.5 m.
    assert geodesic_m(lon, lat, *wgs) < 0.001


# wandergis/coordtransform, test/app.js ("//result" block), commit
# 242324636adb54f9d1ef571035dc61f0ac8f0e8c. Input for every call: (116.404, 39.915).
def test_wandergis_forward_vectors() -> None:
    gcj = wgs84_to_gcj02(116.404, 39.915)
    bd = gcj02_to_bd09(116.404, 39.915)

    assert np.allclose(gcj, (116.41024449916938, 39.91640428150164), rtol=0, atol=1e-9)
    assert np.allclose(bd, (116.41036949371029, 39.92133699351021), rtol=0, atol=1e-9)


def test_wandergis_naive_inverses_are_within_their_known_error() -> None:
    # coordtransform's inverses are one-step approximations; ours iterate, so they agree
    # with those only to the approximations' error (GCJ: metres, BD: ~0.2 m) but invert
    # the forward formula exactly.
    gcj_from_bd = bd09_to_gcj02(116.404, 39.915)
    wgs_from_gcj = gcj02_to_wgs84(116.404, 39.915)

    assert geodesic_m(*gcj_from_bd, 116.39762729119315, 39.90865673957631) < 0.5
    assert geodesic_m(*wgs_from_gcj, 116.39775550083061, 39.91359571849836) < 5.0
    assert np.allclose(gcj02_to_bd09(*gcj_from_bd), (116.404, 39.915), rtol=0, atol=1e-9)
    assert np.allclose(wgs84_to_gcj02(*wgs_from_gcj), (116.404, 39.915), rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------------------
# Round trips and the China box


def test_gcj02_round_trip_is_below_a_centimetre_everywhere_in_china() -> None:
    lon, lat = random_china_points(20_000, seed=1)

    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)

    shift_m = geodesic_m(lon, lat, glon, glat)
    assert shift_m.min() > 10.0  # the offset really was applied (22-703 m, standards.md)
    assert shift_m.max() < 800.0
    assert geodesic_m(lon, lat, back_lon, back_lat).max() < 0.01


def test_bd09_round_trip_is_below_a_centimetre() -> None:
    lon, lat = random_china_points(20_000, seed=2)

    blon, blat = wgs84_to_bd09(lon, lat)
    back_lon, back_lat = bd09_to_wgs84(blon, blat)
    glon, glat = wgs84_to_gcj02(lon, lat)

    bd_shift_m = geodesic_m(glon, glat, blon, blat)
    assert bd_shift_m.min() > 500.0  # GCJ -> BD moves 763-984 m (standards.md)
    assert geodesic_m(lon, lat, back_lon, back_lat).max() < 0.01
    assert geodesic_m(glon, glat, *bd09_to_gcj02(blon, blat)).max() < 0.01


@pytest.mark.parametrize(
    "convert",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_no_offset_outside_china(convert: Callable[..., tuple[np.ndarray, np.ndarray]]) -> None:
    # Paris, New York, Sydney, Tokyo east of the box, Mongolia north of it, NaN, inf.
    lon = np.array([2.3522, -74.006, 151.21, 139.69, 106.9, np.nan, np.inf])
    lat = np.array([48.8566, 40.7128, -33.87, 35.69, 56.0, 39.9, 39.9])

    out_lon, out_lat = convert(lon, lat)

    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)


def test_gcj02_box_edges_are_inside() -> None:
    lon, lat = wgs84_to_gcj02(np.array([72.004, 72.0039]), np.array([30.0, 30.0]))

    assert lon[0] != 72.004
    assert lon[1] == 72.0039
    assert lat[1] == 30.0


def test_conversions_keep_shape_and_broadcast() -> None:
    grid_lon = np.array([[116.3, 116.4], [121.4, 121.5]])

    lon, lat = wgs84_to_gcj02(grid_lon, 39.9)
    scalar_lon, scalar_lat = gcj02_to_wgs84(116.4, 39.9)

    assert lon.shape == lat.shape == (2, 2)
    assert lat[1, 0] == wgs84_to_gcj02(121.4, 39.9)[1]
    assert scalar_lon.shape == scalar_lat.shape == ()
    assert isinstance(float(scalar_lon), float)


def test_inputs_are_not_modified() -> None:
    lon = np.array([116.4, 121.5])
    lat = np.array([39.9, 31.2])

    gcj02_to_wgs84(lon, lat)
    bd09_to_wgs84(lon, lat)

    np.testing.assert_array_equal(lon, [116.4, 121.5])
    np.testing.assert_array_equal(lat, [39.9, 31.2])


# --------------------------------------------------------------------------------------------
# Tags


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("wgs84", WGS84),
        (" WGS84 ", WGS84),
        ("cgcs2000", CGCS2000),
        ("gcj02", GCJ02),
        ("GCJ02", GCJ02),
        ("bd09", BD09),
        ("bd09ll", BD09),
        ("EPSG:4326", WGS84),
        ("epsg:4326", WGS84),
        ("EPSG:4490", CGCS2000),
        ("urn:ogc:def:crs:EPSG::4490", CGCS2000),
        ("urn:ogc:def:crs:EPSG:9.8.15:4326", WGS84),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", WGS84),
        ("OGC:CRS84", WGS84),
        ("CRS84", WGS84),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", WGS84),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", WGS84),
        ("EPSG:4548", InputCrs(CrsKind.EPSG, 4548)),
        ("urn:ogc:def:crs:EPSG::3857", InputCrs(CrsKind.EPSG, 3857)),
        ("EPSG:4214", InputCrs(CrsKind.EPSG, 4214)),
    ],
)
def test_parse_crs_tag_accepts(tag: str, expected: InputCrs) -> None:
    assert parse_crs_tag(tag) == expected


@pytest.mark.parametrize(
    ("parsed", "text"),
    [(WGS84, "wgs84"), (BD09, "bd09"), (InputCrs(CrsKind.EPSG, 4548), "EPSG:4548")],
)
def test_canonical_tag_parses_back(parsed: InputCrs, text: str) -> None:
    assert str(parsed) == text
    assert parse_crs_tag(str(parsed)) == parsed


@pytest.mark.parametrize(
    "tag", ["", "utm", "wgs-84x", "EPSG:", "EPSG:abc", "bd09mc", "EPSG:4326:1", "mercator"]
)
def test_unknown_tags_name_the_tag_and_the_accepted_forms(tag: str) -> None:
    with pytest.raises(UnknownCrsError) as info:
        parse_crs_tag(tag)

    assert repr(tag) in str(info.value)
    assert "accepted forms" in str(info.value)
    assert "gcj02" in str(info.value)


def test_unknown_epsg_code_is_rejected() -> None:
    with pytest.raises(UnknownCrsError, match="EPSG:999999"):
        parse_crs_tag("EPSG:999999")


@pytest.mark.parametrize("code", [4978, 5773])  # WGS 84 geocentric; EGM96 height (vertical)
def test_non_horizontal_epsg_crs_is_rejected(code: int) -> None:
    with pytest.raises(UnknownCrsError, match="not a geographic or projected CRS"):
        parse_crs_tag(f"EPSG:{code}")


def test_unknown_crs_error_is_an_input_error() -> None:
    assert issubclass(UnknownCrsError, InvalidInputError)


# --------------------------------------------------------------------------------------------
# Storage transforms and axis order


@pytest.mark.parametrize(
    "tag", ["EPSG:4326", "EPSG:4490", "urn:ogc:def:crs:EPSG::4326", "wgs84", "cgcs2000", "CRS84"]
)
def test_lat_first_epsg_crs_still_take_x_as_longitude(tag: str) -> None:
    # EPSG:4326 and EPSG:4490 are officially (lat, lon); callers still pass x = longitude.
    lon, lat = to_storage_xy(np.array([116.4, 87.6]), np.array([39.9, 43.8]), tag)

    np.testing.assert_array_equal(lon, [116.4, 87.6])
    np.testing.assert_array_equal(lat, [39.9, 43.8])


def test_other_lat_first_geographic_crs_keeps_x_as_longitude() -> None:
    # Beijing 1954 is (lat, lon) in the registry and goes through pyproj, not a shortcut.
    assert [a.direction for a in CRS.from_epsg(4214).axis_info] == ["north", "east"]

    lon, lat = to_storage_xy(116.4, 39.9, "EPSG:4214")

    assert abs(float(lon) - 116.4) < 0.01
    assert abs(float(lat) - 39.9) < 0.01


def test_gauss_kruger_input_is_easting_then_northing() -> None:
    # PROJ in authority order: (lat, lon) in, (northing, easting) out for EPSG:4548.
    assert [a.direction for a in CRS.from_epsg(4548).axis_info] == ["north", "east"]
    northing, easting = Transformer.from_crs(4326, 4548).transform(39.9, 116.4)

    lon, lat = to_storage_xy(easting, northing, "EPSG:4548")

    assert float(lon) == pytest.approx(116.4, abs=1e-9)
    assert float(lat) == pytest.approx(39.9, abs=1e-9)


def test_web_mercator_input_matches_the_closed_form() -> None:
    radius = 6378137.0
    lon_deg, lat_deg = 116.4, 39.9
    x = radius * math.radians(lon_deg)
    y = radius * math.log(math.tan(math.pi / 4 + math.radians(lat_deg) / 2))

    lon, lat = to_storage_xy(x, y, "EPSG:3857")

    assert float(lon) == pytest.approx(lon_deg, abs=1e-9)
    assert float(lat) == pytest.approx(lat_deg, abs=1e-9)


def test_gcj02_and_bd09_tags_use_the_iterative_inverse() -> None:
    glon, glat = wgs84_to_gcj02(116.39, 39.907)
    blon, blat = wgs84_to_bd09(116.39, 39.907)

    assert geodesic_m(*to_storage_xy(glon, glat, "gcj02"), 116.39, 39.907) < 0.01
    assert geodesic_m(*to_storage_xy(blon, blat, BD09), 116.39, 39.907) < 0.01


def test_untransformable_coordinates_raise_with_the_position() -> None:
    with pytest.raises(CoordinateTransformError, match="position 1"):
        to_storage_xy(np.array([500000.0, 1e12]), np.array([4.4e6, 1e12]), "EPSG:4548")


def test_non_finite_input_is_passed_through_not_an_error() -> None:
    lon, lat = to_storage_xy(np.array([np.nan, 500000.0]), np.array([np.nan, 4.4e6]), "EPSG:4548")

    assert np.isnan(lon[0])
    assert np.isnan(lat[0])
    assert np.isfinite(lon[1])


def test_storage_geometries_transform_every_coordinate_and_keep_none() -> None:
    polygon = shapely.Polygon(
        [(116.38, 39.90), (116.40, 39.90), (116.40, 39.92), (116.38, 39.90)],
        holes=[[(116.395, 39.905), (116.398, 39.905), (116.398, 39.908), (116.395, 39.905)]],
    )
    line = shapely.LineString([(121.47, 31.23, 5.0), (121.50, 31.24, 6.0)])
    geoms = np.array([polygon, line, shapely.Point(113.9, 22.5), None], dtype=object)

    out = to_storage_geometries(geoms, "gcj02")

    assert out[3] is None
    assert list(shapely.get_type_id(out[:3])) == list(shapely.get_type_id(geoms[:3]))
    assert not shapely.has_z(out[1])  # storage columns are 2D
    before = shapely.get_coordinates(geoms[:3])
    after = shapely.get_coordinates(out[:3])
    expected = np.column_stack(gcj02_to_wgs84(before[:, 0], before[:, 1]))
    np.testing.assert_allclose(after, expected, rtol=0, atol=1e-12)
    assert len(shapely.get_interior_ring(out[0], 0).coords) == 4


def test_storage_geometries_from_gauss_kruger() -> None:
    northing, easting = Transformer.from_crs(4326, 4548).transform(39.9, 116.4)
    point = shapely.Point(easting, northing)

    out = to_storage_geometries(np.array([point]), "EPSG:4548")

    assert out[0].x == pytest.approx(116.4, abs=1e-9)
    assert out[0].y == pytest.approx(39.9, abs=1e-9)


def test_geometry_transform_errors_name_the_geometry() -> None:
    geoms = np.array(
        [shapely.Point(116.4, 39.9), shapely.LineString([(116.4, 39.9), (116.4, 95.0)])]
    )

    with pytest.raises(CoordinateTransformError, match="geometry 1 "):
        to_metric(geoms, epsg=4548)
    with pytest.raises(CoordinateTransformError, match="geometry 0 "):
        to_storage_geometries(np.array([shapely.Point(1e12, 1e12)]), "EPSG:4548")


# --------------------------------------------------------------------------------------------
# Gauss-Krüger zones


@pytest.mark.parametrize(
    ("lon", "expected_epsg", "expected_cm"),
    [
        (116.4, 4548, 117.0),  # Beijing
        (87.6, 4538, 87.0),  # Urumqi
        (126.6, 4551, 126.0),  # Harbin
        (75.0, 4534, 75.0),
        (135.0, 4554, 135.0),
    ],
)
def test_gauss_kruger_zone_matches_proj_metadata(
    lon: float, expected_epsg: int, expected_cm: float
) -> None:
    epsg = gauss_kruger_epsg(lon)

    assert epsg == expected_epsg
    meta = CRS.from_epsg(epsg)
    assert central_meridian(epsg) == expected_cm
    assert "CGCS2000 / 3-degree Gauss-Kruger CM" in meta.name
    assert meta.coordinate_operation is not None
    params = {p.name: p.value for p in meta.coordinate_operation.params}
    assert float(params["False easting"]) == 500000.0
    assert float(params["Scale factor at natural origin"]) == 1.0


def test_every_longitude_gets_a_zone_within_one_and_a_half_degrees() -> None:
    for lon in np.linspace(73.5, 135.5, 125):
        cm = central_meridian(gauss_kruger_epsg(float(lon)))
        assert abs(lon - cm) <= 1.5 + 1e-9, (lon, cm)


@pytest.mark.parametrize(("lon", "expected_cm"), [(118.5, 120.0), (121.5, 123.0)])
def test_gauss_kruger_zone_edge_goes_east(lon: float, expected_cm: float) -> None:
    assert central_meridian(gauss_kruger_epsg(lon)) == expected_cm


@pytest.mark.parametrize("lon", [2.35, -116.4, 140.0, math.nan, math.inf])
def test_gauss_kruger_zone_outside_china_is_an_error(lon: float) -> None:
    with pytest.raises(InvalidInputError, match="outside China"):
        gauss_kruger_epsg(lon)


def test_metric_crs_for_real_boundaries_and_bounds() -> None:
    boundaries = gpd.read_file(DONGCHENG)

    from_geoms = metric_crs_for(boundaries.geometry.values)
    from_series = metric_crs_for(boundaries.geometry)
    from_bounds = metric_crs_for(tuple(float(v) for v in boundaries.total_bounds))

    assert from_geoms.to_epsg() == from_series.to_epsg() == from_bounds.to_epsg() == 4548
    assert metric_crs_for(shapely.Point(87.6, 43.8)).to_epsg() == 4538


@pytest.mark.parametrize(
    "data",
    [np.array([], dtype=object), np.array([None, shapely.Polygon()], dtype=object)],
)
def test_metric_crs_for_empty_data_is_an_error(data: npt.NDArray[np.object_]) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        metric_crs_for(data)


def test_metric_area_agrees_with_geodesic_area() -> None:
    boundaries = gpd.read_file(DONGCHENG)
    geoms = boundaries.geometry.values

    metric = to_metric(np.asarray(geoms), epsg=gauss_kruger_epsg(116.4))
    geodesic_area = np.array([abs(GEOD.geometry_area_perimeter(g)[0]) for g in geoms])

    # Scale factor 1 at CM 117°E: Dongcheng (~0.6° west of it) distorts area by < 0.02 %.
    np.testing.assert_allclose(shapely.area(metric), geodesic_area, rtol=2e-4)


def test_metric_round_trip() -> None:
    boundaries = gpd.read_file(DONGCHENG)
    geoms = np.asarray(boundaries.geometry.values)

    back = from_metric(to_metric(geoms, epsg=4548), epsg=4548)

    np.testing.assert_allclose(
        shapely.get_coordinates(back), shapely.get_coordinates(geoms), rtol=0, atol=1e-9
    )


# --------------------------------------------------------------------------------------------
# Validator heuristics


def test_outside_china_and_swapped_points() -> None:
    lon = np.array([116.4, 39.9, 2.35, np.nan, 87.6])
    lat = np.array([39.9, 116.4, 48.86, 39.9, 43.8])

    assert outside_china(lon, lat).tolist() == [False, True, True, True, False]
    assert looks_swapped(lon, lat).tolist() == [False, True, False, False, False]


@pytest.fixture(scope="module")
def road_edges() -> npt.NDArray[np.object_]:
    edges = gpd.read_file(NETWORK, layer="edges", columns=[])
    assert edges.crs.to_epsg() == 4326
    return np.asarray(edges.geometry.values)


@pytest.fixture(scope="module")
def dongcheng_vertices() -> npt.NDArray[np.float64]:
    boundaries = gpd.read_file(DONGCHENG)
    assert boundaries.crs.to_epsg() == 4326
    return shapely.get_coordinates(np.asarray(boundaries.geometry.values))


def test_real_wgs84_boundaries_are_not_flagged(
    dongcheng_vertices: npt.NDArray[np.float64], road_edges: npt.NDArray[np.object_]
) -> None:
    score = gcj02_offset_score(dongcheng_vertices[:, 0], dongcheng_vertices[:, 1], road_edges)

    assert score.n_points > 1000
    assert not score.likely_gcj02
    assert score.as_is_q_m < score.corrected_q_m
    assert score.as_is_median_m < score.corrected_median_m


def test_boundaries_shifted_into_gcj02_are_flagged(
    dongcheng_vertices: npt.NDArray[np.float64], road_edges: npt.NDArray[np.object_]
) -> None:
    glon, glat = wgs84_to_gcj02(dongcheng_vertices[:, 0], dongcheng_vertices[:, 1])

    score = gcj02_offset_score(glon, glat, road_edges)

    assert score.likely_gcj02
    assert score.corrected_q_m < 0.5 * score.as_is_q_m
    assert score.corrected_median_m < score.as_is_median_m


def test_gcj02_score_thins_large_inputs(
    dongcheng_vertices: npt.NDArray[np.float64], road_edges: npt.NDArray[np.object_]
) -> None:
    glon, glat = wgs84_to_gcj02(dongcheng_vertices[:, 0], dongcheng_vertices[:, 1])

    score = gcj02_offset_score(glon, glat, road_edges, max_points=500)

    assert score.n_points == 500
    assert score.likely_gcj02


def test_gcj02_score_needs_enough_points_inside_the_reference(
    road_edges: npt.NDArray[np.object_],
) -> None:
    far = gcj02_offset_score(np.array([121.47, 121.48]), np.array([31.23, 31.24]), road_edges)
    few = gcj02_offset_score(np.array([116.40]), np.array([39.91]), road_edges, min_points=50)

    assert far.n_points == 0
    assert not far.likely_gcj02
    assert few.n_points == 1
    assert not few.likely_gcj02


def test_gcj02_score_rejects_empty_reference_and_bad_options() -> None:
    with pytest.raises(InvalidInputError, match="reference"):
        gcj02_offset_score([116.4], [39.9], np.array([None, shapely.LineString()], dtype=object))
    with pytest.raises(InvalidInputError, match="quantile"):
        gcj02_offset_score([116.4], [39.9], np.array([shapely.Point(116.4, 39.9)]), quantile=1.5)


def test_gcj02_score_does_not_flag_points_already_near_the_reference() -> None:
    # Every point has a reference feature 6 m east of it as given and one exactly at its
    # "corrected" position: the correction fits better, but the data already fit within 6 m.
    lon, lat = random_china_points(200, seed=3)
    lon, lat = 116.30 + (lon - 73.0) * 0.002, 39.85 + (lat - 3.0) * 0.002  # inside Beijing
    east_lon, east_lat, _ = GEOD.fwd(lon, lat, np.full(lon.shape, 90.0), np.full(lon.shape, 6.0))
    reference = np.concatenate(
        [shapely.points(*gcj02_to_wgs84(lon, lat)), shapely.points(east_lon, east_lat)]
    )

    score = gcj02_offset_score(lon, lat, reference)

    assert score.as_is_q_m == pytest.approx(6.0, abs=0.01)
    assert score.corrected_q_m == pytest.approx(0.0, abs=0.01)
    assert not score.likely_gcj02
    assert gcj02_offset_score(lon, lat, reference, min_as_is_m=5.0).likely_gcj02
