"""A small city in PostGIS for the map routes: two real Dongcheng streets, grids, cases, coverage.

The street polygons are the real boundaries shipped in ``data/boundaries/beijing``; the grid
plans (250 m squares clipped to each street, saved with `save_plan` and activated), buildings,
incidents (reported through `incident_service.report_incident`, so they get their grid cell like
real ones), facilities and the coverage run are synthetic and flagged so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis.auth import Principal, Role, create_user, issue_api_key
from gis.coverage.store import CoverageResult, CoverageRun, Isochrone
from gis.divisions import Division
from gis.gridding.models import GridCell
from gis.gridding.store import assign_worker, save_plan, set_active
from gis.layers.buildings import Building
from gis.layers.facilities import Facility
from gis.layers.incident_service import report_incident
from gis.layers.incidents import Incident
from tests.maps import data

SUBDISTRICTS = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "boundaries"
    / "beijing"
    / "subdistricts"
    / "dongcheng-all.geojson"
)
STREET_NAMES = ("东华门街道", "景山街道")
DISTRICT = "110101"
CLASS_CODE = "0101"
CATEGORIES = ("kindergarten", "primary_school")


@dataclass(frozen=True)
class City:
    """What was stored, for the tests to derive their expectations from."""

    streets: dict[str, str]  # code -> name
    cells: dict[str, list[str]]  # street code -> cell codes
    incident_grid: dict[int, str | None]  # incident id -> grid code
    overdue_ids: list[int]
    worker_grid: str
    keys: dict[str, str]  # username -> API key
    run_id: int


def _geom(shape: shapely.Geometry) -> object:
    return from_shape(shape, srid=4326)


def load_city(session: Session) -> City:
    """Store the city (the caller commits or rolls back)."""
    frame = gpd.read_file(SUBDISTRICTS).to_crs(4326)
    frame = frame[frame["Name"].isin(STREET_NAMES)].reset_index(drop=True)
    session.add(
        Division(
            code=DISTRICT,
            level="district",
            name="东城区",
            stat_code="110101000000",
            geom=_geom(MultiPolygon([g for p in frame.geometry for g in getattr(p, "geoms", [p])])),
        )
    )
    session.flush()
    streets: dict[str, str] = {}
    for row in frame.itertuples():
        code = str(row.code)[:9]
        streets[code] = str(row.Name)
        geom = row.geometry
        session.add(
            Division(
                code=code,
                level="street",
                name=str(row.Name),
                parent_code=DISTRICT,
                stat_code=str(row.code),
                source="data/boundaries/beijing",
                geom=_geom(geom if geom.geom_type == "MultiPolygon" else MultiPolygon([geom])),
            )
        )
    session.flush()

    worker = create_user(session, username="wang", role=Role.GRID_WORKER, display_name="王网格员")
    cells_by_street: dict[str, list[str]] = {}
    for i, street in enumerate(sorted(streets)):
        one = frame[frame["code"].astype(str).str[:9] == street]
        cells = data.square_cells(one, size_m=250, seed=7 + i)
        cells["area_m2"] = 0.0
        # Cells are single polygons: keep the largest piece of a square the boundary cut.
        cells = cells.set_geometry(
            [
                max(g.geoms, key=lambda p: p.area) if hasattr(g, "geoms") else g
                for g in cells.geometry
            ]
        )
        plan = save_plan(
            session,
            street_code=street,
            cells=cells[["code", "households", "residents", "area_m2", "geometry"]],
            method="test-squares",
            actor="test",
            params={"band": [300, 500]},
        )
        set_active(session, plan, actor="test")
        cells_by_street[street] = sorted(cells["code"])
    worker_grid = cells_by_street[sorted(streets)[0]][0]
    plan_id = session.execute(
        select(GridCell.plan_id).where(GridCell.code == worker_grid)
    ).scalar_one()
    assign_worker(session, plan_id, worker_grid, worker.id)
    worker.scope_grid_codes = [worker_grid]

    cell_rows = session.execute(
        select(GridCell.id, GridCell.code, func.ST_AsBinary(GridCell.geom)).order_by(GridCell.code)
    ).all()
    buildings, points = [], []
    for cell_id, code, wkb in cell_rows:
        point = shapely.point_on_surface(shapely.from_wkb(bytes(wkb)))
        points.append(point)
        footprint = shapely.box(point.x - 1e-4, point.y - 1e-4, point.x + 1e-4, point.y + 1e-4)
        buildings.append(
            Building(
                code=f"B{code}",
                name=f"楼 {code[-3:]}",
                households=120,
                residents=300,
                street_code=code[:9],
                grid_code=code,
                grid_cell_id=cell_id,
                geom=_geom(MultiPolygon([footprint])),
                anchor=_geom(point),
                source="test",
                source_id=code,
                synthetic=True,
            )
        )
    session.add_all(buildings)
    session.flush()

    system = Principal.system("test")
    incident_grid: dict[int, str | None] = {}
    for k, anchor in enumerate(points[::3]):
        result = report_incident(
            session,
            principal=system,
            minor_code=CLASS_CODE,
            lon=anchor.x + 5e-5,
            lat=anchor.y,
            description=f"测试案件 {k}",
            client_key=f"map-test-{k}",
        )
        incident_grid[result.incident.id] = result.incident.grid_code
    # Two cases dispatched with a passed deadline: overdue on the map.
    overdue_ids = sorted(incident_grid)[:2]
    session.execute(
        update(Incident)
        .where(Incident.id.in_(overdue_ids))
        .values(
            status="dispatched",
            deadline_at=datetime.now(UTC) - timedelta(hours=3),
            synthetic=True,
        )
    )
    session.execute(update(Incident).values(synthetic=True))

    run_id = _coverage(session, buildings, points)
    keys = {}
    for name, role, grids in (
        ("chief", Role.COMMANDER, None),
        ("ana", Role.ANALYST, None),
    ):
        user = create_user(session, username=name, role=role, grid_codes=grids)
        keys[name] = issue_api_key(session, user)
    keys["wang"] = issue_api_key(session, worker)
    admin = create_user(session, username="root", role=Role.ADMIN)
    keys["root"] = issue_api_key(session, admin)
    session.flush()
    return City(
        streets=streets,
        cells=cells_by_street,
        incident_grid=incident_grid,
        overdue_ids=overdue_ids,
        worker_grid=worker_grid,
        keys=keys,
        run_id=run_id,
    )


def _coverage(session: Session, buildings: list[Building], points: list[shapely.Point]) -> int:
    """One run: a facility per category, its isochrone, and a distance per building."""
    run = CoverageRun(network="test-osm", params={}, finished_at=datetime.now(UTC))
    session.add(run)
    session.flush()
    rng = np.random.default_rng(5)
    for k, category in enumerate(CATEGORIES):
        at = len(buildings) // 3 * (k + 1) % len(buildings)
        host, anchor = buildings[at], points[at]
        facility = Facility(
            category=category,
            name=f"测试{category}",
            street_code=host.street_code,
            grid_code=host.grid_code,
            synthetic=True,
            geom=_geom(anchor),
        )
        session.add(facility)
        session.flush()
        disc = shapely.buffer(anchor, 0.004)
        session.add(
            Isochrone(
                run_id=run.id,
                facility_id=facility.id,
                category=category,
                minutes=5,
                method="network",
                geom=_geom(MultiPolygon([disc])),
            )
        )
        walk = rng.uniform(100, 1500, len(buildings))
        session.add_all(
            [
                CoverageResult(
                    run_id=run.id,
                    building_id=b.id,
                    category=category,
                    walk_m=float(w) if w < 1200 else None,
                )
                for b, w in zip(buildings, walk, strict=True)
            ]
        )
    session.flush()
    return run.id
