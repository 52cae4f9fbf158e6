"""Save and read grid plans and cells; plan versions, activation and history (grid SQL is here).

Every change to a street's grid is a new plan version. Writers lock the street's division row
and compare the version they edited with the newest one, so concurrent edits are refused
(``ConflictError``), never silently lost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from gis.divisions import Division
from gis.errors import ConflictError, InvalidInputError, NotFoundError
from gis.gridding.models import GridCell, GridPlan

CELL_COLUMNS = (
    "code",
    "community_code",
    "kind",
    "households",
    "residents",
    "dwellings",
    "area_m2",
    "compactness",
    "road_share",
    "in_band",
    "worker_id",
)


def lock_street(session: Session, street_code: str) -> Division:
    """Lock the street's division row for the rest of the transaction (serialises writers)."""
    street = session.execute(
        select(Division).where(Division.code == street_code).with_for_update()
    ).scalar_one_or_none()
    if street is None:
        raise NotFoundError("street", street_code)
    if street.level != "street":
        raise InvalidInputError(f"{street_code} is a {street.level}, not a street")
    return street


def latest_plan(session: Session, street_code: str) -> GridPlan | None:
    """Return the newest plan version of a street, whatever its status."""
    return session.execute(
        select(GridPlan)
        .where(GridPlan.street_code == street_code)
        .order_by(GridPlan.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def get_plan(session: Session, plan_id: int) -> GridPlan:
    """Return a plan by id or raise NotFoundError."""
    plan = session.get(GridPlan, plan_id)
    if plan is None:
        raise NotFoundError("grid plan", plan_id)
    return plan


def get_plan_version(session: Session, street_code: str, version: int) -> GridPlan:
    """Return version ``version`` of a street's plan."""
    plan = session.execute(
        select(GridPlan).where(GridPlan.street_code == street_code, GridPlan.version == version)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFoundError("grid plan version", f"{street_code} v{version}")
    return plan


def active_plan(session: Session, street_code: str) -> GridPlan | None:
    """Return the street's active plan, if any."""
    return session.execute(
        select(GridPlan).where(GridPlan.street_code == street_code, GridPlan.status == "active")
    ).scalar_one_or_none()


def save_plan(
    session: Session,
    *,
    street_code: str,
    cells: gpd.GeoDataFrame,
    method: str,
    actor: str,
    reason: str | None = None,
    params: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    used_numbers: dict[str, int] | None = None,
    base_version: int | None = None,
) -> GridPlan:
    """Store ``cells`` (EPSG:4326, one row per cell) as the street's next draft version.

    Parameters
    ----------
    cells
        Columns of ``CELL_COLUMNS`` (``code`` required) and Polygon geometries in EPSG:4326.
    base_version
        The version the caller edited; if a newer one exists the save is refused. None means
        "a new plan not derived from any" (generation), which is always accepted.
    used_numbers
        For each 12-digit prefix, the highest grid sequence number ever used in this plan's
        lineage, so removed numbers are never given out again.
    """
    if cells.crs is None or cells.crs.to_epsg() != 4326:
        raise InvalidInputError("cells must be in EPSG:4326")
    if "code" not in cells.columns or cells["code"].isna().any():
        raise InvalidInputError("every cell needs a code")
    duplicated = cells["code"][cells["code"].duplicated()].tolist()
    if duplicated:
        raise InvalidInputError(f"duplicate cell codes: {', '.join(map(str, duplicated[:10]))}")
    lock_street(session, street_code)
    newest = latest_plan(session, street_code)
    if base_version is not None and newest is not None and newest.version != base_version:
        raise ConflictError(
            f"the plan of street {street_code} changed since version {base_version}: version "
            f"{newest.version} was saved by {newest.created_by} ({newest.reason or newest.method})"
            "; reload it and edit again"
        )
    plan = GridPlan(
        street_code=street_code,
        version=(newest.version + 1) if newest else 1,
        parent_version=base_version,
        status="draft",
        method=method,
        params=params or {},
        report=report or {},
        used_numbers=used_numbers or {},
        created_by=actor,
        reason=reason,
    )
    session.add(plan)
    session.flush()
    _insert_cells(session, plan.id, cells)
    return plan


def _insert_cells(session: Session, plan_id: int, cells: gpd.GeoDataFrame) -> None:
    frame = cells.reset_index(drop=True)
    wkt = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
    rows = []
    present = [c for c in CELL_COLUMNS if c in frame.columns]
    records = frame[present].astype(object).where(frame[present].notna(), None).to_dict("records")
    for record, geom in zip(records, wkt, strict=True):
        record["plan_id"] = plan_id
        record["geom"] = f"SRID=4326;{geom}"
        rows.append(record)
    if rows:
        session.execute(insert(GridCell), rows)


def load_cells(session: Session, plan_id: int) -> gpd.GeoDataFrame:
    """Return a plan's cells as a GeoDataFrame in EPSG:4326, ordered by code."""
    stmt = (
        select(
            GridCell.id,
            *(getattr(GridCell, c) for c in CELL_COLUMNS),
            func.ST_AsBinary(GridCell.geom).label("wkb"),
        )
        .where(GridCell.plan_id == plan_id)
        .order_by(GridCell.code)
    )
    rows = [dict(r._mapping) for r in session.execute(stmt)]
    if not rows:
        return gpd.GeoDataFrame(columns=["id", *CELL_COLUMNS], geometry=[], crs=4326)
    geoms = shapely.from_wkb([r.pop("wkb") for r in rows])
    return gpd.GeoDataFrame(rows, geometry=list(geoms), crs=4326)


def set_active(session: Session, plan: GridPlan, *, actor: str) -> GridPlan | None:
    """Make ``plan`` the street's active plan; archive the previous one (returned)."""
    lock_street(session, plan.street_code)
    if plan.status == "active":
        return None
    previous = active_plan(session, plan.street_code)
    if previous is not None:
        previous.status = "archived"
        session.flush()  # the one-active-plan index must see the archive first
    plan.status = "active"
    plan.activated_at = datetime.now().astimezone()
    plan.report = {**plan.report, "activated_by": actor}
    session.flush()
    return previous


def history(session: Session, street_code: str) -> list[dict[str, Any]]:
    """Return every version of a street's plan, newest first, with who, why and cell counts."""
    counts = (
        select(GridCell.plan_id, func.count().label("cells")).group_by(GridCell.plan_id).subquery()
    )
    stmt = (
        select(
            GridPlan.id,
            GridPlan.version,
            GridPlan.parent_version,
            GridPlan.status,
            GridPlan.method,
            GridPlan.created_by,
            GridPlan.reason,
            GridPlan.created_at,
            GridPlan.activated_at,
            func.coalesce(counts.c.cells, 0).label("cells"),
        )
        .outerjoin(counts, counts.c.plan_id == GridPlan.id)
        .where(GridPlan.street_code == street_code)
        .order_by(GridPlan.version.desc())
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def assign_worker(session: Session, plan_id: int, code: str, worker_id: int | None) -> None:
    """Set the grid worker of one cell of a plan."""
    result = session.execute(
        update(GridCell)
        .where(GridCell.plan_id == plan_id, GridCell.code == code)
        .values(worker_id=worker_id)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFoundError("grid cell", code)


def plan_geojson(session: Session, plan_id: int) -> dict[str, Any]:
    """Return a plan's cells as a GeoJSON FeatureCollection built by PostGIS."""
    columns = [getattr(GridCell, c) for c in CELL_COLUMNS]
    rows = session.execute(
        select(func.ST_AsGeoJSON(GridCell.geom, 7), *columns, GridCell.id)
        .where(GridCell.plan_id == plan_id)
        .order_by(GridCell.code)
    ).all()
    features = [
        {
            "type": "Feature",
            "id": r[-1],
            "properties": dict(zip(CELL_COLUMNS, r[1:-1], strict=True)),
            "geometry": json.loads(r[0]),
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}
