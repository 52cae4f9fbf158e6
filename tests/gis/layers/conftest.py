"""Shared fixtures for the layer tests: a small street with an active two-cell grid plan.

The street is a real piece of Dongcheng (around 东华门), split into a west and an east cell,
each with its own grid worker. Buildings stand one in each cell.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy.orm import Session

from gis.auth import Principal, Role, create_user, principal_of
from gis.divisions import Division
from gis.gridding.models import GridCell, GridPlan
from gis.layers.buildings import Building

DISTRICT_CODE = "110101"
STREET_CODE = "110101001"
WEST_GRID = "110101001001001"
EAST_GRID = "110101001001002"
STREET_BOX = box(116.400, 39.900, 116.420, 39.920)
WEST_BOX = box(116.400, 39.900, 116.410, 39.920)
EAST_BOX = box(116.410, 39.900, 116.420, 39.920)
# A fixed test key (never a real one): 32 bytes, base64.
TEST_KEY = base64.b64encode(bytes(range(32))).decode()


@dataclass(frozen=True)
class Town:
    """What the `town` fixture created (ids are database ids)."""

    plan_id: int
    west_cell_id: int
    east_cell_id: int
    west_worker: Principal
    east_worker: Principal
    commander: Principal
    analyst: Principal
    auditor: Principal
    registrar: Principal
    west_building_id: int
    east_building_id: int


def _geom(shape: object) -> object:
    return from_shape(shape, srid=4326)


def _building(session: Session, *, code: str, lon: float, lat: float, grid_code: str) -> Building:
    footprint = box(lon - 0.0002, lat - 0.0001, lon + 0.0002, lat + 0.0001)
    building = Building(
        code=code,
        name=f"test building {code}",
        floors=6,
        dwellings=24,
        geom=_geom(MultiPolygon([footprint])),
        anchor=_geom(Point(lon, lat)),
        street_code=STREET_CODE,
        grid_code=grid_code,
        source="test",
        source_id=code,
    )
    session.add(building)
    return building


@pytest.fixture
def town(session: Session) -> Town:
    """One district, one street, an active plan with a west and an east cell, users, buildings."""
    session.add(
        Division(
            code=DISTRICT_CODE,
            level="district",
            name="东城区",
            stat_code=DISTRICT_CODE.ljust(12, "0"),
            geom=_geom(MultiPolygon([box(116.35, 39.85, 116.45, 39.97)])),
        )
    )
    session.flush()
    session.add(
        Division(
            code=STREET_CODE,
            level="street",
            name="东华门街道",
            parent_code=DISTRICT_CODE,
            stat_code=STREET_CODE.ljust(12, "0"),
            geom=_geom(MultiPolygon([STREET_BOX])),
        )
    )
    west = create_user(
        session, username="worker_west", role=Role.GRID_WORKER, grid_codes=[WEST_GRID]
    )
    east = create_user(
        session, username="worker_east", role=Role.GRID_WORKER, grid_codes=[EAST_GRID]
    )
    commander = create_user(
        session, username="commander", role=Role.COMMANDER, divisions=[DISTRICT_CODE]
    )
    analyst = create_user(session, username="analyst", role=Role.ANALYST)
    auditor = create_user(
        session, username="auditor", role=Role.ADMIN, can_unmask=True, divisions=[STREET_CODE]
    )
    registrar = create_user(
        session, username="registrar", role=Role.ADMIN, divisions=[DISTRICT_CODE]
    )
    plan = GridPlan(
        street_code=STREET_CODE, version=1, status="active", method="manual", created_by="test"
    )
    session.add(plan)
    session.flush()
    west_cell = GridCell(plan_id=plan.id, code=WEST_GRID, geom=_geom(WEST_BOX), worker_id=west.id)
    east_cell = GridCell(plan_id=plan.id, code=EAST_GRID, geom=_geom(EAST_BOX), worker_id=east.id)
    session.add_all([west_cell, east_cell])
    west_building = _building(session, code="B-W-1", lon=116.405, lat=39.910, grid_code=WEST_GRID)
    east_building = _building(session, code="B-E-1", lon=116.415, lat=39.910, grid_code=EAST_GRID)
    session.flush()
    return Town(
        plan_id=plan.id,
        west_cell_id=west_cell.id,
        east_cell_id=east_cell.id,
        west_worker=principal_of(west),
        east_worker=principal_of(east),
        commander=principal_of(commander),
        analyst=principal_of(analyst),
        auditor=principal_of(auditor),
        registrar=principal_of(registrar),
        west_building_id=west_building.id,
        east_building_id=east_building.id,
    )
