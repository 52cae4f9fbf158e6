"""Planner edits keep cells whole and the street tiled."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

from gis.errors import InvalidGeometryError, InvalidInputError
from gis.gridding.edits import merge_cells, move_area, redraw_edge, split_cell
from gis.gridding.validate import validate_plan

# Two 100 m x 100 m neighbours and a third cell touching only at a corner.
CELLS = {
    "A": box(0, 0, 100, 100),
    "B": box(100, 0, 200, 100),
    "C": box(200, 100, 300, 200),
}
STREET = shapely.union_all([CELLS["A"], CELLS["B"], CELLS["C"]])


def test_split_keeps_area_and_the_larger_part_keeps_the_code() -> None:
    kept, new = split_cell(CELLS, "A", LineString([(30, 0), (30, 100)]))

    assert kept.area == pytest.approx(7000)
    assert new.area == pytest.approx(3000)
    assert kept.union(new).equals(CELLS["A"])


def test_split_line_that_misses_the_cell_is_refused() -> None:
    with pytest.raises(InvalidGeometryError, match="does not cut"):
        split_cell(CELLS, "A", LineString([(150, 0), (150, 100)]))


def test_split_line_crossing_twice_is_refused() -> None:
    zigzag = LineString([(20, -1), (20, 101), (60, 101), (60, -1)])
    with pytest.raises(InvalidGeometryError, match="3 parts"):
        split_cell(CELLS, "A", zigzag)


def test_merge_neighbours_gives_one_polygon() -> None:
    merged = merge_cells(CELLS, ["A", "B"])

    assert isinstance(merged, Polygon)
    assert merged.area == pytest.approx(20000, abs=0.5)


def test_merge_of_corner_touching_cells_is_refused() -> None:
    with pytest.raises(InvalidGeometryError, match="separate pieces"):
        merge_cells(CELLS, ["B", "C"])


def test_move_a_building_plot_to_the_neighbour() -> None:
    plot = box(80, 40, 100, 60)

    a, b = move_area(CELLS, plot, from_code="A", to_code="B")

    assert a.area == pytest.approx(10000 - 400, abs=1)
    assert b.area == pytest.approx(10000 + 400, abs=1)
    assert b.contains(plot.buffer(-0.1))
    report = validate_plan(["A", "B", "C"], [a, b, CELLS["C"]], STREET)
    assert report.ok, report.errors


def test_move_to_a_cell_that_is_not_a_neighbour_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not neighbours"):
        move_area(CELLS, box(10, 10, 20, 20), from_code="A", to_code="C")


def test_move_that_would_cut_the_source_in_two_is_refused() -> None:
    corridor = box(0, 45, 100, 55)
    with pytest.raises(InvalidGeometryError, match="separate pieces"):
        move_area(CELLS, corridor, from_code="A", to_code="B")


def test_redraw_shared_edge_moves_the_boundary() -> None:
    a, b = redraw_edge(CELLS, "A", "B", LineString([(120, -5), (120, 105)]))

    assert a.area == pytest.approx(12000, abs=1)
    assert b.area == pytest.approx(8000, abs=1)
    report = validate_plan(["A", "B", "C"], [a, b, CELLS["C"]], STREET)
    assert report.ok, report.errors


def test_validation_finds_gaps_overlaps_and_cut_buildings() -> None:
    overlapping = box(0, 0, 110, 100)
    short = box(100, 0, 190, 100)
    building = box(95, 40, 105, 60)

    report = validate_plan(
        ["A", "B", "C"],
        [overlapping, short, CELLS["C"]],
        STREET,
        buildings=[building],
        building_ids=[42],
        households=[310, 50, 600],
    )

    assert not report.ok
    assert report.gap_m2 == pytest.approx(1000, abs=1)  # B stops 10 m short of C's column
    assert report.overlap_m2 == pytest.approx(1000, abs=1)
    assert any("cells A and B overlap" in e for e in report.errors)
    assert any("building 42 is split between cells A, B" in e for e in report.errors)
    assert report.below_band == ["B"]
    assert report.above_band == ["C"]


def test_validation_reports_uncovered_street() -> None:
    report = validate_plan(["A"], [CELLS["A"]], STREET)

    assert report.gap_m2 == pytest.approx(20000)
    assert "uncovered" in report.errors[0]


def test_community_rule_each_cell_in_exactly_one() -> None:
    communities = [box(0, 0, 150, 100), box(150, 0, 300, 200)]

    report = validate_plan(
        ["A", "B", "C"],
        list(CELLS.values()),
        STREET,
        communities=communities,
        community_codes=["110101001001", "110101001002"],
    )

    assert [e for e in report.errors if "community" in e] == [
        "cell B is not inside exactly one community (touches 110101001001, 110101001002)"
    ]
