"""Square and hexagon unit grids: counts, exact cover, slivers merged, holes and parts."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from gis.errors import InvalidInputError
from gis.gridding.regular import hexagon_cells, square_cells

SQUARE_KM = box(0, 0, 1000, 1000)
WITH_HOLE = Polygon(
    [(0, 0), (1000, 0), (1000, 1000), (0, 1000)], [[(300, 300), (700, 300), (700, 700), (300, 700)]]
)
TWO_PARTS = MultiPolygon([box(0, 0, 500, 500), box(800, 0, 1220, 300)])


def _tiles(cells: np.ndarray, area: shapely.Geometry) -> None:
    union = shapely.union_all(cells)
    assert shapely.area(cells).sum() == pytest.approx(area.area, abs=1e-3)  # no overlap
    assert union.symmetric_difference(area).area < 1e-3  # no gap, nothing outside
    assert (shapely.get_type_id(cells) == shapely.GeometryType.POLYGON).all()


def test_square_grid_of_a_square_kilometre_has_100_cells_of_a_hectare() -> None:
    cells = square_cells(SQUARE_KM, size_m=100)

    assert len(cells) == 100
    assert np.allclose(shapely.area(cells), 10_000)
    _tiles(cells, SQUARE_KM)


def test_square_grid_leaves_the_hole_empty() -> None:
    cells = square_cells(WITH_HOLE, size_m=100)

    assert len(cells) == 100 - 16
    _tiles(cells, WITH_HOLE)


def test_multipolygon_street_gives_cells_in_each_part() -> None:
    cells = square_cells(TWO_PARTS, size_m=100)

    in_second = shapely.intersects(cells, box(800, 0, 1220, 300))
    assert in_second.sum() == 4 * 3  # the 20 m strips (2,000 m²) merge into their rows
    _tiles(cells, TWO_PARTS)


def test_slivers_below_the_minimum_join_the_neighbour_with_the_longest_edge() -> None:
    area = box(0, 0, 210, 100)  # a 10 m strip at the east end

    cells = square_cells(area, size_m=100, min_area_m2=2_000)

    assert sorted(shapely.area(cells).round().tolist()) == [10_000, 11_000]
    east = cells[np.argmax(shapely.bounds(cells)[:, 2])]
    assert shapely.bounds(east).tolist() == [100, 0, 210, 100]


def test_hexagons_have_the_requested_size_and_tile_a_concave_area() -> None:
    l_shape = shapely.difference(box(0, 0, 1000, 1000), box(500, 500, 1000, 1000))

    cells = hexagon_cells(l_shape, side_m=50)

    full = 1.5 * np.sqrt(3) * 50**2
    assert np.median(shapely.area(cells)) == pytest.approx(full, rel=1e-6)
    _tiles(cells, l_shape)


@pytest.mark.parametrize("size_m", [0.0, -5.0, float("nan")])
def test_bad_sizes_are_refused(size_m: float) -> None:
    with pytest.raises(InvalidInputError, match="positive"):
        square_cells(SQUARE_KM, size_m=size_m)


def test_too_many_cells_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="more than 2,000,000 cells"):
        square_cells(box(0, 0, 100_000, 100_000), size_m=1)
