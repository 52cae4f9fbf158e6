"""The registry of collections served through OGC API Features and vector tiles.

A `Collection` says which rows and columns a layer exposes, which permission reading it needs,
how its rows are scoped to a principal, and its tile limits. Personal layers (``person``,
``household``, ``dwelling``) are refused at registration: nothing here can leak a resident.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache, update_wrapper
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    FromClause,
    Integer,
    Numeric,
    Select,
    and_,
    cast,
    exists,
    select,
    true,
)
from sqlalchemy.orm import QueryableAttribute, Session

from gis.auth import Permission, PermissionDeniedError, Principal
from gis.coverage.store import CoverageResult, Isochrone
from gis.divisions import Division
from gis.errors import NotFoundError
from gis.gridding.models import GridCell, GridPlan
from gis.layers.buildings import Building
from gis.layers.components import Component
from gis.layers.facilities import Facility
from gis.layers.incidents import Incident

#: A column of a collection: a mapped attribute or any SQL column expression.
SqlColumn = ColumnElement[Any] | QueryableAttribute[Any]

#: Tables holding data about identifiable people; a collection may never read them.
PERSONAL_TABLES: Final = frozenset({"person", "household", "dwelling", "app_user", "api_token"})


class PropertyKind(StrEnum):
    """The JSON Schema type of a property (what CQL2 literals must match)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "date-time"
    DATE = "date"


def property_kind(column: SqlColumn) -> PropertyKind:
    """Return the kind of a column from its SQL type."""
    sql_type = column.type
    if isinstance(sql_type, Boolean):
        return PropertyKind.BOOLEAN
    if isinstance(sql_type, Integer | BigInteger):
        return PropertyKind.INTEGER
    if isinstance(sql_type, Float | Numeric):
        return PropertyKind.NUMBER
    if isinstance(sql_type, DateTime):
        return PropertyKind.DATETIME
    if isinstance(sql_type, Date):
        return PropertyKind.DATE
    return PropertyKind.STRING


@dataclass(frozen=True, slots=True)
class Collection:
    """One exposed layer.

    Attributes
    ----------
    id, title, description
        Identity shown in ``/collections``.
    source
        Table or join the rows come from.
    id_column
        Integer feature id (stable, unique; the keyset for paging).
    geom
        EPSG:4326 geometry column.
    geometry_type
        GeoJSON geometry type of every row (``Geometry`` when mixed).
    properties
        Property name -> column; these are also the queryables.
    permission
        What the principal must be granted to read the collection at all.
    street_code, grid_code
        Columns `Principal.scope_clause` filters on; ``scoped=False`` for public reference
        layers (divisions) that every reader sees whole.
    where
        Rows that belong to the collection (e.g. only the cells of active plans).
    datetime_property
        Property the ``datetime`` parameter filters on (None: every feature matches).
    min_zoom, max_zoom, tile_feature_cap
        Vector tile guard rails: no tile below ``min_zoom``; at most the cap per tile.
    tile_exclude
        Properties left out of tiles (long texts that bloat them).
    hide_when_empty
        List the collection only when it has rows (results of runs not made yet).
    """

    id: str
    title: str
    description: str
    source: FromClause
    id_column: SqlColumn
    geom: SqlColumn
    geometry_type: str
    properties: Mapping[str, SqlColumn]
    permission: Permission
    street_code: SqlColumn | None = None
    grid_code: SqlColumn | None = None
    scoped: bool = True
    where: ColumnElement[bool] | None = None
    datetime_property: str | None = None
    min_zoom: int = 0
    max_zoom: int = 22
    tile_feature_cap: int = 10_000
    tile_exclude: frozenset[str] = field(default_factory=frozenset)
    hide_when_empty: bool = False
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        touched = {c.table.name for c in self.source.columns if hasattr(c, "table")}
        leaked = touched & PERSONAL_TABLES
        if leaked:
            raise ValueError(f"collection {self.id!r} reads personal table(s) {sorted(leaked)}")
        if self.scoped and self.street_code is None:
            raise ValueError(f"scoped collection {self.id!r} needs a street_code column")
        if self.datetime_property and self.datetime_property not in self.properties:
            raise ValueError(f"{self.id}: datetime property {self.datetime_property} not exposed")

    def kinds(self) -> dict[str, PropertyKind]:
        """Return property name -> kind."""
        return {name: property_kind(col) for name, col in self.properties.items()}

    def readable_by(self, principal: Principal) -> bool:
        """Return True when the principal's role may read this collection."""
        return principal.can(self.permission)

    def require_readable(self, principal: Principal) -> None:
        """Raise PermissionDeniedError unless the principal may read this collection."""
        if not self.readable_by(principal):
            raise PermissionDeniedError(
                f"{principal.username} ({principal.role}) may not read collection {self.id!r}"
            )

    def conditions(self, principal: Principal) -> list[ColumnElement[bool]]:
        """Return the membership and scope conditions every query on this collection applies."""
        conditions: list[ColumnElement[bool]] = []
        if self.where is not None:
            conditions.append(self.where)
        if self.scoped:
            assert self.street_code is not None  # checked in __post_init__
            conditions.append(principal.scope_clause(self.street_code, self.grid_code))
        return conditions

    def base_select(self, principal: Principal, *columns: ColumnElement[Any]) -> Select[Any]:
        """Return ``SELECT columns FROM source WHERE <membership AND scope>``."""
        stmt = select(*columns).select_from(self.source)
        conditions = self.conditions(principal)
        return stmt.where(and_(*conditions)) if conditions else stmt.where(true())


def _membership_properties(model: Any) -> dict[str, SqlColumn]:
    return {
        "street_code": model.street_code,
        "grid_code": model.grid_code,
        "synthetic": model.synthetic,
    }


def _divisions(level: str, *, id_: str, title: str, min_zoom: int) -> Collection:
    return Collection(
        id=id_,
        title=title,
        description=f"Administrative {level} boundaries (code, name, parent code).",
        source=Division.__table__,
        # Codes are 9 or 12 digits without a leading zero: as integers they stay unique.
        id_column=cast(Division.code, BigInteger),
        geom=Division.geom,
        geometry_type="MultiPolygon",
        properties={
            "code": Division.code,
            "name": Division.name,
            "parent_code": Division.parent_code,
            "pinyin": Division.pinyin,
            "synthetic": Division.synthetic,
        },
        permission=Permission.READ_DIVISIONS,
        scoped=False,  # public reference boundaries, as on /divisions
        where=Division.level == level,
        min_zoom=min_zoom,
        keywords=("division", level),
    )


def _build() -> dict[str, Collection]:
    cells = GridCell.__table__.join(
        GridPlan.__table__, and_(GridCell.plan_id == GridPlan.id, GridPlan.status == "active")
    )
    results = CoverageResult.__table__.join(
        Building.with_membership(), CoverageResult.building_id == Building.id
    )
    isochrones = Isochrone.__table__.join(
        Facility.with_membership(), Isochrone.facility_id == Facility.id
    )
    collections = [
        _divisions("street", id_="streets", title="Streets (街道/乡镇)", min_zoom=6),
        _divisions("community", id_="communities", title="Communities (社区/村)", min_zoom=9),
        Collection(
            id="grid-cells",
            title="Grid cells of active plans (网格)",
            description="The cells of every street's active grid plan, with their load.",
            source=cells,
            id_column=GridCell.id,
            geom=GridCell.geom,
            geometry_type="Polygon",
            properties={
                "code": GridCell.code,
                "street_code": GridPlan.street_code,
                "community_code": GridCell.community_code,
                "kind": GridCell.kind,
                "households": GridCell.households,
                "residents": GridCell.residents,
                "dwellings": GridCell.dwellings,
                "area_m2": GridCell.area_m2,
                "compactness": GridCell.compactness,
                "plan_id": GridCell.plan_id,
                "plan_version": GridPlan.version,
            },
            permission=Permission.READ_GRIDS,
            street_code=GridPlan.street_code,
            grid_code=GridCell.code,
            min_zoom=10,
            keywords=("grid",),
        ),
        Collection(
            id="buildings",
            title="Buildings",
            description="Building footprints with dwelling, household and resident counts.",
            source=Building.with_membership(),
            id_column=Building.id,
            geom=Building.geom,
            geometry_type="MultiPolygon",
            properties={
                "code": Building.code,
                "name": Building.name,
                "address": Building.address,
                "floors": Building.floors,
                "dwellings": Building.dwellings,
                "households": Building.households,
                "residents": Building.residents,
                "footprint_m2": Building.footprint_m2,
                **_membership_properties(Building),
            },
            permission=Permission.READ_LAYERS,
            street_code=Building.street_code,
            grid_code=Building.grid_code,
            min_zoom=13,
            tile_feature_cap=20_000,
            keywords=("building",),
        ),
        Collection(
            id="facilities",
            title="Facilities",
            description="Service facilities (schools, clinics, markets...) by category.",
            source=Facility.with_membership(),
            id_column=Facility.id,
            geom=Facility.geom,
            geometry_type="Point",
            properties={
                "category": Facility.category,
                "name": Facility.name,
                "address": Facility.address,
                **_membership_properties(Facility),
            },
            permission=Permission.READ_LAYERS,
            street_code=Facility.street_code,
            grid_code=Facility.grid_code,
            min_zoom=10,
            keywords=("facility",),
        ),
        Collection(
            id="components",
            title="Urban components (部件)",
            description="Street furniture and utilities coded per GB/T 30428.2.",
            source=Component.with_membership(),
            id_column=Component.id,
            geom=Component.geom,
            geometry_type="Geometry",
            properties={
                "obj_id": Component.obj_id,
                "major_code": Component.major_code,
                "minor_code": Component.minor_code,
                "name": Component.name,
                "state": Component.state,
                "dept_owner": Component.dept_owner,
                "dept_maintainer": Component.dept_maintainer,
                "initial_date": Component.initial_date,
                "change_date": Component.change_date,
                **_membership_properties(Component),
            },
            permission=Permission.READ_LAYERS,
            street_code=Component.street_code,
            grid_code=Component.grid_code,
            min_zoom=14,
            keywords=("component",),
        ),
        Collection(
            id="incidents",
            title="Incidents (事件/部件案件)",
            description="Reported cases with their state and deadline (no reporter identity).",
            source=Incident.with_membership(),
            id_column=Incident.id,
            geom=Incident.geom,
            geometry_type="Point",
            properties={
                "kind": Incident.kind,
                "major_code": Incident.major_code,
                "minor_code": Incident.minor_code,
                "status": Incident.status,
                "urgent": Incident.urgent,
                "description": Incident.description,
                "address": Incident.address,
                "channel": Incident.channel,
                "department": Incident.department,
                "reported_at": Incident.reported_at,
                "deadline_at": Incident.deadline_at,
                "closed_at": Incident.closed_at,
                **_membership_properties(Incident),
            },
            permission=Permission.READ_INCIDENTS,
            street_code=Incident.street_code,
            grid_code=Incident.grid_code,
            datetime_property="reported_at",
            min_zoom=9,
            tile_exclude=frozenset({"description", "address"}),
            keywords=("incident",),
        ),
        Collection(
            id="coverage-results",
            title="Coverage results per building",
            description="Walking distance from each building to the nearest facility per category"
            " and run, located at the building's anchor point.",
            source=results,
            id_column=CoverageResult.id,
            geom=Building.anchor,
            geometry_type="Point",
            properties={
                "run_id": CoverageResult.run_id,
                "building_id": CoverageResult.building_id,
                "category": CoverageResult.category,
                "walk_m": CoverageResult.walk_m,
                "walk_min": CoverageResult.walk_min,
                "euclid_m": CoverageResult.euclid_m,
                "facility_id": CoverageResult.facility_id,
                "street_code": Building.street_code,
                "grid_code": Building.grid_code,
            },
            permission=Permission.READ_COVERAGE,
            street_code=Building.street_code,
            grid_code=Building.grid_code,
            min_zoom=13,
            hide_when_empty=True,
            keywords=("coverage",),
        ),
        Collection(
            id="isochrones",
            title="Isochrones",
            description="Area reached on foot from each facility within the run's minutes.",
            source=isochrones,
            id_column=Isochrone.id,
            geom=Isochrone.geom,
            geometry_type="MultiPolygon",
            properties={
                "run_id": Isochrone.run_id,
                "facility_id": Isochrone.facility_id,
                "category": Isochrone.category,
                "minutes": Isochrone.minutes,
                "method": Isochrone.method,
                "street_code": Facility.street_code,
            },
            permission=Permission.READ_COVERAGE,
            street_code=Facility.street_code,
            grid_code=Facility.grid_code,
            min_zoom=10,
            hide_when_empty=True,
            keywords=("coverage", "isochrone"),
        ),
    ]
    return {c.id: c for c in collections}


P = ParamSpec("P")
T = TypeVar("T")

#: Every exposed collection by id, in listing order.
COLLECTIONS: Final[Mapping[str, Collection]] = _build()


def per_collection(
    build: Callable[Concatenate[Collection, P], T],
) -> Callable[Concatenate[Collection, P], T]:
    """Wrap ``build(collection, *key)`` so it runs once per registered collection and key.

    For SQL built from a collection's definition on every request (the items' feature
    expression, the tile query): building and cache-keying SQLAlchemy constructs cost more
    Python time than the rest of those requests. A collection that is not the one registered
    under its id (a test's own) is built each call, and so is a call with keyword arguments.
    The key arguments must be hashable.
    """
    positional: Callable[..., T] = build  # the cache sees the key as plain positional values

    @lru_cache(maxsize=1024)
    def registered(collection_id: str, *args: Any) -> T:
        return positional(COLLECTIONS[collection_id], *args)

    def get(collection: Collection, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if not kwargs and COLLECTIONS.get(collection.id) is collection:
            return registered(collection.id, *args)
        return build(collection, *args, **kwargs)

    update_wrapper(get, build)  # name and docstring of ``build``
    return get


def get_collection(collection_id: str) -> Collection:
    """Return the collection ``collection_id`` or raise NotFoundError."""
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFoundError("collection", collection_id) from None


def has_rows(session: Session, collection: Collection) -> bool:
    """Return True when the collection's source holds at least one member row (any scope)."""
    inner = select(collection.id_column).select_from(collection.source)
    if collection.where is not None:
        inner = inner.where(collection.where)
    return bool(session.scalar(select(exists(inner))))


def visible_collections(session: Session, principal: Principal) -> list[Collection]:
    """Return the collections the principal may read (empty result tables left out)."""
    return [
        c
        for c in COLLECTIONS.values()
        if c.readable_by(principal) and (not c.hide_when_empty or has_rows(session, c))
    ]


def require_listed(session: Session, collection: Collection, principal: Principal) -> None:
    """Raise unless the principal may read the collection and it is currently listed."""
    collection.require_readable(principal)
    if collection.hide_when_empty and not has_rows(session, collection):
        raise NotFoundError("collection", collection.id)
