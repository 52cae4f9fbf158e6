"""Which incidents: the filter every incident list shares, and GeoJSON pages built in SQL.

`IncidentFilter` turns the API's and Open311's filters (states, class codes, ids, bbox,
membership, time ranges, overdue) into SQL conditions, always led by the principal's scope.
`incident_feature_page` builds a page of GeoJSON features in PostGIS.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import JSON, ColumnElement, Text, and_, cast, false, func, literal, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.errors import InvalidInputError
from gis.layers.incidents import Incident, IncidentMembership
from gis.layers.workflow import CLOCK_RUNNING_STATES, STATES

_CLASS_CODE: Final = re.compile(r"[0-9]{4}")


# Incidents with their membership: every query that filters or shows street/grid reads this.
INCIDENTS: Final = Incident.with_membership()


def incident_scope(principal: Principal) -> ColumnElement[bool]:
    """Return the principal's scope over incidents as a SQL condition."""
    return principal.scope_clause(Incident.street_code, Incident.grid_code)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InvalidInputError(f"time {value.isoformat()} has no time zone")
    return value


_scope = incident_scope


@dataclass(frozen=True)
class IncidentFilter:
    """Conditions on incidents; every one given must hold (None: no condition).

    Attributes
    ----------
    status : sequence of str
        Workflow states (`gis.layers.workflow.State` values).
    class_codes : sequence of str
        4-digit class codes (major + minor), e.g. ``("0102", "0401")``.
    ids : sequence of int
        Incident ids.
    client_keys : sequence of str
        Intake idempotency keys.
    bbox : tuple of float
        (lon_min, lat_min, lon_max, lat_max) in WGS84 degrees.
    grid_code, street_code : str
        Membership.
    reported_from, reported_to : datetime
        ``reported_from <= reported_at < reported_to`` (timezone-aware).
    updated_since : datetime
        Rows changed after this instant (incremental sync).
    overdue_at : datetime
        Only cases overdue at this instant: clock running and deadline passed.
    """

    status: Sequence[str] | None = None
    class_codes: Sequence[str] | None = None
    ids: Sequence[int] | None = None
    client_keys: Sequence[str] | None = None
    bbox: tuple[float, float, float, float] | None = None
    grid_code: str | None = None
    street_code: str | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    updated_since: datetime | None = None
    overdue_at: datetime | None = None

    def conditions(self, principal: Principal) -> list[ColumnElement[bool]]:
        """Return the SQL conditions, the principal's scope first."""
        out = [_scope(principal)]
        if self.status is not None:
            known = sorted(s.value for s in STATES)
            unknown = sorted(set(self.status) - set(known))
            if unknown:
                raise InvalidInputError(f"unknown status {unknown}; known: {known}")
            out.append(Incident.status.in_(list(self.status)))
        if self.class_codes is not None:
            bad = sorted(c for c in self.class_codes if not _CLASS_CODE.fullmatch(c))
            if bad:
                raise InvalidInputError(f"class codes are 4 digits (major + minor), got {bad}")
            out.append((Incident.major_code + Incident.minor_code).in_(list(self.class_codes)))
        if self.ids is not None:
            out.append(Incident.id.in_(list(self.ids)))
        if self.client_keys is not None:
            out.append(Incident.client_key.in_(list(self.client_keys)))
        if self.bbox is not None:
            out.append(Incident.geom.intersects(func.ST_MakeEnvelope(*self.bbox, 4326)))
        if self.grid_code is not None:
            out.append(Incident.grid_code == self.grid_code)
        if self.street_code is not None:
            out.append(Incident.street_code == self.street_code)
        if self.reported_from is not None:
            out.append(Incident.reported_at >= _aware(self.reported_from))
        if self.reported_to is not None:
            out.append(Incident.reported_at < _aware(self.reported_to))
        if self.updated_since is not None:
            out.append(Incident.updated_at > _aware(self.updated_since))
        if self.overdue_at is not None:
            out.append(Incident.status.in_([s.value for s in CLOCK_RUNNING_STATES]))
            out.append(Incident.deadline_at < _aware(self.overdue_at))
        return out


def incident_feature_page(
    session: Session,
    *,
    principal: Principal,
    where: IncidentFilter | None = None,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[str, int]:
    """Return one page of incidents as a GeoJSON features array (JSON text) and its length.

    The features are built by PostGIS (``json_build_object`` + ``ST_AsGeoJSON``) and
    aggregated into one text, so a page of thousands costs no Python per feature. Geometry
    is WGS84 (CRS84 lon/lat); properties are those of `incident_summary` without lon/lat,
    plus ``class_code`` and ``overdue`` (at ``now``, default the database's now).
    """
    principal.require(Permission.READ_INCIDENTS)
    chosen = where or IncidentFilter()
    at = func.now() if now is None else literal(_aware(now))
    overdue = and_(
        Incident.status.in_([s.value for s in CLOCK_RUNNING_STATES]),
        func.coalesce(Incident.deadline_at < at, false()),
    )
    props = func.json_build_object(
        *_props_args(),
        "class_code",
        Incident.major_code + Incident.minor_code,
        "overdue",
        overdue,
    )
    page = (
        select(
            Incident.id,
            func.json_build_object(
                "type",
                "Feature",
                "id",
                Incident.id,
                "geometry",
                cast(func.ST_AsGeoJSON(Incident.geom, 7), JSON),
                "properties",
                props,
            ).label("feature"),
        )
        .select_from(INCIDENTS)
        .where(true(), *chosen.conditions(principal))
        .order_by(Incident.id)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    row = session.execute(
        select(
            func.coalesce(
                cast(func.json_agg(aggregate_order_by(page.c.feature, page.c.id)), Text), "[]"
            ),
            func.count(page.c.id),
        )
    ).one()
    return str(row[0]), int(row[1])


_SUMMARY_COLUMNS: Final = (
    "status",
    "kind",
    "major_code",
    "minor_code",
    "urgent",
    "description",
    "address",
    "channel",
    "street_code",
    "grid_code",
    "worker_id",
    "department",
    "duplicate_of",
    "rework_count",
    "reported_at",
    "dispatched_at",
    "deadline_at",
    "closed_at",
    "updated_at",
    "time_limit_min",
    "synthetic",
)


def _summary_column(name: str) -> Any:
    """Column of a summary name: the incident's, or its membership's."""
    if name in IncidentMembership.__table__.c and name != "id":
        return IncidentMembership.__table__.c[name]
    return Incident.__table__.c[name]


def _props_args() -> list[Any]:
    """Alternating names and columns for ``json_build_object``."""
    return [x for name in _SUMMARY_COLUMNS for x in (name, _summary_column(name))]


def incident_rows(
    session: Session,
    *,
    principal: Principal,
    where: IncidentFilter | None = None,
    limit: int = 1000,
    offset: int = 0,
    order: Literal["id", "newest", "deadline"] = "id",
) -> list[dict[str, Any]]:
    """Return matching incidents as plain dicts.

    Each has the summary columns, ``id``, ``class_code``, ``client_key`` and WGS84
    ``lon``/``lat`` (taken in SQL: no geometry decoding in Python). ``order`` is by id,
    ``newest`` (reported_at descending) or ``deadline`` (soonest first, then id).
    """
    principal.require(Permission.READ_INCIDENTS)
    chosen = where or IncidentFilter()
    sort = {
        "id": (Incident.id,),
        "newest": (Incident.reported_at.desc(), Incident.id.desc()),
        "deadline": (Incident.deadline_at, Incident.id),
    }[order]
    stmt = (
        select(
            Incident.id,
            Incident.client_key,
            *(_summary_column(name) for name in _SUMMARY_COLUMNS),
            (Incident.major_code + Incident.minor_code).label("class_code"),
            func.ST_X(Incident.geom).label("lon"),
            func.ST_Y(Incident.geom).label("lat"),
        )
        .select_from(INCIDENTS)
        .where(true(), *chosen.conditions(principal))
        .order_by(*sort)
        .limit(limit)
        .offset(offset)
    )
    return [dict(row) for row in session.execute(stmt).mappings()]
