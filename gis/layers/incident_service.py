"""Incident cases (数字城管 workflow, standards §4): intake, transitions and overdue detection.

Intake (`report_incident`)
    The location may come in WGS84, CGCS2000, GCJ-02 or BD-09 and is stored as WGS84. The
    case is assigned to the active plan's grid cell containing it, that plan's street and the
    cell's grid worker; the department and time limit come from the minor class. Intake is
    idempotent on ``client_key`` (INSERT ... ON CONFLICT DO NOTHING, then SELECT: concurrent
    retries of one key get one row). A report of the same minor class within
    ``duplicate_radius_m`` and ``duplicate_window_h`` of an *open* original case is a
    duplicate: it is stored (so the reporter's key and photo are kept) with ``duplicate_of``
    pointing to the original and immediately cancelled with a ``cancel`` event whose detail
    says ``{"reason": "duplicate"}``; it never opens a second case and, being cancelled, never
    counts in the KPIs. Duplicate checks of one minor class are serialised with a transaction
    advisory lock, so two reports of one pothole arriving together still make one case.

Transitions (`transition`)
    `gis.layers.workflow.next_state` decides; the row is locked (SELECT ... FOR UPDATE) so
    concurrent transitions of one case serialise, and ``expected_status`` turns a stale
    client view into a `ConflictError`. The clock starts at the first dispatch (standards
    §4.1): ``deadline_at`` = dispatch time + the class limit in working time on the holiday
    calendar. Rework sends the case back to dispatched, counts ``rework_count`` and keeps the
    original deadline (a failed fix earns no extra time). Postponed (缓办) and suspended (挂账)
    stop the clock: on resume the deadline moves by the working time spent paused, and the
    case returns to the state it was paused in.

Every intake and transition appends an `IncidentEvent` (actor, time, note, photo) and queues
a NOTIFY on ``incident_events`` in the same transaction (`gis.layers.incident_notify`).
Reading (lists, overdue cases, KPIs) lives in `gis.layers.incident_queries`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from gis.auth import Permission, PermissionDeniedError, Principal
from gis.crs import CHINA_EXTENT, to_storage_xy
from gis.divisions import Division
from gis.errors import ConflictError, InvalidInputError, NotFoundError
from gis.gridding.models import GridCell, GridPlan
from gis.layers.classes import CaseClass, get_class
from gis.layers.incident_notify import notify_incident_event
from gis.layers.incidents import Incident, IncidentEvent, IncidentMembership
from gis.layers.workflow import (
    DISPATCHER_ACTIONS,
    INITIAL_STATE,
    OPEN_STATES,
    PAUSED_STATES,
    Action,
    State,
    next_state,
)
from gis.layers.worktime import (
    WorkCalendar,
    add_working_time,
    default_calendar,
    working_time_between,
)
from gis.settings import Settings

_MAX_CLIENT_KEY: Final = 100
_SETTINGS_FIELDS: Final = Settings.model_fields


@dataclass(frozen=True)
class IntakeResult:
    """What `report_incident` did.

    ``created`` is False when ``client_key`` was seen before (the earlier incident is
    returned). ``duplicate_of`` is the original case when the report was linked to it.
    """

    incident: Incident
    created: bool
    duplicate_of: int | None = None


@dataclass(frozen=True)
class IntakeOptions:
    """Tunables of intake; build them with `from_settings` (defaults are the settings').

    Attributes
    ----------
    duplicate_radius_m : float
        A report this close (metres, on the spheroid) to an open case of the same class is a
        duplicate (``DUPLICATE_RADIUS_M``).
    duplicate_window_h : float
        ... if that case was reported at most this many hours earlier (``DUPLICATE_WINDOW_H``).
    """

    duplicate_radius_m: float = _SETTINGS_FIELDS["duplicate_radius_m"].default
    duplicate_window_h: float = _SETTINGS_FIELDS["duplicate_window_h"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeOptions:
        """Return the intake options configured in ``settings``."""
        return cls(
            duplicate_radius_m=settings.duplicate_radius_m,
            duplicate_window_h=settings.duplicate_window_h,
        )


# ----------------------------------------------------------------------------- helpers
def _now(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise InvalidInputError(f"time {at.isoformat()} has no time zone")
    return at


def _point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def _storage_lonlat(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Return WGS84 lon/lat of an input point, refusing points outside China."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInputError(f"location ({lon}, {lat}) is not a pair of finite numbers")
    x, y = to_storage_xy(lon, lat, crs)
    wlon, wlat = float(x), float(y)
    lon_min, lat_min, lon_max, lat_max = CHINA_EXTENT
    if not (lon_min <= wlon <= lon_max and lat_min <= wlat <= lat_max):
        hint = " (latitude and longitude swapped?)" if lon_min <= lat <= lon_max else ""
        raise InvalidInputError(
            f"location ({lon}, {lat}) in {crs} is outside China{hint}; "
            "give longitude first, in degrees"
        )
    return wlon, wlat


@dataclass(frozen=True)
class _Membership:
    cell_id: int | None
    grid_code: str | None
    worker_id: int | None
    street_code: str | None


def _membership(session: Session, lon: float, lat: float) -> _Membership:
    """Find the active plan's cell (and its street) holding the point, else just the street."""
    point = _point(lon, lat)
    row = session.execute(
        select(GridCell.id, GridCell.code, GridCell.worker_id, GridPlan.street_code)
        .join(GridPlan, GridPlan.id == GridCell.plan_id)
        .where(GridPlan.status == "active", func.ST_Covers(GridCell.geom, point))
        .order_by(GridCell.id)  # a point on a shared edge goes to the older cell
        .limit(1)
    ).first()
    if row is not None:
        return _Membership(row.id, row.code, row.worker_id, row.street_code)
    street = session.execute(
        select(Division.code)
        .where(Division.level == "street", func.ST_Covers(Division.geom, point))
        .order_by(Division.code)
        .limit(1)
    ).scalar_one_or_none()
    return _Membership(None, None, None, street)


def _record_event(
    session: Session,
    incident: Incident,
    *,
    action: str,
    from_state: str | None,
    principal: Principal,
    at: datetime,
    note: str | None,
    photo_ref: str | None,
    detail: dict[str, Any] | None = None,
) -> IncidentEvent:
    event = IncidentEvent(
        incident_id=incident.id,
        action=action,
        from_state=from_state,
        to_state=incident.status,
        actor=principal.username,
        actor_id=principal.user_id,
        at=at,
        note=note,
        photo_ref=photo_ref,
        detail=detail or {},
    )
    session.add(event)
    session.flush()
    notify_incident_event(
        session,
        incident_id=incident.id,
        event_id=event.id,
        action=action,
        status=incident.status,
        at=at,
    )
    return event


def _by_client_key(session: Session, client_key: str) -> Incident:
    return session.execute(select(Incident).where(Incident.client_key == client_key)).scalar_one()


def _replayed(existing: Incident, principal: Principal) -> IntakeResult:
    """Return the incident an earlier report with the same key made (if the caller may see it)."""
    if not principal.covers(existing.street_code, existing.grid_code):
        raise PermissionDeniedError("this client_key belongs to an incident outside your scope")
    return IntakeResult(existing, created=False, duplicate_of=existing.duplicate_of)


def _open_original(
    session: Session,
    *,
    cls: CaseClass,
    lon: float,
    lat: float,
    at: datetime,
    options: IntakeOptions,
) -> int | None:
    """Return the first open, non-duplicate case of the class near the point, if any.

    The class is the full 4-digit code: minor codes repeat across major classes (0102 暴露垃圾
    and 0202 街头散发广告 are different problems), so both halves must match.
    """
    window = timedelta(hours=options.duplicate_window_h)
    stmt = (
        select(Incident.id)
        .where(
            Incident.kind == cls.kind.value,
            Incident.major_code == cls.major_code,
            Incident.minor_code == cls.minor_code,
            Incident.duplicate_of.is_(None),
            Incident.status.in_([s.value for s in OPEN_STATES]),
            Incident.reported_at >= at - window,
            Incident.reported_at <= at,
            func.ST_DWithin(
                func.geography(Incident.geom),
                func.geography(_point(lon, lat)),
                options.duplicate_radius_m,
            ),
        )
        .order_by(Incident.reported_at, Incident.id)
        .limit(1)
    )
    found = session.execute(stmt).scalar_one_or_none()
    return None if found is None else int(found)


# ------------------------------------------------------------------------------ intake
def report_incident(
    session: Session,
    *,
    principal: Principal,
    minor_code: str,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    urgent: bool = False,
    description: str | None = None,
    client_key: str | None = None,
    reporter: str | None = None,
    channel: str | None = None,
    photo_ref: str | None = None,
    address: str | None = None,
    at: datetime | None = None,
    options: IntakeOptions | None = None,
) -> IntakeResult:
    """Take in a reported case: validate, locate, assign, de-duplicate, log and notify.

    Parameters
    ----------
    principal : Principal
        Needs REPORT_INCIDENTS; a scoped principal may only report inside its scope.
    minor_code : str
        The 4-digit event class code of `gis.layers.classes` (major + minor, e.g. ``"0102"``).
    lon, lat : float
        The location in degrees in ``crs`` (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09``).
    client_key : str, optional
        The client's idempotency key: reporting again with it returns the first incident.
    at : datetime, optional
        When it was reported (timezone-aware); default now.
    options : IntakeOptions, optional
        Duplicate radius and window; default `IntakeOptions()` (the settings' defaults).

    Returns
    -------
    IntakeResult

    Raises
    ------
    InvalidInputError
        Unknown class, location outside China or not finite, naive time, over-long key.
    PermissionDeniedError
        Missing permission, or the location is outside the principal's scope.
    """
    principal.require(Permission.REPORT_INCIDENTS)
    options = options or IntakeOptions()
    at = _now(at)
    if client_key is not None and not 0 < len(client_key) <= _MAX_CLIENT_KEY:
        raise InvalidInputError(f"client_key must have 1 to {_MAX_CLIENT_KEY} characters")
    if client_key is not None:
        existing = session.execute(
            select(Incident).where(Incident.client_key == client_key)
        ).scalar_one_or_none()
        if existing is not None:
            return _replayed(existing, principal)
    cls = get_class(minor_code)
    wlon, wlat = _storage_lonlat(lon, lat, crs)
    member = _membership(session, wlon, wlat)
    if not principal.covers(member.street_code, member.grid_code):
        raise PermissionDeniedError(
            f"{principal.username} may not report incidents at ({lon}, {lat}): "
            f"grid {member.grid_code or 'none'} is outside their scope"
        )
    # One class at a time: the duplicate check and the insert must not interleave.
    session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(literal(f"incident-dup:{cls.code}"))))
    )
    original = _open_original(
        session,
        cls=cls,
        lon=wlon,
        lat=wlat,
        at=at,
        options=options,
    )
    values: dict[str, Any] = {
        "client_key": client_key,
        "kind": cls.kind.value,
        "major_code": cls.major_code,
        "minor_code": cls.minor_code,
        "status": INITIAL_STATE.value,
        "urgent": urgent,
        "description": description,
        "address": address,
        "channel": channel,
        "reporter": reporter or principal.username,
        "worker_id": member.worker_id,
        "department": cls.department,
        "duplicate_of": original,
        "reported_at": at,
        "time_limit_min": cls.time_limit_min(urgent=urgent),
        "source": "intake",
        "geom": _point(wlon, wlat),
    }
    # Without a key there is nothing to conflict on; with one, a concurrent retry that
    # committed first makes this a no-op instead of an error.
    stmt = (
        pg_insert(Incident)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["client_key"])
        .returning(Incident.id)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is None:  # a concurrent retry with the same key won the race
        return _replayed(_by_client_key(session, client_key or ""), principal)
    if member.street_code is not None:
        session.execute(
            pg_insert(IncidentMembership).values(
                id=new_id,
                street_code=member.street_code,
                grid_code=member.grid_code,
                grid_cell_id=member.cell_id,
            )
        )
    incident = session.get_one(Incident, new_id)
    _record_event(
        session,
        incident,
        action=Action.REPORT.value,
        from_state=None,
        principal=principal,
        at=at,
        note=description,
        photo_ref=photo_ref,
        detail={"channel": channel, "crs": crs, "input_lonlat": [lon, lat]},
    )
    if original is not None:
        before = incident.status
        incident.status = next_state(before, Action.CANCEL).value
        session.flush()
        _record_event(
            session,
            incident,
            action=Action.CANCEL.value,
            from_state=before,
            principal=principal,
            at=at,
            note=f"duplicate of incident {original}",
            photo_ref=None,
            detail={"reason": "duplicate", "duplicate_of": original},
        )
    return IntakeResult(incident, created=True, duplicate_of=original)


# -------------------------------------------------------------------------- transitions
def _known_action(action: Action | str) -> Action | None:
    """Return the action (aliases resolved), or None for an unknown one."""
    try:
        return Action(action)
    except ValueError:
        return None


def _check_permission(principal: Principal, incident: Incident, action: Action | None) -> None:
    # An unknown action is refused by next_state; ask for the stronger permission first so
    # that a field worker learns nothing from the error beyond "not allowed".
    needed = (
        Permission.REPORT_INCIDENTS
        if action is not None and action not in DISPATCHER_ACTIONS
        else Permission.DISPATCH_INCIDENTS
    )
    principal.require(needed)
    if not principal.covers(incident.street_code, incident.grid_code):
        raise PermissionDeniedError(
            f"incident {incident.id} (grid {incident.grid_code or 'none'}) is outside the "
            f"scope of {principal.username}"
        )


def transition(
    session: Session,
    incident_id: int,
    action: Action | str,
    *,
    principal: Principal,
    note: str | None = None,
    photo_ref: str | None = None,
    expected_status: str | None = None,
    at: datetime | None = None,
    calendar: WorkCalendar | None = None,
) -> Incident:
    """Apply one workflow action to an incident and log it.

    Parameters
    ----------
    action : Action or str
        An action of `gis.layers.workflow` (file, cancel, dispatch, start, handle, close,
        rework, postpone, suspend, resume; ``verify_pass``/``verify_fail`` are aliases of
        close/rework). The event log records the canonical name.
    expected_status : str, optional
        Refuse with `ConflictError` unless the incident is in this state (optimistic check
        for clients acting on what they last saw).
    at : datetime, optional
        When it happened (timezone-aware); not before the incident's last event.
    calendar : WorkCalendar, optional
        Working days and hours for deadlines; default `worktime.default_calendar()`.

    Raises
    ------
    NotFoundError
        No such incident.
    IllegalTransitionError
        The action is not allowed in the current state (a `ConflictError`, HTTP 409).
    ConflictError
        ``expected_status`` does not match.
    PermissionDeniedError
        Dispatcher actions (file, dispatch, verify, rework, close, cancel, postpone, suspend,
        resume) need DISPATCH_INCIDENTS, field actions REPORT_INCIDENTS; either way the
        incident must be in the principal's scope.
    """
    at = _now(at)
    incident = session.execute(
        select(Incident).where(Incident.id == incident_id).with_for_update()
    ).scalar_one_or_none()
    if incident is None:
        raise NotFoundError("incident", incident_id)
    act = _known_action(action)
    _check_permission(principal, incident, act)
    if expected_status is not None and incident.status != expected_status:
        raise ConflictError(
            f"incident {incident_id} is {incident.status!r}, not {expected_status!r} as "
            "expected; reload it and try again"
        )
    last_at = session.execute(
        select(func.max(IncidentEvent.at)).where(IncidentEvent.incident_id == incident_id)
    ).scalar_one()
    if last_at is not None and at < last_at:
        raise InvalidInputError(
            f"time {at.isoformat()} is before the incident's last event ({last_at.isoformat()})"
        )
    before = incident.status
    after = next_state(before, action, resume_to=incident.resume_status)
    assert act is not None  # next_state refuses unknown actions
    detail = _apply_side_effects(incident, State(before), after, act, at, calendar)
    incident.status = after.value
    session.flush()
    _record_event(
        session,
        incident,
        action=act.value,
        from_state=before,
        principal=principal,
        at=at,
        note=note,
        photo_ref=photo_ref,
        detail=detail,
    )
    return incident


def _apply_side_effects(
    incident: Incident,
    before: State,
    after: State,
    action: Action,
    at: datetime,
    calendar: WorkCalendar | None,
) -> dict[str, Any]:
    """Update dispatch time, deadline, rework count, pause bookkeeping and closure."""
    detail: dict[str, Any] = {}
    cal = calendar or default_calendar()
    if after is State.DISPATCHED and incident.dispatched_at is None:
        incident.dispatched_at = at
        if incident.time_limit_min:
            incident.deadline_at = add_working_time(
                at, timedelta(minutes=incident.time_limit_min), calendar=cal
            )
            detail["deadline_at"] = incident.deadline_at.isoformat()
    if action is Action.REWORK:
        incident.rework_count += 1
        detail["rework_count"] = incident.rework_count
    if after in PAUSED_STATES and before not in PAUSED_STATES:
        incident.paused_at = at
        incident.resume_status = before.value
    if before in PAUSED_STATES and after not in PAUSED_STATES:
        if incident.deadline_at is not None and incident.paused_at is not None:
            paused = working_time_between(incident.paused_at, at, calendar=cal)
            incident.deadline_at = add_working_time(incident.deadline_at, paused, calendar=cal)
            detail["deadline_extended_by_s"] = paused.total_seconds()
            detail["deadline_at"] = incident.deadline_at.isoformat()
        incident.paused_at = None
        incident.resume_status = None
    if after is State.CLOSED:
        incident.closed_at = at
    return detail
