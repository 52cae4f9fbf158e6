"""What a coverage run reads from PostGIS: buildings with residents, and facilities.

Buildings come with their anchor point (entrance or point on surface), residents (the
building's own count, or the register's people), dwellings, and the grid cell, community and
street they belong to. One set-based query each; arrays out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Integer, String, cast, func, or_, select
from sqlalchemy.orm import Session

from gis.divisions import Division
from gis.gridding.models import GridCell
from gis.layers.buildings import Building
from gis.layers.facilities import Facility
from gis.layers.people import Person


class PopulationSource(StrEnum):
    """Where residents per building come from."""

    BUILDING = "building"  # building.residents (aggregated counts, e.g. from a census)
    REGISTER = "register"  # number of person rows of the building (实有人口 register)


@dataclass(frozen=True)
class BuildingInputs:
    """Buildings of a run, in ascending id order (EPSG:4326 anchor points)."""

    ids: NDArray[np.int64]
    points: NDArray[np.object_]
    residents: NDArray[np.float64]
    dwellings: NDArray[np.float64]
    grid_code: NDArray[np.object_]
    community_code: NDArray[np.object_]
    street_code: NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class FacilityInputs:
    """Facilities of a run, in ascending id order (EPSG:4326 points)."""

    ids: NDArray[np.int64]
    category: NDArray[np.object_]
    points: NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.ids)

    def of(self, category: str) -> NDArray[np.int64]:
        """Return the positions of the facilities of ``category``."""
        return np.flatnonzero(self.category == category).astype(np.int64)


def load_buildings(
    session: Session,
    *,
    population: PopulationSource = PopulationSource.BUILDING,
    street_codes: Sequence[str] | None = None,
) -> BuildingInputs:
    """Return every building (optionally of some streets) with residents and its areas.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The database session.
    population : PopulationSource
        ``building``: the building's ``residents`` column; ``register``: its person rows.
    street_codes : sequence of str, optional
        Keep buildings whose street code starts with one of these (6- or 9-digit codes).

    Notes
    -----
    The community is the grid cell's community code or, for buildings in no cell, the
    community division holding the anchor (the lowest code on a border).
    """
    community = (
        select(Division.code)
        .where(
            Division.level == "community",
            func.ST_Intersects(Division.geom, Building.anchor),
        )
        .order_by(Division.code)
        .limit(1)
        .correlate(Building)
        .scalar_subquery()
    )
    if population is PopulationSource.REGISTER:
        people = (
            select(Person.building_id, func.count().label("n"))
            .where(Person.building_id.is_not(None))
            .group_by(Person.building_id)
            .subquery()
        )
        residents: Any = func.coalesce(people.c.n, 0)
    else:
        people = None
        residents = Building.residents
    stmt = (
        select(
            Building.id,
            func.ST_AsBinary(Building.anchor),
            cast(residents, Integer),
            Building.dwellings,
            Building.grid_code,
            func.coalesce(GridCell.community_code, cast(community, String)),
            Building.street_code,
        )
        .select_from(Building)
        .outerjoin(Building.membership)
        .outerjoin(GridCell, GridCell.id == Building.grid_cell_id)
        .order_by(Building.id)
    )
    if people is not None:
        stmt = stmt.outerjoin(people, people.c.building_id == Building.id)
    if street_codes:
        stmt = stmt.where(or_(*(Building.street_code.startswith(c) for c in street_codes)))
    rows = session.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    return BuildingInputs(
        ids=np.asarray(columns[0], dtype=np.int64),
        points=np.asarray(shapely.from_wkb(np.asarray(columns[1], dtype=object)), dtype=object),
        residents=np.asarray(columns[2], dtype=np.float64),
        dwellings=np.asarray(columns[3], dtype=np.float64),
        grid_code=np.asarray(columns[4], dtype=object),
        community_code=np.asarray(columns[5], dtype=object),
        street_code=np.asarray(columns[6], dtype=object),
    )


def load_facilities(session: Session, categories: Sequence[str]) -> FacilityInputs:
    """Return the facilities of the given categories (points; polygons are not stored)."""
    rows = session.execute(
        select(Facility.id, Facility.category, func.ST_AsBinary(Facility.geom))
        .where(Facility.category.in_(list(categories)))
        .order_by(Facility.id)
    ).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 3
    return FacilityInputs(
        ids=np.asarray(columns[0], dtype=np.int64),
        category=np.asarray(columns[1], dtype=object),
        points=np.asarray(shapely.from_wkb(np.asarray(columns[2], dtype=object)), dtype=object),
    )


def input_version(buildings: BuildingInputs, facilities: FacilityInputs) -> str:
    """Return a hash of what a run read: building ids, points, residents, dwellings, facilities.

    Coordinates count to 1e-7 degrees (about 1 cm), so the hash follows real moves only.
    """
    digest = hashlib.sha256()
    for ids, points in ((buildings.ids, buildings.points), (facilities.ids, facilities.points)):
        digest.update(ids.tobytes())
        xy = shapely.get_coordinates(points) if len(points) else np.empty((0, 2))
        digest.update(np.round(xy * 1e7).astype(np.int64).tobytes())
    digest.update(buildings.residents.tobytes())
    digest.update(buildings.dwellings.tobytes())
    digest.update("\x1f".join(str(c) for c in facilities.category).encode())
    # the areas decide the statistics, so a moved grid boundary is a new input
    for labels in (buildings.grid_code, buildings.community_code, buildings.street_code):
        digest.update("\x1f".join("" if c is None else str(c) for c in labels).encode())
    return digest.hexdigest()[:16]
