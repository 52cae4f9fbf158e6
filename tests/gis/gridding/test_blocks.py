"""Road blocks on the real network, and splitting big blocks between buildings."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, box

from gis.crs import to_metric
from gis.gridding.blocks import around_buildings, building_blocks, road_blocks
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
