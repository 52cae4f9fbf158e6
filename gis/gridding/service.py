"""Grid-plan use cases: edit, roll back, validate and activate a street's plan.

Each edit loads the base version's cells into the street's Gauss-Krüger zone, applies a pure
edit from ``edits.py`` (or ``replan.py`` for a rebalance), recomputes the changed cells'
figures in PostGIS, gives new cells new numbers (never reusing a removed one) and saves the
result as the next version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.crs import gauss_kruger_epsg
from gis.divisions import Division
from gis.errors import ConflictError, InvalidInputError
from gis.gridding import edits
from gis.gridding.codes import next_codes, prefix_and_width
from gis.gridding.metrics import cell_figures as metric_figures
from gis.gridding.models import GridPlan
from gis.gridding.replan import Replanned, rebalance_cells
from gis.gridding.store import (
    get_plan,
    get_plan_version,
    latest_plan,
    load_cells,
    save_plan,
    set_active,
)
from gis.gridding.validate import ValidationReport, validate_plan
from gis.layers.buildings import Building
from gis.layers.membership import refresh_membership

EditKind = Literal["split", "merge", "move_building", "redraw_edge", "rebalance"]
EDIT_KINDS: tuple[str, ...] = ("split", "merge", "move_building", "redraw_edge", "rebalance")


@dataclass(frozen=True)
class Edit:
    """One planner edit; geometry arguments are EPSG:4326 lon/lat."""

    kind: EditKind
    codes: list[str] = field(default_factory=list)
    line: LineString | None = None
    building_id: int | None = None
    to_code: str | None = None


def _street_geometry(session: Session, street_code: str) -> BaseGeometry:
    wkb = session.execute(
        select(func.ST_AsBinary(Division.geom)).where(Division.code == street_code)
    ).scalar_one()
    geom: BaseGeometry = shapely.from_wkb(wkb)
    return geom


def _metric_epsg(session: Session, street_code: str) -> int:
    lon = session.execute(
        select(func.ST_X(func.ST_Centroid(Division.geom))).where(Division.code == street_code)
    ).scalar_one()
    return gauss_kruger_epsg(float(lon))


def cell_figures(session: Session, geoms: list[Polygon], epsg: int) -> gpd.GeoDataFrame:
    """Return households/residents/dwellings (buildings by anchor), area and compactness.

    ``geoms`` are the few cells an edit changed, in the metric CRS ``epsg``.
    """
    frame = gpd.GeoDataFrame(geometry=geoms, crs=epsg).to_crs(4326)
    metric = np.asarray(geoms, dtype=object)
    area, perimeter = shapely.area(metric), shapely.length(metric)
    frame["area_m2"] = area
    frame["compactness"] = np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, 0.0)
    sums = []
    for wkb in shapely.to_wkb(frame.geometry.to_numpy()):  # one or two cells per edit
        cell = func.ST_GeomFromWKB(wkb, 4326)
        sums.append(
            session.execute(
                select(
                    func.coalesce(func.sum(Building.households), 0),
                    func.coalesce(func.sum(Building.residents), 0),
                    func.coalesce(func.sum(Building.dwellings), 0),
                ).where(func.ST_Intersects(cell, Building.anchor))
            ).one()
        )
    totals = np.asarray(sums, dtype=np.int64).reshape(-1, 3)
    frame["households"], frame["residents"], frame["dwellings"] = totals.T
    return frame


def _road_share(
    session: Session, street_code: str, geoms: list[Polygon], epsg: int
) -> NDArray[np.float64]:
    """Share of each changed cell's boundary on roads or the street edge."""
    from gis.gridding.metrics import road_share
    from gis.gridding.roads import street_roads

    street_4326 = _street_geometry(session, street_code)
    street = gpd.GeoSeries([street_4326], crs=4326).to_crs(epsg).iloc[0]
    roads, _ = street_roads(session, street_4326, epsg=epsg)
    return np.round(road_share(np.asarray(geoms, dtype=object), roads, street), 4)


def _rebalance(
    session: Session, base: GridPlan, cells: gpd.GeoDataFrame, epsg: int
) -> tuple[Replanned, gpd.GeoDataFrame]:
    """Re-cut the out-of-band cells and their neighbours; recount every cell's figures."""
    from gis.gridding.generate import load_buildings
    from gis.gridding.roads import street_roads

    street_4326 = _street_geometry(session, base.street_code)
    street = gpd.GeoSeries([street_4326], crs=4326).to_crs(epsg).iloc[0]
    roads, _ = street_roads(session, street_4326, epsg=epsg)
    buildings = load_buildings(session, base.street_code, epsg=epsg)
    band = tuple((base.params or {}).get("band", (300, 500)))
    geoms = cells.geometry.to_numpy()
    replanned = rebalance_cells(
        cells["code"].tolist(),
        geoms,
        cells["kind"].tolist(),
        street,
        roads,
        buildings,
        band=(int(band[0]), int(band[1])),
        seed=int((base.params or {}).get("seed", 0)),
    )
    counts = metric_figures(
        geoms, buildings.anchors, buildings.households, buildings.residents, buildings.dwellings
    )[["households", "residents", "dwellings"]]
    counts["code"] = cells["code"].to_numpy()
    return replanned, counts


def edit_plan(
    session: Session,
    plan_id: int,
    edit: Edit,
    *,
    principal: Principal,
    reason: str,
    base_version: int,
) -> GridPlan:
    """Apply ``edit`` to plan ``plan_id`` and save the result as the street's next version.

    ``base_version`` is the version the planner looked at; if anyone saved since, the edit is
    refused with ConflictError instead of silently overwriting their work.
    """
    principal.require(Permission.WRITE_GRIDS)
    base = get_plan(session, plan_id)
    if base.version != base_version:
        raise ConflictError(
            f"you edited version {base_version} but plan {plan_id} is version {base.version}"
        )
    epsg = _metric_epsg(session, base.street_code)
    cells = load_cells(session, plan_id).to_crs(epsg)
    geoms: dict[str, Polygon] = dict(zip(cells["code"], cells.geometry, strict=True))
    used = {k: int(v) for k, v in (base.used_numbers or {}).items()}
    changed: dict[str, Polygon] = {}
    removed: list[str] = []
    origin: dict[str, str] = {}  # new code -> the cell it was cut from
    report: dict[str, Any] = {"edit": edit.kind, "codes": edit.codes}
    refreshed: gpd.GeoDataFrame | None = None

    def metric(line: LineString) -> LineString:
        projected: LineString = gpd.GeoSeries([line], crs=4326).to_crs(epsg).iloc[0]
        return projected

    if edit.kind == "split":
        if len(edit.codes) != 1 or edit.line is None:
            raise InvalidInputError("split needs one cell code and a line")
        code = edit.codes[0]
        kept, new = edits.split_cell(geoms, code, metric(edit.line))
        prefix, width = prefix_and_width(code)
        (new_code,) = next_codes(used, prefix, 1, width=width)
        changed = {code: kept, new_code: new}
        origin[new_code] = code
    elif edit.kind == "merge":
        merged = edits.merge_cells(geoms, edit.codes)
        changed = {edit.codes[0]: merged}
        removed = edit.codes[1:]
    elif edit.kind == "move_building":
        if edit.building_id is None or edit.to_code is None:
            raise InvalidInputError("move_building needs building_id and to_code")
        footprint = session.execute(
            select(func.ST_AsBinary(Building.geom)).where(Building.id == edit.building_id)
        ).scalar_one_or_none()
        if footprint is None:
            raise InvalidInputError(f"building {edit.building_id} does not exist")
        plot = (
            gpd.GeoSeries([shapely.from_wkb(footprint)], crs=4326).to_crs(epsg).iloc[0].buffer(2.0)
        )
        source = next(
            (c for c, g in geoms.items() if g.intersection(plot).area > plot.area / 2), None
        )
        if source is None:
            raise InvalidInputError(f"building {edit.building_id} is not in this plan")
        a, b = edits.move_area(geoms, plot, from_code=source, to_code=edit.to_code)
        changed = {source: a, edit.to_code: b}
    elif edit.kind == "redraw_edge":
        if len(edit.codes) != 2 or edit.line is None:
            raise InvalidInputError("redraw_edge needs two cell codes and a line")
        a, b = edits.redraw_edge(geoms, edit.codes[0], edit.codes[1], metric(edit.line))
        changed = dict(zip(edit.codes, (a, b), strict=True))
    elif edit.kind == "rebalance":
        replanned, refreshed = _rebalance(session, base, cells, epsg)
        changed = dict(replanned.changed)
        if replanned.new:
            prefix, width = prefix_and_width(replanned.pool[0])
            for code, geom in zip(
                next_codes(used, prefix, len(replanned.new), width=width),
                replanned.new,
                strict=True,
            ):
                changed[code] = geom
                origin[code] = replanned.pool[0]
        removed = replanned.retired
        report.update(
            out_of_band=replanned.out_of_band,
            pool=replanned.pool,
            removed=removed,
            cells_changed=len(changed) + len(removed),
        )
    else:
        raise InvalidInputError(f"unknown edit {edit.kind!r}; edits are {', '.join(EDIT_KINDS)}")

    figures = cell_figures(session, list(changed.values()), epsg)
    figures["code"] = list(changed)
    figures["road_share"] = _road_share(session, base.street_code, list(changed.values()), epsg)
    kept_rows = cells[~cells["code"].isin([*changed, *removed])]
    if refreshed is not None:  # households may have changed anywhere: recount kept cells too
        kept_rows = kept_rows.drop(columns=["households", "residents", "dwellings"]).merge(
            refreshed, on="code", how="left"
        )
    kept_rows = kept_rows.to_crs(4326)
    # A new cell inherits its community and worker from the cell it was cut from.
    for column in ("community_code", "kind", "worker_id"):
        old = dict(zip(cells["code"], cells[column], strict=True))
        figures[column] = [old.get(code, old.get(origin.get(code, code))) for code in changed]
    low, high = (base.params or {}).get("band", (300, 500))
    figures["in_band"] = (figures["households"] >= low) & (figures["households"] <= high)
    if (base.params or {}).get("method") in ("square", "hexagon"):
        figures["in_band"] = None
    elif refreshed is not None:
        kept_rows["in_band"] = (kept_rows["households"] >= low) & (kept_rows["households"] <= high)
    new_cells = gpd.GeoDataFrame(
        pd.concat([kept_rows.drop(columns=["id"]), figures], ignore_index=True), crs=4326
    ).sort_values("code")
    return save_plan(
        session,
        street_code=base.street_code,
        cells=new_cells,
        method=f"edit:{edit.kind}",
        actor=principal.username,
        reason=reason,
        params=base.params,
        report={**report, "changed": list(changed)},
        used_numbers=used,
        base_version=base_version,
    )


def rollback(
    session: Session,
    street_code: str,
    version: int,
    *,
    principal: Principal,
    reason: str,
    base_version: int,
) -> GridPlan:
    """Save the cells of an earlier ``version`` as the street's next version (a new draft)."""
    principal.require(Permission.WRITE_GRIDS)
    old = get_plan_version(session, street_code, version)
    newest = latest_plan(session, street_code)
    used = dict(newest.used_numbers if newest else old.used_numbers)
    cells = load_cells(session, old.id).drop(columns=["id"])
    return save_plan(
        session,
        street_code=street_code,
        cells=cells,
        method=f"rollback:{version}",
        actor=principal.username,
        reason=reason,
        params=old.params,
        report={"rollback_to": version},
        used_numbers=used,
        base_version=base_version,
    )


def validate(session: Session, plan_id: int) -> ValidationReport:
    """Check a plan against its street, communities and buildings (see ``validate_plan``)."""
    plan = get_plan(session, plan_id)
    epsg = _metric_epsg(session, plan.street_code)
    cells = load_cells(session, plan_id).to_crs(epsg)
    street = gpd.GeoSeries([_street_geometry(session, plan.street_code)], crs=4326).to_crs(epsg)
    communities = session.execute(
        select(Division.code, func.ST_AsBinary(Division.geom)).where(
            Division.parent_code == plan.street_code, Division.level == "community"
        )
    ).all()
    comm = gpd.GeoSeries(
        shapely.from_wkb([c[1] for c in communities]) if communities else [], crs=4326
    ).to_crs(epsg)
    buildings = session.execute(
        select(Building.id, func.ST_AsBinary(Building.geom))
        .join(Building.membership)
        .where(Building.street_code == plan.street_code)
    ).all()
    footprints = gpd.GeoSeries(
        shapely.from_wkb([b[1] for b in buildings]) if buildings else [], crs=4326
    ).to_crs(epsg)
    band = tuple((plan.params or {}).get("band", (300, 500)))
    return validate_plan(
        cells["code"].to_numpy(dtype=str),
        cells.geometry.to_numpy(),
        street.iloc[0],
        households=cells["households"].to_numpy(),
        dedicated=(cells["kind"] == "dedicated").to_numpy(),
        band=(int(band[0]), int(band[1])),
        communities=comm.to_numpy() if len(comm) else None,
        community_codes=[c[0] for c in communities] or None,
        buildings=footprints.to_numpy() if len(footprints) else None,
        building_ids=np.asarray([b[0] for b in buildings], dtype=np.int64),
    )


def activate(session: Session, plan_id: int, *, principal: Principal) -> ValidationReport:
    """Validate and activate a plan; refresh every layer's grid membership for its street."""
    principal.require(Permission.WRITE_GRIDS)
    report = validate(session, plan_id)
    if not report.ok:
        raise InvalidInputError(
            f"plan {plan_id} cannot be activated: " + "; ".join(report.errors[:20])
        )
    plan = get_plan(session, plan_id)
    set_active(session, plan, actor=principal.username)
    refresh_membership(session, street_codes=[plan.street_code])
    return report
