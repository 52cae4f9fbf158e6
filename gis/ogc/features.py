"""Features of a collection as GeoJSON built by PostGIS: pages, single features, extents.

Each feature is one ``json_build_object(...)::text`` produced in SQL and spliced into the
response bytes untouched, so a 1,000-feature page never becomes 1,000 Python dicts. Paging is
keyset on the integer feature id (``id > after``), which stays correct under concurrent
inserts and costs the same on page 1 and page 1,000.

``numberMatched`` is exact or absent (OGC API Features /req/core/fc-numberMatched): we ask the
planner for an estimate first and count only when it is at most ``exact_count_max`` rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.errors import InvalidParameterError, NotFoundError
from gis.ogc.collections import Collection, per_collection
from gis.ogc.crs import CRS84, OutputCrs

#: Decimal digits of GeoJSON coordinates: 1e-7 degree is about 1 cm.
COORDINATE_DIGITS: Final = 7

DateTimeInterval = tuple[datetime | None, datetime | None]


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    """What ``/collections/{id}/items`` asks for (all already validated).

    ``bbox`` is in ``bbox_crs`` axis order; ``condition`` is a CQL2 filter already translated
    (`gis.ogc.cql.filter_condition`).
    """

    limit: int
    after: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: OutputCrs = CRS84
    datetime: DateTimeInterval | None = None
    condition: ColumnElement[bool] | None = None
    crs: OutputCrs = CRS84
    exact_count_max: int = 100_000


@dataclass(frozen=True, slots=True)
class FeaturePage:
    """One page of features: ``features`` is the comma-joined JSON of each Feature."""

    features: bytes
    number_returned: int
    next_after: int | None
    number_matched: int | None
    matched_estimate: int | None = None


@per_collection  # built once per collection and CRS, not on every items request
def feature_expression(collection: Collection, crs: OutputCrs) -> ColumnElement[str]:
    """Return the SQL expression of one GeoJSON Feature (as text) for ``collection``."""
    pairs: list[Any] = []
    for name, column in collection.properties.items():
        pairs.extend((literal(name), column))
    geometry = cast(func.ST_AsGeoJSON(crs.from_storage(collection.geom), COORDINATE_DIGITS), JSON)
    feature = func.json_build_object(
        literal("type"),
        literal("Feature"),
        literal("id"),
        collection.id_column,
        literal("geometry"),
        geometry,
        literal("properties"),
        func.json_build_object(*pairs),
    )
    return cast(feature, Text)


def _filters(
    collection: Collection, principal: Principal, query: ItemsQuery
) -> list[ColumnElement[bool]]:
    conditions = collection.conditions(principal)
    if query.bbox is not None:
        query.bbox_crs.check_bbox(query.bbox)
        envelope = query.bbox_crs.bbox_to_crs84(query.bbox)
        conditions.append(func.ST_Intersects(collection.geom, envelope))
    if query.datetime is not None and collection.datetime_property:
        column = collection.properties[collection.datetime_property]
        start, end = query.datetime
        if start is not None and start == end:
            conditions.append(column == start)
        else:
            if start is not None:
                conditions.append(column >= start)
            if end is not None:
                conditions.append(column <= end)
    if query.condition is not None:
        conditions.append(query.condition)
    return conditions


def items_page(
    session: Session, collection: Collection, principal: Principal, query: ItemsQuery
) -> FeaturePage:
    """Return one keyset page of ``collection`` as seen by ``principal``.

    Parameters
    ----------
    session : Session
        Database session.
    collection : Collection
        What to read; the caller has checked the principal may read it.
    principal : Principal
        Whose scope limits the rows (applied in SQL).
    query : ItemsQuery
        Limit, keyset position, bbox, datetime interval, CQL2 condition and output CRS.
    """
    conditions = _filters(collection, principal, query)
    page_conditions = list(conditions)
    if query.after is not None:
        page_conditions.append(collection.id_column > query.after)
    stmt = (
        select(collection.id_column.label("fid"), feature_expression(collection, query.crs))
        .select_from(collection.source)
        .where(and_(*page_conditions))
        .order_by(collection.id_column)
        .limit(query.limit + 1)
    )
    rows = session.connection().execute(stmt).all()  # Core: no ORM layer for plain rows
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    body = b",".join(r[1].encode() for r in rows)
    matched: int | None
    estimate: int | None
    if not more and query.after is None:
        matched, estimate = len(rows), None  # the whole result is this first page: no count
    else:
        matched, estimate = _number_matched(session, collection, conditions, query.exact_count_max)
    return FeaturePage(
        features=body,
        number_returned=len(rows),
        next_after=int(rows[-1][0]) if more and rows else None,
        number_matched=matched,
        matched_estimate=estimate,
    )


def _number_matched(
    session: Session,
    collection: Collection,
    conditions: list[ColumnElement[bool]],
    exact_count_max: int,
) -> tuple[int | None, int | None]:
    """Return (exact count or None, planner estimate when too large to count)."""
    base = select(collection.id_column).select_from(collection.source).where(and_(*conditions))
    estimate = _planner_rows(session, base)
    if estimate <= exact_count_max:
        count = session.scalar(select(func.count()).select_from(base.subquery()))
        return int(count or 0), None
    return None, estimate


def _planner_rows(session: Session, stmt: Select[Any]) -> int:
    connection = session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    plan = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params
    ).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def feature_json(
    session: Session,
    collection: Collection,
    principal: Principal,
    feature_id: int,
    *,
    crs: OutputCrs = CRS84,
) -> bytes:
    """Return one Feature's GeoJSON, or raise NotFoundError (also when out of scope)."""
    conditions = [*collection.conditions(principal), collection.id_column == feature_id]
    stmt = (
        select(feature_expression(collection, crs))
        .select_from(collection.source)
        .where(and_(*conditions))
    )
    text = session.scalar(stmt)
    if text is None:
        # Out-of-scope features are reported as missing: their existence is not disclosed.
        raise NotFoundError(f"feature of {collection.id}", feature_id)
    return str(text).encode()


@dataclass(frozen=True, slots=True)
class Extent:
    """Spatial extent (CRS84) and temporal interval of what a principal sees."""

    bbox: tuple[float, float, float, float] | None
    interval: tuple[str | None, str | None] | None


def collection_extent(session: Session, collection: Collection, principal: Principal) -> Extent:
    """Return the CRS84 bbox (and datetime interval) of the rows ``principal`` may see."""
    box = func.ST_Extent(collection.geom)
    columns: list[ColumnElement[Any]] = [
        func.ST_XMin(box),
        func.ST_YMin(box),
        func.ST_XMax(box),
        func.ST_YMax(box),
    ]
    if collection.datetime_property:
        time_column = collection.properties[collection.datetime_property]
        columns += [func.min(time_column), func.max(time_column)]
    row = session.execute(collection.base_select(principal, *columns)).one()
    bbox = None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    interval = None
    if collection.datetime_property:
        interval = (_iso(row[4]), _iso(row[5]))
    return Extent(bbox=bbox, interval=interval)


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def parse_datetime_interval(text: str | None) -> DateTimeInterval | None:
    """Parse the ``datetime`` parameter: an RFC 3339 instant or ``start/end`` with ``..`` ends.

    Examples
    --------
    >>> parse_datetime_interval("2026-01-01T00:00:00Z/..")[1] is None
    True
    >>> parse_datetime_interval("2026-01-05")[0].isoformat()
    '2026-01-05T00:00:00+00:00'
    """
    if text is None or text == "":
        return None
    parts = text.split("/")
    if len(parts) > 2:
        raise InvalidParameterError(f"datetime {text!r} has more than one '/'")
    ends = [_parse_instant(p, text) for p in parts]
    if len(ends) == 1:
        if ends[0] is None:
            raise InvalidParameterError("datetime needs an instant or an interval")
        if len(parts[0]) == 10:  # a whole day
            day = ends[0]
            return day, day.replace(hour=23, minute=59, second=59, microsecond=999_999)
        return ends[0], ends[0]
    start, end = ends
    if start is not None and end is not None and start > end:
        raise InvalidParameterError(f"datetime {text!r} ends before it starts")
    return start, end


def _parse_instant(part: str, whole: str) -> datetime | None:
    if part in ("", ".."):
        return None
    try:
        value = datetime.fromisoformat(part)
    except ValueError:
        raise InvalidParameterError(
            f"datetime {whole!r} is not an RFC 3339 instant or interval"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
