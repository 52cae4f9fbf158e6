from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.coverage import completeness, completeness_table, coverage_table, gap_counts, gap_polygons
from gis.errors import CoverageInputError

INF = np.inf
# 4 buildings in cells "a", "a", "b", "b"
NETWORK = {
    "school": np.array([100.0, 600.0, 200.0, INF]),
    "clinic": np.array([900.0, 400.0, 50.0, 1200.0]),
}
EUCLID = {
    "school": np.array([80.0, 450.0, 150.0, 700.0]),
    "clinic": np.array([700.0, 300.0, 40.0, 900.0]),
}
CIRCLE = {"school": 500.0, "clinic": 1000.0}
GROUP = np.array(["a", "a", "b", "b"])
RESIDENTS = np.array([10.0, 20.0, 30.0, 40.0])
DWELLINGS = np.array([4.0, 8.0, 12.0, 16.0])


def test_coverage_table_counts_residents_within_each_circle() -> None:
    table = coverage_table(
        NETWORK,
        circle_m=CIRCLE,
        group=GROUP,
        residents=RESIDENTS,
        dwellings=DWELLINGS,
        euclidean_m=EUCLID,
    ).set_index(["group", "category"])

    assert table.loc[("a", "school"), "residents_within"] == 10
    assert table.loc[("a", "school"), "residents_within_euclidean"] == 30
    assert table.loc[("b", "school"), "dwellings_within"] == 12
    assert table.loc[("b", "clinic"), "residents_within"] == 30
    assert table.loc[("b", "clinic"), "residents_within_euclidean"] == 70
    assert table.loc[("a", "clinic"), "residents_share"] == pytest.approx(1.0)


def test_completeness_counts_categories_and_share_with_all() -> None:
    assert completeness(NETWORK, circle_m=CIRCLE).tolist() == [2, 1, 2, 0]
    table = completeness_table(
        NETWORK, circle_m=CIRCLE, group=GROUP, residents=RESIDENTS, dwellings=DWELLINGS
    ).set_index("group")

    assert table.loc["a", "residents_all"] == 10
    assert table.loc["b", "share_all"] == pytest.approx(30 / 70)
    assert table.loc["a", "mean_completeness"] == pytest.approx((10 * 2 + 20 * 1) / 30)
    assert not table["meets_target"].any()


def test_gaps_as_polygons_and_counts() -> None:
    points = shapely.points([0, 1000, 2000, 3000], [0, 0, 0, 0])
    gaps = gap_polygons(
        points,
        NETWORK,
        circle_m=CIRCLE,
        residents=RESIDENTS,
        crs="EPSG:4548",
        method="buffer",
        buffer_m=10,
    ).set_index("category")
    counts = gap_counts(NETWORK, circle_m=CIRCLE, group=GROUP, residents=RESIDENTS)

    assert gaps.loc["school", "buildings"] == 2 and gaps.loc["school", "residents"] == 60
    assert gaps.loc["school", "geometry"].contains(shapely.Point(1000, 5))
    assert not gaps.loc["school", "geometry"].contains(shapely.Point(0, 5))
    assert gaps.loc["clinic", "residents"] == 40
    assert counts.loc["a", "school"] == 20 and counts.loc["b", "school"] == 40
    assert counts.loc["b", "clinic"] == 40 and counts.loc["a", "clinic"] == 0


def test_mismatched_lengths_are_named() -> None:
    with pytest.raises(CoverageInputError, match="'school': 3 distances for 4 buildings"):
        coverage_table(
            {"school": np.ones(3)},
            circle_m=CIRCLE,
            group=GROUP,
            residents=RESIDENTS,
            dwellings=DWELLINGS,
        )


def test_grid_gaps_are_the_squares_holding_uncovered_buildings() -> None:
    points = shapely.points([50, 1050, 1090, 3010], [50, 20, 80, 30])
    distances = {"school": np.array([100.0, 600.0, 700.0, INF])}

    gaps = gap_polygons(
        points,
        distances,
        circle_m={"school": 500.0},
        residents=RESIDENTS,
        crs="EPSG:4548",
        cell_m=100,
    ).set_index("category")

    area = gaps.loc["school", "geometry"]
    assert area.area == pytest.approx(2 * 100 * 100)  # buildings 1 and 2 share a square
    assert area.contains(shapely.Point(1001, 1)) and area.contains(shapely.Point(3099, 99))
    assert not area.contains(shapely.Point(50, 50))
    assert gaps.loc["school", "residents"] == 90
