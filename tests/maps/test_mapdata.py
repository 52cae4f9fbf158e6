"""The map queries (gis.mapdata): figures derived independently from the stored rows."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.auth import PermissionDeniedError, Principal, Role
from gis.coverage.store import CoverageResult
from gis.layers.buildings import Building
from gis.mapdata import coverage_map_data, grid_map_data, incident_map_data
from tests.maps.city import CATEGORIES, City, load_city

CIRCLE_M = {"kindergarten": 5 * 200 / 3, "primary_school": 10 * 200 / 3}  # 5/10 min at 4 km/h


@pytest.fixture
def city(session: Session) -> City:
    return load_city(session)


def _walks(session: Session) -> dict[str, dict[str, float | None]]:
    """{grid code: {category: walk_m}} straight from the tables."""
    rows = session.execute(
        select(Building.grid_code, CoverageResult.category, CoverageResult.walk_m)
        .select_from(CoverageResult)
        .join(Building, Building.id == CoverageResult.building_id)
        .outerjoin(Building.membership)
    ).all()
    out: dict[str, dict[str, float | None]] = {}
    for grid, category, walk in rows:
        out.setdefault(grid, {})[category] = walk
    return out


def test_completeness_is_the_share_of_categories_within_their_circle(
    session: Session, city: City
) -> None:
    data = coverage_map_data(session, Principal.system())

    walks = _walks(session)
    expected = {
        grid: np.mean([w is not None and w <= CIRCLE_M[c] for c, w in by_cat.items()])
        for grid, by_cat in walks.items()
    }
    got = dict(zip(data.cells["code"], data.cells["completeness"], strict=True))
    assert set(got) == set(expected)  # every cell has one building with residents
    assert all(got[g] == pytest.approx(expected[g]) for g in expected)
    assert data.categories == sorted(CATEGORIES)
    assert data.circle_m == pytest.approx(CIRCLE_M)


def test_gaps_hold_every_uncovered_building(session: Session, city: City) -> None:
    data = coverage_map_data(session, Principal.system(), category="kindergarten")

    gap = data.gaps["kindergarten"]
    anchors = dict(
        session.execute(
            select(Building.grid_code, Building.anchor.ST_AsBinary()).outerjoin(Building.membership)
        ).all()
    )
    walks = _walks(session)
    outside = [
        g for g, by_cat in walks.items() if (w := by_cat["kindergarten"]) is None or w > 1000 / 3
    ]
    assert outside, "the sample must leave someone uncovered"
    assert gap["residents"].sum() == 300 * len(outside)
    points = shapely.from_wkb([bytes(anchors[g]) for g in outside])
    assert shapely.covers(gap.geometry.iloc[0], points).all()


def test_open_cases_per_cell_and_scope(session: Session, city: City) -> None:
    chief = Principal(username="chief", role=Role.COMMANDER)
    worker = Principal(username="wang", role=Role.GRID_WORKER, grid_codes=(city.worker_grid,))

    data = incident_map_data(session, chief)
    mine = incident_map_data(session, worker)

    per_cell = dict(zip(data.cells["code"], data.cells["open_cases"], strict=True))
    for grid in set(city.incident_grid.values()):
        assert per_cell[grid] == sum(1 for g in city.incident_grid.values() if g == grid)
    assert list(mine.cells["code"]) == [city.worker_grid]
    assert set(mine.incidents["grid_code"]) == {city.worker_grid}
    assert mine.synthetic


def test_a_grid_worker_may_not_read_coverage(session: Session, city: City) -> None:
    worker = Principal(username="wang", role=Role.GRID_WORKER, grid_codes=(city.worker_grid,))

    with pytest.raises(PermissionDeniedError):
        coverage_map_data(session, worker)
    assert list(grid_map_data(session, worker).cells["code"]) == [city.worker_grid]
