"""Shared pieces of the map queries: the area a map covers, scopes, row-to-frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    select,
    true,
)
from sqlalchemy.orm import QueryableAttribute, Session

from gis.auth import Principal
from gis.divisions import Division
from gis.errors import InvalidInputError, NotFoundError
from gis.gridding.models import GridCell, GridPlan
from gis.layers.buildings import Building
from gis.layers.workflow import CLOCK_RUNNING_STATES, OPEN_STATES

DEFAULT_BAND: Final = (300, 500)
RECENTLY_CLOSED: Final = timedelta(days=7)
MAX_INCIDENTS: Final = 20_000
GAP_CELL_M: Final = 100.0
ISOCHRONE_SIMPLIFY_DEG: Final = 0.00003  # about 3 m: isochrones are embedded in the page
OPEN: Final = tuple(str(s) for s in OPEN_STATES)
RUNNING: Final = tuple(str(s) for s in CLOCK_RUNNING_STATES)


@dataclass(frozen=True)
class Area:
    """The place a map covers: one street, one district, or (both None) the whole scope."""

    street: str | None = None
    district: str | None = None

    @property
    def label(self) -> str:
        """Return a short description for titles."""
        return self.street or self.district or "all"

    def clause(
        self, street_code: ColumnElement[Any] | QueryableAttribute[Any]
    ) -> ColumnElement[bool]:
        """Return the SQL condition keeping rows of this area (by 9-digit street code)."""
        if self.street:
            return street_code == self.street
        if self.district:
            return street_code.startswith(self.district)
        return true()


# ------------------------------------------------------------------------------ helpers
def resolve_area(session: Session, *, street: str | None, district: str | None) -> Area:
    """Check a street (9 digits) or district (6 digits) code and return the `Area`.

    Raises
    ------
    InvalidInputError
        Both are given, or a code has the wrong form.
    NotFoundError
        The division does not exist.
    """
    if street and district:
        raise InvalidInputError("give a street or a district, not both")
    for code, length, level in ((street, 9, "street"), (district, 6, "district")):
        if code is None:
            continue
        if len(code) != length or not code.isdigit():
            raise InvalidInputError(f"a {level} code has {length} digits, got {code!r}")
        found = session.execute(
            select(Division.code).where(Division.code == code, Division.level == level)
        ).first()
        if found is None:
            raise NotFoundError(level, code)
    return Area(street=street, district=district)


def frame_of(session: Session, stmt: Select[Any], columns: Sequence[str]) -> gpd.GeoDataFrame:
    """Run `stmt` (its last column is WKB labelled ``wkb``) into an EPSG:4326 GeoDataFrame."""
    rows = session.execute(stmt).all()
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=4326)
    data = pd.DataFrame([tuple(r) for r in rows], columns=[*columns, "wkb"])
    geoms = shapely.from_wkb(data.pop("wkb").to_numpy())
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


def area_title(session: Session, area: Area) -> str:
    """Return "name (code)" of the area's division, for map titles."""
    code = area.street or area.district
    if code is None:
        return "all streets in scope"
    name = session.execute(select(Division.name).where(Division.code == code)).scalar_one()
    return f"{name} ({code})"


def active_cells() -> Any:
    """Return ``grid_cell JOIN grid_plan`` limited to the plans that are active."""
    return GridCell.__table__.join(
        GridPlan.__table__, and_(GridPlan.id == GridCell.plan_id, GridPlan.status == "active")
    )


def cell_scope(principal: Principal, area: Area) -> ColumnElement[bool]:
    """Return the condition keeping `active_cells` rows in the area and the scope."""
    street = GridPlan.__table__.c.street_code
    return and_(area.clause(street), principal.scope_clause(street, GridCell.__table__.c.code))


def any_building(session: Session, area: Area, condition: ColumnElement[bool]) -> bool:
    """Return True when a building of the area meets `condition` (e.g. is synthetic)."""
    stmt = select(
        exists(
            select(Building.id)
            .outerjoin(Building.membership)
            .where(condition, area.clause(Building.street_code))
        )
    )
    return bool(session.execute(stmt).scalar())
