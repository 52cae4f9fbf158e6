"""Road blocks on the real network, and splitting big blocks between buildings."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import shapely.affinity
from shapely.geometry import LineString, box

from gis.crs import to_metric
from gis.gridding.blocks import THIN_BLOCK_PP, around_buildings, building_blocks, road_blocks
from gis.gridding.roads import file_roads
from tests.conftest import PROJECT_DATA

SQUARE = box(0, 0, 400, 400)
CROSS = np.array(
    [LineString([(200, -5), (200, 405)]), LineString([(-5, 200), (405, 200)])], dtype=object
)


def _qianmen_metric() -> tuple[shapely.Geometry, np.ndarray]:
    import geopandas as gpd

    streets = gpd.read_file(PROJECT_DATA / "boundaries/beijing/subdistricts/dongcheng-all.geojson")
    street = streets.loc[streets["code"] == 110101011000, "geometry"].iloc[0]
    epsg = 4548
    metric = to_metric(np.asarray([street], dtype=object), epsg=epsg)[0]
    return metric, to_metric(file_roads(street), epsg=epsg)


def test_a_cross_of_roads_makes_four_blocks() -> None:
    blocks = road_blocks(SQUARE, CROSS)

    assert sorted(shapely.area(blocks).tolist()) == [40_000.0] * 4


def test_median_strips_merge_into_a_neighbour() -> None:
    dual = np.array(
        [LineString([(195, -5), (195, 405)]), LineString([(205, -5), (205, 405)])], dtype=object
    )

    blocks = road_blocks(SQUARE, dual)

    assert len(blocks) == 2
    assert shapely.area(blocks).sum() == pytest.approx(SQUARE.area)


def test_real_street_blocks_tile_the_street() -> None:
    street, roads = _qianmen_metric()

    blocks = road_blocks(street, roads)

    assert len(blocks) > 5
    assert shapely.area(blocks).sum() == pytest.approx(street.area, abs=1.0)
    assert shapely.union_all(blocks).symmetric_difference(street).area < 1.0


def test_a_road_through_a_building_does_not_cut_it() -> None:
    building = box(190, 50, 210, 70)

    lines = around_buildings(CROSS, np.array([building], dtype=object))
    blocks = road_blocks(SQUARE, lines)

    assert len(blocks) == 3  # the west and east halves south of the east-west road join
    holders = shapely.area(shapely.intersection(blocks, building)) > 1e-6
    assert holders.sum() == 1


def test_big_blocks_split_between_buildings_never_through_one() -> None:
    xs, ys = np.meshgrid(np.arange(20, 380, 40.0), np.arange(20, 380, 40.0))
    footprints = shapely.box(xs.ravel() - 12, ys.ravel() - 12, xs.ravel() + 12, ys.ravel() + 12)
    anchors = shapely.centroid(footprints)
    households = np.full(len(footprints), 20, dtype=np.int64)  # 81 x 20 = 1,620

    result = building_blocks(SQUARE, None, footprints, anchors, households, max_households=400)

    per_block = np.bincount(result.building_block, households, len(result.geoms))
    pieces = shapely.STRtree(result.geoms).query(footprints, predicate="intersects")
    overlaps = shapely.area(shapely.intersection(footprints[pieces[0]], result.geoms[pieces[1]]))
    assert per_block.max() <= 400 and len(result.geoms) >= 5
    assert np.bincount(pieces[0][overlaps > 1e-6], minlength=len(footprints)).max() == 1
    assert shapely.area(result.geoms).sum() == pytest.approx(SQUARE.area)


def test_buildings_without_gaps_are_reported_unsplittable() -> None:
    # A staggered row: every projection overlaps the next, in every direction tried.
    footprints = np.array([box(0, 0, 400, 30), box(0, 40, 400, 70)], dtype=object)
    long_bar = np.array([shapely.union_all(footprints).convex_hull], dtype=object)
    anchors = shapely.point_on_surface(long_bar)

    result = building_blocks(
        box(-10, -10, 410, 80), None, long_bar, anchors, np.array([900]), max_households=400
    )

    assert len(result.geoms) == 1
    assert result.unsplittable == [0]


@pytest.mark.parametrize("angle", [1.0, 2.7, 13.3, 31.0, 47.5, 62.2, 88.1])
def test_a_road_crossing_a_tilted_street_splits_it_in_two(angle: float) -> None:
    # Clipped exactly at the boundary, most such road ends missed it by rounding and dangled:
    # the street stayed one block (4 of 5 crossings at 1 degree, before the fix).
    street = shapely.affinity.rotate(box(0, 0, 200, 200), angle, origin=(0, 0))
    centre = street.centroid
    for k in range(5):
        t = np.radians(angle * 3 + k * 23)
        dx, dy = 500 * np.cos(t), 500 * np.sin(t)
        road = LineString([(centre.x - dx, centre.y - dy), (centre.x + dx, centre.y + dy)])

        blocks = road_blocks(street, np.array([road], dtype=object), min_block_m2=0.0)

        assert len(blocks) == 2, (angle, k)
        assert shapely.area(blocks).sum() == pytest.approx(street.area)


def test_a_long_thin_block_is_cut_across_between_buildings() -> None:
    # A 2,000 m x 40 m strip (Polsby-Popper 0.06) with a house every 50 m along it.
    strip = box(0, 0, 2000, 40)
    xs = np.arange(25.0, 2000.0, 50.0)
    footprints = shapely.box(xs - 10, 10, xs + 10, 30)
    anchors = shapely.centroid(footprints)
    households = np.full(len(footprints), 2, dtype=np.int64)  # far below any split by load

    result = building_blocks(strip, None, footprints, anchors, households, max_households=400)

    pp = 4 * np.pi * shapely.area(result.geoms) / shapely.length(result.geoms) ** 2
    assert len(result.geoms) == 4  # halved, then halved again: 500 m pieces are compact enough
    assert pp.min() >= THIN_BLOCK_PP > pp_of(strip)
    assert shapely.area(result.geoms).sum() == pytest.approx(strip.area)
    hits = shapely.STRtree(result.geoms).query(footprints, predicate="intersects")
    inside = shapely.area(shapely.intersection(footprints[hits[0]], result.geoms[hits[1]])) > 1e-6
    assert np.bincount(hits[0][inside], minlength=len(footprints)).max() == 1  # none cut


def pp_of(poly: shapely.Geometry) -> float:
    return float(4 * np.pi * poly.area / poly.length**2)
