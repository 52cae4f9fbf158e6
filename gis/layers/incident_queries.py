"""Questions about incident cases: one case, lists, overdue cases, KPIs, JSON views.

Every function takes the asking `Principal` and applies its scope in SQL. The KPIs read the
event log with one ordered query and hand each group to the pure KPI function of the
workflow module.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from itertools import groupby
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.errors import InvalidGeometryError, InvalidInputError, NotFoundError
from gis.layers import interim as workflow  # INTERIM: gis.layers.workflow
from gis.layers.incidents import Incident, IncidentEvent


def _scope(principal: Principal) -> ColumnElement[bool]:
    """Return the principal's scope over incidents as a SQL condition."""
    return principal.scope_clause(Incident.street_code.expression, Incident.grid_code.expression)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InvalidInputError(f"time {value.isoformat()} has no time zone")
    return value


def incident_location(incident: Incident) -> tuple[float, float]:
    """Return the stored WGS84 (lon, lat) of an incident."""
    point = to_shape(incident.geom)
    if not isinstance(point, Point):
        raise InvalidGeometryError(f"incident {incident.id} is not stored as a point")
    return float(point.x), float(point.y)


def incident_events(session: Session, incident_id: int) -> list[IncidentEvent]:
    """Return an incident's events in order (the caller has checked scope)."""
    return list(
        session.execute(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        ).scalars()
    )


def get_incident(session: Session, incident_id: int, *, principal: Principal) -> Incident:
    """Return one incident in the principal's scope (NotFoundError otherwise)."""
    principal.require(Permission.READ_INCIDENTS)
    incident = session.execute(
        select(Incident).where(
            Incident.id == incident_id,
            _scope(principal),
        )
    ).scalar_one_or_none()
    if incident is None:
        raise NotFoundError("incident", incident_id)
    return incident


def overdue_incidents(
    session: Session, now: datetime, *, principal: Principal, limit: int = 1000
) -> list[Incident]:
    """Return open cases whose clock runs and whose deadline has passed, most overdue first.

    Paused (postponed/suspended) cases are not overdue: their clock is stopped.
    """
    principal.require(Permission.READ_INCIDENTS)
    now = _aware(now)
    stmt = (
        select(Incident)
        .where(
            Incident.status.in_(workflow.CLOCK_RUNNING_STATES),
            Incident.deadline_at.is_not(None),
            Incident.deadline_at < now,
            _scope(principal),
        )
        .order_by(Incident.deadline_at, Incident.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def list_incidents(
    session: Session,
    *,
    principal: Principal,
    status: str | list[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    grid_code: str | None = None,
    street_code: str | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    updated_since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Incident]:
    """Return incidents in the principal's scope that match every given filter.

    ``bbox`` is (lon_min, lat_min, lon_max, lat_max) in WGS84 degrees; the time range is
    ``reported_from <= reported_at < reported_to``; ``updated_since`` keeps rows changed after
    that time (incremental sync). Ordered by id.
    """
    principal.require(Permission.READ_INCIDENTS)
    conditions = [_scope(principal)]
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        unknown = sorted(set(statuses) - set(workflow.STATES))
        if unknown:
            raise InvalidInputError(f"unknown status {unknown}; known: {sorted(workflow.STATES)}")
        conditions.append(Incident.status.in_(statuses))
    if bbox is not None:
        conditions.append(Incident.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if grid_code is not None:
        conditions.append(Incident.grid_code == grid_code)
    if street_code is not None:
        conditions.append(Incident.street_code == street_code)
    if reported_from is not None:
        conditions.append(Incident.reported_at >= reported_from)
    if reported_to is not None:
        conditions.append(Incident.reported_at < reported_to)
    if updated_since is not None:
        conditions.append(Incident.updated_at > updated_since)
    stmt = select(Incident).where(true(), *conditions).order_by(Incident.id)
    return list(session.execute(stmt.limit(limit).offset(offset)).scalars())


class KpiBy(StrEnum):
    """What `incident_kpis` groups by."""

    GRID = "grid"
    STREET = "street"
    DEPARTMENT = "department"


def incident_kpis(
    session: Session,
    *,
    principal: Principal,
    by: KpiBy | str = KpiBy.STREET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return the §4.4 indicators per grid, street or department from the event log.

    The log of every case reported in ``[since, until)`` and in the principal's scope is read
    in one ordered query; duplicates (linked to an original) are left out. Per group:
    ``due`` (应结案数), ``postponed`` (缓办数), ``closed`` (结案数), ``closed_on_time``
    (按期结案数), ``closure_rate`` (结案率) and ``on_time_rate`` (按期结案率), both over
    ``due - postponed`` and None when that is 0, ``rework`` (返工 events) and
    ``mean_step_s`` (mean seconds spent in each state).
    """
    principal.require(Permission.READ_INCIDENTS)
    key = {
        KpiBy.GRID: Incident.grid_code,
        KpiBy.STREET: Incident.street_code,
        KpiBy.DEPARTMENT: Incident.department,
    }[KpiBy(by)]
    stmt = (
        select(
            key.label("key"),
            IncidentEvent.incident_id,
            IncidentEvent.action,
            IncidentEvent.from_state,
            IncidentEvent.to_state,
            IncidentEvent.at,
            Incident.deadline_at,
        )
        .join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(
            Incident.duplicate_of.is_(None),
            _scope(principal),
        )
        .order_by(key, IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id)
    )
    if since is not None:
        stmt = stmt.where(Incident.reported_at >= since)
    if until is not None:
        stmt = stmt.where(Incident.reported_at < until)
    out: list[dict[str, Any]] = []
    for group_key, rows in groupby(session.execute(stmt), key=lambda r: r.key):
        rows_list = list(rows)
        kpis = workflow.compute_kpis(
            (
                workflow.EventRow(r.incident_id, r.action, r.from_state, r.to_state, r.at)
                for r in rows_list
            ),
            deadlines={r.incident_id: r.deadline_at for r in rows_list},
        )
        out.append(
            {
                "key": group_key,
                "by": KpiBy(by).value,
                "due": kpis.due,
                "postponed": kpis.postponed,
                "closed": kpis.closed,
                "closed_on_time": kpis.closed_on_time,
                "closure_rate": kpis.closure_rate,
                "on_time_rate": kpis.on_time_rate,
                "rework": kpis.rework,
                "mean_step_s": kpis.step_seconds,
            }
        )
    return out


def incident_summary(incident: Incident) -> dict[str, Any]:
    """Return a JSON-ready view of an incident (times as ISO 8601, location in WGS84)."""
    lon, lat = incident_location(incident)

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": incident.id,
        "status": incident.status,
        "kind": incident.kind,
        "major_code": incident.major_code,
        "minor_code": incident.minor_code,
        "urgent": incident.urgent,
        "description": incident.description,
        "lon": lon,
        "lat": lat,
        "street_code": incident.street_code,
        "grid_code": incident.grid_code,
        "worker_id": incident.worker_id,
        "department": incident.department,
        "duplicate_of": incident.duplicate_of,
        "rework_count": incident.rework_count,
        "client_key": incident.client_key,
        "reported_at": iso(incident.reported_at),
        "dispatched_at": iso(incident.dispatched_at),
        "deadline_at": iso(incident.deadline_at),
        "closed_at": iso(incident.closed_at),
        "time_limit_min": incident.time_limit_min,
    }
