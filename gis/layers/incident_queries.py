"""Questions about incident cases: one case, lists, overdue cases, KPIs, JSON views.

Every function takes the asking `Principal` and applies its scope in SQL. The KPIs read the
event log and the cases in two set-based queries and hand them, as DataFrames, to the pure
KPI function of the workflow module (`gis.layers.workflow.case_kpis`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import pandas as pd
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.errors import InvalidGeometryError, InvalidInputError, NotFoundError
from gis.layers.incident_filter import INCIDENTS, IncidentFilter, incident_scope
from gis.layers.incidents import Incident, IncidentEvent
from gis.layers.workflow import CLOCK_RUNNING_STATES, case_kpis

__all__ = ["IncidentFilter", "KpiBy", "get_incident", "incident_kpis", "list_incidents"]


_scope = incident_scope


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
        select(Incident).select_from(INCIDENTS).where(Incident.id == incident_id, _scope(principal))
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
        .select_from(INCIDENTS)
        .where(
            Incident.status.in_([s.value for s in CLOCK_RUNNING_STATES]),
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
    status: str | Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    grid_code: str | None = None,
    street_code: str | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    updated_since: datetime | None = None,
    where: IncidentFilter | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Incident]:
    """Return incidents in the principal's scope that match every given filter.

    The keyword filters are shorthands for the fields of `IncidentFilter`; ``where`` gives
    the whole filter (the shorthands, when given, replace its fields). Ordered by id.
    """
    principal.require(Permission.READ_INCIDENTS)
    base = where or IncidentFilter()
    shorthands = {
        "status": [status] if isinstance(status, str) else status,
        "bbox": bbox,
        "grid_code": grid_code,
        "street_code": street_code,
        "reported_from": reported_from,
        "reported_to": reported_to,
        "updated_since": updated_since,
    }
    given: dict[str, Any] = {k: v for k, v in shorthands.items() if v is not None}
    chosen = replace(base, **given)
    stmt = (
        select(Incident)
        .select_from(INCIDENTS)
        .where(true(), *chosen.conditions(principal))
        .order_by(Incident.id)
    )
    return list(session.execute(stmt.limit(limit).offset(offset)).scalars())


class KpiBy(StrEnum):
    """What `incident_kpis` groups by."""

    GRID = "grid"
    STREET = "street"
    DEPARTMENT = "department"


def _kpi_frames(
    session: Session,
    principal: Principal,
    key: Any,
    since: datetime | None,
    until: datetime | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (events, cases) of the non-duplicate cases in scope reported in [since, until)."""
    conditions: list[ColumnElement[bool]] = [Incident.duplicate_of.is_(None), _scope(principal)]
    if since is not None:
        conditions.append(Incident.reported_at >= _aware(since))
    if until is not None:
        conditions.append(Incident.reported_at < _aware(until))
    case_rows = session.execute(
        select(Incident.id.label("incident_id"), Incident.deadline_at, key.label("key"))
        .select_from(INCIDENTS)
        .where(*conditions)
    ).all()
    cases = pd.DataFrame(case_rows, columns=["incident_id", "deadline_at", "key"])
    event_rows = session.execute(
        select(
            IncidentEvent.incident_id,
            IncidentEvent.from_state,
            IncidentEvent.to_state,
            IncidentEvent.at,
        )
        .join(INCIDENTS, Incident.id == IncidentEvent.incident_id)
        .where(*conditions)
        .order_by(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id)
    ).all()
    events = pd.DataFrame(event_rows, columns=["incident_id", "from_state", "to_state", "at"])
    cases["deadline_at"] = pd.to_datetime(cases["deadline_at"], utc=True)
    events["at"] = pd.to_datetime(events["at"], utc=True)
    # A missing grid/street/department is a group of its own, not a dropped row.
    cases["key"] = cases["key"].astype(object).where(cases["key"].notna(), None)
    return events, cases


def _number(value: Any) -> float | None:
    """Return a JSON-safe rate: None for NaN (a denominator of 0)."""
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


def incident_kpis(
    session: Session,
    *,
    principal: Principal,
    by: KpiBy | str = KpiBy.STREET,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return the §4.4 indicators per grid, street or department from the event log.

    Parameters
    ----------
    by : KpiBy or str
        ``grid``, ``street`` or ``department``.
    since, until : datetime, optional
        Only cases reported in ``[since, until)`` (timezone-aware).
    as_of : datetime, optional
        Evaluate as at this instant (later events ignored, deadlines compared with it);
        default the last event in the log. The API passes "now".

    Returns
    -------
    list of dict
        One item per group, ordered by key: ``key``, ``by``, ``reported``, ``due``
        (应结案数), ``postponed`` (缓办数), ``closed`` (结案数), ``closed_on_time``
        (按期结案数), ``closure_rate`` (结案率) and ``on_time_rate`` (按期结案率), both over
        ``due - postponed`` and None when that is 0, ``rework`` (返工), ``rework_3plus`` and
        ``mean_step_s`` (mean clock seconds a stay in each state lasted). The definitions are
        those of `gis.layers.workflow.case_kpis`. Duplicates (linked to an original) are left
        out; a case without grid/street/department is grouped under key None.
    """
    principal.require(Permission.READ_INCIDENTS)
    kind = KpiBy(by)
    key = {
        KpiBy.GRID: Incident.grid_code,
        KpiBy.STREET: Incident.street_code,
        KpiBy.DEPARTMENT: Incident.department,
    }[kind]
    events, cases = _kpi_frames(session, principal, key, since, until)
    if events.empty:
        return []
    table = case_kpis(events, cases, by="key", as_of=None if as_of is None else _aware(as_of))
    hours = [c for c in table.columns if str(c).startswith("hours_")]
    counts = ["reported", "due", "postponed", "closed", "closed_on_time", "rework", "rework_3plus"]
    out: list[dict[str, Any]] = []
    for group_key, row in zip(table.index, table.to_dict("records"), strict=True):
        item: dict[str, Any] = {
            "key": None if pd.isna(group_key) else str(group_key),
            "by": kind.value,
        }
        item.update({c: int(row[c]) for c in counts})
        item["closure_rate"] = _number(row["closure_rate"])
        item["on_time_rate"] = _number(row["on_time_rate"])
        item["mean_step_s"] = {
            h.removeprefix("hours_"): round(float(row[h]) * 3600.0, 3)
            for h in hours
            if not math.isnan(float(row[h]))
        }
        out.append(item)
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


def incident_with_events(
    session: Session, incident_id: int, *, principal: Principal
) -> dict[str, Any]:
    """Return `incident_summary` of a case in the principal's scope plus its event log."""
    incident = get_incident(session, incident_id, principal=principal)
    out = incident_summary(incident)
    out["events"] = [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "actor": e.actor,
            "note": e.note,
            "photo_ref": e.photo_ref,
            "detail": e.detail,
        }
        for e in incident_events(session, incident.id)
    ]
    return out
