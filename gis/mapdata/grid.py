"""The grid plan map's data: active cells with their load, street and community outlines."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    select,
)
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.divisions import Division
from gis.gridding.models import GridCell, GridPlan
from gis.layers.buildings import Building
from gis.mapdata.common import (
    DEFAULT_BAND,
    Area,
    active_cells,
    any_building,
    area_title,
    cell_scope,
    frame_of,
    resolve_area,
)
from gis.users import AppUser


@dataclass(frozen=True)
class GridMapData:
    """The grid plan map's data: active cells, street and community outlines."""

    area: Area
    title: str
    cells: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    band: tuple[int, int] = DEFAULT_BAND
    synthetic: bool = False
    buildings_osm: bool = False


# ---------------------------------------------------------------------------- grid map
def grid_map_data(
    session: Session,
    principal: Principal,
    *,
    street: str | None = None,
    district: str | None = None,
) -> GridMapData:
    """Return the active grid cells of a street or district that `principal` may see.

    Parameters
    ----------
    session : Session
        Database session.
    principal : Principal
        Needs READ_GRIDS; a grid worker gets only their cells.
    street, district : str, optional
        9-digit street or 6-digit district code; neither means every street in scope.

    Returns
    -------
    GridMapData
        Cells (``code``, ``street_code``, ``community_code``, ``worker``, ``households``,
        ``residents``, ``area_m2``, ``compactness``), street and community outlines
        (``code``, ``name``), the plans' household band and whether the counts are synthetic.
    """
    principal.require(Permission.READ_GRIDS)
    area = resolve_area(session, street=street, district=district)
    worker = func.coalesce(AppUser.display_name, AppUser.username)
    cells = frame_of(
        session,
        select(
            GridCell.code,
            GridPlan.street_code,
            GridCell.community_code,
            worker,
            GridCell.households,
            GridCell.residents,
            GridCell.area_m2,
            GridCell.compactness,
            func.ST_AsBinary(GridCell.geom).label("wkb"),
        )
        .select_from(active_cells())
        .outerjoin(AppUser, AppUser.id == GridCell.worker_id)
        .where(cell_scope(principal, area))
        .order_by(GridCell.code),
        (
            "code",
            "street_code",
            "community_code",
            "worker",
            "households",
            "residents",
            "area_m2",
            "compactness",
        ),
    )
    for column in ("households", "residents", "area_m2", "compactness"):
        cells[column] = pd.to_numeric(cells[column]).astype(np.float64)  # None -> NaN
    streets_shown = _streets_of(session, principal, area, cells)
    streets = _divisions(session, Division.code.in_(streets_shown))
    communities = _divisions(
        session, and_(Division.level == "community", Division.parent_code.in_(streets_shown))
    )
    if not principal.unrestricted and len(cells):
        # A scoped reader sees the outlines of their own communities only.
        communities = communities[communities["code"].isin(cells["community_code"].dropna())]
    bands = session.execute(
        select(GridPlan.params["band"])
        .where(GridPlan.status == "active", area.clause(GridPlan.street_code))
        .limit(1)
    ).scalar_one_or_none()
    band = (int(bands[0]), int(bands[1])) if isinstance(bands, list) and len(bands) == 2 else None
    return GridMapData(
        area=area,
        title=f"Grid plan · {area_title(session, area)}",
        cells=cells,
        streets=streets.reset_index(drop=True),
        communities=communities.reset_index(drop=True),
        band=band or DEFAULT_BAND,
        synthetic=any_building(session, area, Building.synthetic.is_(True)),
        buildings_osm=any_building(session, area, Building.osm_tags.is_not(None)),
    )


def _streets_of(
    session: Session, principal: Principal, area: Area, cells: gpd.GeoDataFrame
) -> list[str]:
    """Return the street codes whose outline the map draws."""
    if area.street:
        return [area.street]
    if not principal.unrestricted:
        return sorted(set(cells["street_code"].dropna()))
    stmt = select(Division.code).where(Division.level == "street", area.clause(Division.code))
    return list(session.execute(stmt).scalars())


def _divisions(session: Session, condition: ColumnElement[bool]) -> gpd.GeoDataFrame:
    stmt = (
        select(Division.code, Division.name, func.ST_AsBinary(Division.geom).label("wkb"))
        .where(condition)
        .order_by(Division.code)
    )
    return frame_of(session, stmt, ("code", "name"))
