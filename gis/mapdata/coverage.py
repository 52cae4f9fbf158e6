"""The coverage map's data: per category isochrones and gaps, cells by completeness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
)
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.coverage.reach import circle_distance_m
from gis.coverage.stats import gap_polygons
from gis.coverage.store import CoverageResult, CoverageRun, Isochrone
from gis.crs import metric_crs_for, to_metric
from gis.errors import NotFoundError
from gis.gridding.models import GridCell
from gis.layers.buildings import Building
from gis.layers.checklist import default_checklist
from gis.layers.facilities import Facility
from gis.mapdata.common import (
    GAP_CELL_M,
    ISOCHRONE_SIMPLIFY_DEG,
    Area,
    active_cells,
    any_building,
    area_title,
    cell_scope,
    frame_of,
    resolve_area,
)


@dataclass(frozen=True)
class CoverageMapData:
    """The coverage map's data for one run: per category isochrones and gaps; cells."""

    area: Area
    title: str
    run_id: int | None
    categories: list[str]
    labels: dict[str, str]
    cells: gpd.GeoDataFrame
    isochrones: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    gaps: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    circle_m: dict[str, float] = field(default_factory=dict)
    synthetic: bool = False
    network_osm: bool = False


# ------------------------------------------------------------------------ coverage map
def latest_run(session: Session) -> CoverageRun | None:
    """Return the newest finished coverage run (else the newest run), or None."""
    return session.execute(
        select(CoverageRun)
        .order_by(CoverageRun.finished_at.is_(None), CoverageRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def category_circles(run: CoverageRun | None, categories: Sequence[str]) -> dict[str, float]:
    """Return each category's circle in walking metres: the run's, else the checklist's."""
    checklist = default_checklist().circles()
    given = (run.params or {}).get("circle_m", {}) if run is not None else {}
    given = given if isinstance(given, dict) else {}
    return {c: float(given.get(c) or circle_distance_m(checklist.get(c, 15))) for c in categories}


def coverage_map_data(
    session: Session,
    principal: Principal,
    *,
    category: str | None = None,
    street: str | None = None,
    district: str | None = None,
    run_id: int | None = None,
) -> CoverageMapData:
    """Return one coverage run's map data: per category isochrones and gaps; cells.

    Parameters
    ----------
    principal : Principal
        Needs READ_COVERAGE; buildings, facilities and cells outside its scope are left out.
    category : str, optional
        Only this category (default: every category of the run).
    street, district : str, optional
        As for `grid_map_data`.
    run_id : int, optional
        The run to show (default: `latest_run`).

    Returns
    -------
    CoverageMapData
        ``isochrones[c]`` (``name``, ``minutes``), ``gaps[c]`` (one merged polygon with
        ``residents`` and ``buildings`` uncovered, or no row), ``cells`` (``code``,
        ``completeness``: the resident-weighted share of (building, category) pairs within
        the category's circle, over every category of the run; NaN without residents).

    Raises
    ------
    NotFoundError
        `run_id` or `category` is not in the database.
    """
    principal.require(Permission.READ_COVERAGE)
    area = resolve_area(session, street=street, district=district)
    run = session.get(CoverageRun, run_id) if run_id is not None else latest_run(session)
    if run_id is not None and run is None:
        raise NotFoundError("coverage run", run_id)
    all_categories: list[str] = []
    if run is not None:
        all_categories = sorted(
            set(
                session.execute(
                    select(CoverageResult.category)
                    .where(CoverageResult.run_id == run.id)
                    .distinct()
                ).scalars()
            )
            | set(
                session.execute(
                    select(Isochrone.category).where(Isochrone.run_id == run.id).distinct()
                ).scalars()
            )
        )
    if category is not None and category not in all_categories:
        raise NotFoundError("coverage category", category)
    shown = [category] if category else all_categories
    circles = category_circles(run, all_categories)
    checklist = {c.key: c.name for c in default_checklist().categories}
    data = CoverageMapData(
        area=area,
        title=f"15-minute coverage · {area_title(session, area)}"
        + (f" · run {run.id}" if run is not None else ""),
        run_id=run.id if run is not None else None,
        categories=shown,
        labels={c: f"{checklist.get(c, c)} ({c})" for c in shown},
        cells=_completeness_cells(session, principal, area, run, circles),
        circle_m={c: circles[c] for c in shown},
        synthetic=any_building(session, area, Building.synthetic.is_(True)),
        # The walking network comes from OSM (DESIGN: 15-minute coverage).
        network_osm=run is not None,
    )
    if run is not None:
        for name in shown:
            data.isochrones[name] = _isochrones(session, principal, area, run.id, name, circles)
            data.gaps[name] = _gaps(session, principal, area, run.id, name, circles[name])
    return data


def _building_scope(principal: Principal, area: Area) -> ColumnElement[bool]:
    return and_(
        area.clause(Building.street_code),
        principal.scope_clause(Building.street_code.expression, Building.grid_code.expression),
    )


def _within(circles: dict[str, float]) -> ColumnElement[bool]:
    """Return "the building is inside the category's circle": as the run stored it, if it did."""
    radius = func.coalesce(
        CoverageResult.circle_m, case(circles, value=CoverageResult.category, else_=literal(-1.0))
    )
    computed = and_(CoverageResult.walk_m.is_not(None), CoverageResult.walk_m <= radius)
    return func.coalesce(CoverageResult.covered, computed)


def _completeness_cells(
    session: Session,
    principal: Principal,
    area: Area,
    run: CoverageRun | None,
    circles: dict[str, float],
) -> gpd.GeoDataFrame:
    if run is not None and circles:
        covered = func.sum(Building.residents * case((_within(circles), 1), else_=0))
        per_cell = (
            select(
                Building.grid_cell_id.label("cell_id"),
                (cast(covered, Float) / func.nullif(func.sum(Building.residents), 0)).label(
                    "completeness"
                ),
            )
            .select_from(Building)
            .join(CoverageResult, CoverageResult.building_id == Building.id)
            .join(Building.membership)
            .where(CoverageResult.run_id == run.id, _building_scope(principal, area))
            .group_by(Building.grid_cell_id)
            .subquery()
        )
        value: Any = per_cell.c.completeness
    else:
        per_cell, value = None, cast(null(), Float)
    stmt = select(GridCell.code, value, func.ST_AsBinary(GridCell.geom).label("wkb")).select_from(
        active_cells()
    )
    if per_cell is not None:
        stmt = stmt.outerjoin(per_cell, per_cell.c.cell_id == GridCell.id)
    stmt = stmt.where(cell_scope(principal, area)).order_by(GridCell.code)
    cells = frame_of(session, stmt, ("code", "completeness"))
    cells["completeness"] = pd.to_numeric(cells["completeness"]).astype(np.float64)
    return cells


def _isochrones(
    session: Session,
    principal: Principal,
    area: Area,
    run_id: int,
    category: str,
    circles: dict[str, float],
) -> gpd.GeoDataFrame:
    """Return the category's isochrones of the minutes closest to its circle (network first)."""
    options = session.execute(
        select(Isochrone.minutes, Isochrone.method)
        .where(Isochrone.run_id == run_id, Isochrone.category == category)
        .distinct()
    ).all()
    if not options:
        return gpd.GeoDataFrame({"name": [], "minutes": []}, geometry=[], crs=4326)
    circle_min = circles[category] / circle_distance_m(1)
    minutes, method = min(options, key=lambda o: (o[1] != "network", abs(o[0] - circle_min), -o[0]))
    stmt = (
        select(
            func.coalesce(Facility.name, Facility.category),
            Isochrone.minutes,
            func.ST_AsBinary(
                func.ST_SimplifyPreserveTopology(Isochrone.geom, ISOCHRONE_SIMPLIFY_DEG)
            ).label("wkb"),
        )
        .join(Facility, Facility.id == Isochrone.facility_id)
        .outerjoin(Facility.membership)
        .where(
            Isochrone.run_id == run_id,
            Isochrone.category == category,
            Isochrone.minutes == minutes,
            Isochrone.method == method,
            area.clause(Facility.street_code),
            principal.scope_clause(Facility.street_code.expression, Facility.grid_code.expression),
        )
        .order_by(Isochrone.id)
    )
    frame = frame_of(session, stmt, ("name", "minutes"))
    keep = ~(shapely.is_empty(frame.geometry.to_numpy()) | frame.geometry.isna().to_numpy())
    return frame[keep].reset_index(drop=True)


def _gaps(
    session: Session,
    principal: Principal,
    area: Area,
    run_id: int,
    category: str,
    circle_m: float,
) -> gpd.GeoDataFrame:
    """Return where the category's uncovered residents live, merged into one polygon."""
    rows = session.execute(
        select(func.ST_X(Building.anchor), func.ST_Y(Building.anchor), Building.residents)
        .join(CoverageResult, CoverageResult.building_id == Building.id)
        .outerjoin(Building.membership)
        .where(
            CoverageResult.run_id == run_id,
            CoverageResult.category == category,
            Building.residents > 0,
            ~_within({category: circle_m}),
            _building_scope(principal, area),
        )
    ).all()
    empty = gpd.GeoDataFrame({"residents": [], "buildings": []}, geometry=[], crs=4326)
    if not rows:
        return empty
    xy = np.asarray([(r[0], r[1]) for r in rows], dtype=np.float64)
    residents = np.asarray([r[2] for r in rows], dtype=np.float64)
    points = shapely.points(xy)
    epsg = metric_crs_for(points).to_epsg() or 0
    merged = gap_polygons(
        to_metric(points, epsg=epsg),
        {category: np.full(len(rows), np.inf)},
        circle_m={category: circle_m},
        residents=residents,
        crs=f"EPSG:{epsg}",
        cell_m=GAP_CELL_M,
        threads=1,
    ).to_crs(4326)
    return merged[["residents", "buildings", "geometry"]].reset_index(drop=True)
