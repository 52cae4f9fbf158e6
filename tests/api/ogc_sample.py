"""A small synthetic city for the OGC/tiles/Open311 tests: two streets, an active grid plan.

Street A (110101001) has cells A-01 and A-02, street B (110101002) cell B-01. Buildings are
laid on a regular lattice so tests can derive expected counts from the layout, not from our
code: building ``i`` sits in column ``i % 10`` and row ``i // 10`` of a 0.001-degree lattice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy.orm import Session

from gis.divisions import Division
from gis.gridding.models import GridCell, GridPlan
from gis.layers.buildings import Building
from gis.layers.facilities import Facility
from gis.layers.incidents import Incident

ORIGIN_LON, ORIGIN_LAT = 116.40, 39.90
STEP = 0.001
STREET_A, STREET_B = "110101001", "110101002"


@dataclass(frozen=True)
class Sample:
    building_count: int
    buildings_a: int
    buildings_per_cell: dict[str, int]
    incident_ids: list[int]
    facility_count: int


def _geom(shape: object) -> object:
    return from_shape(shape, srid=4326)


def building_lonlat(i: int) -> tuple[float, float]:
    """South-west corner of building ``i``."""
    return ORIGIN_LON + (i % 10) * STEP, ORIGIN_LAT + (i // 10) * STEP


def load_sample(session: Session, *, buildings: int = 40) -> Sample:
    """Insert the sample city; buildings in rows 0-1 belong to street A, the rest to B."""
    rows = (buildings + 9) // 10
    width = 10 * STEP
    district = box(
        ORIGIN_LON - STEP, ORIGIN_LAT - STEP, ORIGIN_LON + width, ORIGIN_LAT + rows * STEP
    )
    street_a = box(ORIGIN_LON - STEP, ORIGIN_LAT - STEP, ORIGIN_LON + width, ORIGIN_LAT + 2 * STEP)
    street_b = box(
        ORIGIN_LON - STEP, ORIGIN_LAT + 2 * STEP, ORIGIN_LON + width, ORIGIN_LAT + rows * STEP
    )
    session.add(
        Division(
            code="110101",
            level="district",
            name="东城区",
            stat_code="110101000000",
            geom=_geom(MultiPolygon([district])),
        )
    )
    session.flush()
    session.add_all(
        [
            Division(
                code=STREET_A,
                level="street",
                name="东华门街道",
                parent_code="110101",
                stat_code="110101001000",
                geom=_geom(MultiPolygon([street_a])),
            ),
            Division(
                code=STREET_B,
                level="street",
                name="景山街道",
                parent_code="110101",
                stat_code="110101002000",
                geom=_geom(MultiPolygon([street_b])),
            ),
        ]
    )
    session.flush()
    plan_a = GridPlan(
        street_code=STREET_A, version=1, status="active", method="test", created_by="test"
    )
    plan_b = GridPlan(
        street_code=STREET_B, version=1, status="active", method="test", created_by="test"
    )
    draft = GridPlan(
        street_code=STREET_B, version=2, status="draft", method="test", created_by="test"
    )
    session.add_all([plan_a, plan_b, draft])
    session.flush()
    half = ORIGIN_LON + 5 * STEP - STEP / 2
    cells = {
        "A-01": (plan_a, box(ORIGIN_LON - STEP, ORIGIN_LAT - STEP, half, ORIGIN_LAT + 2 * STEP)),
        "A-02": (plan_a, box(half, ORIGIN_LAT - STEP, ORIGIN_LON + width, ORIGIN_LAT + 2 * STEP)),
        "B-01": (plan_b, street_b),
    }
    cell_rows = {}
    for code, (plan, shape) in cells.items():
        cell = GridCell(plan_id=plan.id, code=code, geom=_geom(shape), area_m2=1.0)
        session.add(cell)
        cell_rows[code] = cell
    session.add(GridCell(plan_id=draft.id, code="B-99", geom=_geom(street_b), area_m2=1.0))
    session.flush()
    per_cell: dict[str, int] = {"A-01": 0, "A-02": 0, "B-01": 0}
    objs = []
    for i in range(buildings):
        lon, lat = building_lonlat(i)
        row, col = i // 10, i % 10
        street = STREET_A if row < 2 else STREET_B
        grid = ("A-01" if col < 5 else "A-02") if row < 2 else "B-01"
        per_cell[grid] += 1
        footprint = box(lon, lat, lon + STEP * 0.6, lat + STEP * 0.6)
        objs.append(
            Building(
                code=f"B{i:04d}",
                name=f"楼{i}",
                floors=1 + i % 7,
                dwellings=i,
                street_code=street,
                grid_code=grid,
                grid_cell_id=cell_rows[grid].id,
                geom=_geom(MultiPolygon([footprint])),
                anchor=_geom(shapely.centroid(footprint)),
                source="test",
                source_id=str(i),
                synthetic=True,
            )
        )
    facilities = [
        Facility(
            category="school",
            name="小学",
            street_code=STREET_A,
            grid_code="A-01",
            geom=_geom(Point(ORIGIN_LON + 0.0003, ORIGIN_LAT + 0.0003)),
        ),
        Facility(
            category="clinic",
            name="卫生站",
            street_code=STREET_B,
            grid_code="B-01",
            geom=_geom(Point(ORIGIN_LON + 0.0053, ORIGIN_LAT + 0.0033)),
        ),
    ]
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    incidents = [
        Incident(
            major_code="01",
            minor_code="01",
            status="reported",
            street_code=STREET_A,
            grid_code="A-01",
            reported_at=t0,
            reporter="张三",
            description="乱堆物料",
            geom=_geom(Point(ORIGIN_LON + 0.0002, ORIGIN_LAT + 0.0002)),
        ),
        Incident(
            major_code="01",
            minor_code="02",
            status="closed",
            street_code=STREET_B,
            grid_code="B-01",
            reported_at=t0 + timedelta(days=2),
            reporter="李四",
            geom=_geom(Point(ORIGIN_LON + 0.0052, ORIGIN_LAT + 0.0032)),
        ),
    ]
    session.add_all([*objs, *facilities, *incidents])
    session.flush()
    buildings_a = sum(1 for i in range(buildings) if i // 10 < 2)
    return Sample(
        building_count=buildings,
        buildings_a=buildings_a,
        buildings_per_cell=per_cell,
        incident_ids=[inc.id for inc in incidents],
        facility_count=len(facilities),
    )
