"""Incident cases: intake, GeoJSON lists, one case with its log, transitions, overdue, KPIs.

Scope is applied by the `gis` queries (a grid worker sees and moves only their grids' cases);
the routes parse, call one `gis` function and shape the answer. Intake is idempotent on
``client_key``: a retry answers 200 with the first case, a new case 201. Illegal transitions
are 409 problems that name the state, the action and the allowed actions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import requires
from api.deps import BBoxDep, SessionDep, SettingsDep
from api.params import DB_INT_MAX
from gis.auth import Permission, Principal
from gis.layers.incident_filter import IncidentFilter, incident_feature_page, incident_rows
from gis.layers.incident_queries import (
    KpiBy,
    incident_kpis,
    incident_summary,
    incident_with_events,
)
from gis.layers.incident_service import IntakeOptions, report_incident, transition
from gis.layers.workflow import Action, State

router = APIRouter(prefix="/incidents", tags=["incidents"])

Reader = Annotated[Principal, Depends(requires(Permission.READ_INCIDENTS))]
Reporter = Annotated[Principal, Depends(requires(Permission.REPORT_INCIDENTS))]
IncidentId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
CrsTag = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
ClassCode = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["0102"])]


class IntakeBody(BaseModel):
    """A reported case; ``lon``/``lat`` are in ``crs`` (phones often send GCJ-02)."""

    class_code: ClassCode = Field(description="4-digit event class (major + minor)")
    lon: float = Field(ge=-180, le=180, description="longitude in crs, degrees")
    lat: float = Field(ge=-90, le=90, description="latitude in crs, degrees")
    crs: CrsTag = "wgs84"
    urgent: bool = False
    description: str | None = Field(default=None, max_length=4000)
    address: str | None = Field(default=None, max_length=300)
    photo_ref: str | None = Field(default=None, max_length=500)
    channel: str | None = Field(default="api", max_length=30)
    client_key: str | None = Field(
        default=None, min_length=1, max_length=100, description="idempotency key"
    )
    reported_at: datetime | None = Field(default=None, description="with time zone; default now")


class TransitionBody(BaseModel):
    """One workflow action on a case."""

    action: Action
    note: str | None = Field(default=None, max_length=4000)
    photo_ref: str | None = Field(default=None, max_length=500)
    expected_status: State | None = Field(
        default=None, description="refuse with 409 unless the case is in this state"
    )
    at: datetime | None = Field(default=None, description="with time zone; default now")


def _summary_with_log(
    session: SessionDep, incident_id: int, principal: Principal
) -> dict[str, Any]:
    return incident_with_events(session, incident_id, principal=principal)


@router.post(
    "",
    summary="Report an incident (idempotent on client_key)",
    status_code=201,
    responses={200: {"description": "A retry: the case first made with this client_key"}},
)
def create_incident(
    body: IntakeBody,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reporter,
) -> dict[str, Any]:
    """Locate, assign, de-duplicate and log a new case; a duplicate is linked and cancelled."""
    result = report_incident(
        session,
        principal=principal,
        minor_code=body.class_code,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        urgent=body.urgent,
        description=body.description,
        client_key=body.client_key,
        channel=body.channel,
        photo_ref=body.photo_ref,
        address=body.address,
        at=body.reported_at,
        options=IntakeOptions.from_settings(settings),
    )
    if not result.created:
        response.status_code = 200
    out = incident_summary(result.incident)
    out["created"] = result.created
    return out


def _csv(value: str | None) -> list[str] | None:
    if value is None or value.strip() == "":
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


@router.get(
    "",
    summary="Incidents as a GeoJSON FeatureCollection (paged)",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}},
)
def list_incident_features(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    bbox: BBoxDep,
    status: Annotated[
        str | None, Query(max_length=200, description="comma list of workflow states")
    ] = None,
    class_code: Annotated[
        str | None,
        Query(alias="class", max_length=200, description="comma list of 4-digit class codes"),
    ] = None,
    overdue: Annotated[bool, Query(description="only cases past their deadline now")] = False,
    grid_code: Annotated[str | None, Query(max_length=20)] = None,
    street_code: Annotated[str | None, Query(max_length=9)] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Return one page of the cases in scope; ``limit`` above the maximum is clamped."""
    limit = min(limit, settings.page_max_items)
    where = IncidentFilter(
        status=_csv(status),
        class_codes=_csv(class_code),
        bbox=bbox,
        grid_code=grid_code,
        street_code=street_code,
        overdue_at=datetime.now(UTC) if overdue else None,
    )
    features, returned = incident_feature_page(
        session, principal=principal, where=where, limit=limit, offset=offset
    )
    links = []
    if returned == limit:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append(f'{{"rel":"next","type":"application/geo+json","href":"{nxt}"}}')
    body = (
        f'{{"type":"FeatureCollection","numberReturned":{returned},'
        f'"links":[{",".join(links)}],"features":{features}}}'
    )
    return Response(body, media_type="application/geo+json")


@router.get("/overdue", summary="Open cases past their deadline, most overdue first")
def list_overdue(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1)] = 1000,
) -> list[dict[str, Any]]:
    """Return cases whose clock runs and whose deadline has passed (paused ones are not)."""
    return incident_rows(
        session,
        principal=principal,
        where=IncidentFilter(overdue_at=datetime.now(UTC)),
        limit=min(limit, settings.page_max_items),
        order="deadline",
    )


@router.get("/kpis", summary="结案率, 按期结案率, rework and step times per grid/street/department")
def read_kpis(
    session: SessionDep,
    principal: Reader,
    by: KpiBy = KpiBy.STREET,
    since: Annotated[datetime | None, Query(description="cases reported from (with zone)")] = None,
    until: Annotated[datetime | None, Query(description="... until (with zone)")] = None,
) -> list[dict[str, Any]]:
    """Return the §4.4 indicators evaluated now, from the event log."""
    return incident_kpis(
        session, principal=principal, by=by, since=since, until=until, as_of=datetime.now(UTC)
    )


@router.get("/{incident_id}", summary="One incident with its event log")
def read_incident(
    incident_id: IncidentId, session: SessionDep, principal: Reader
) -> dict[str, Any]:
    """Return the case (404 when unknown or outside the caller's scope) and its log."""
    return _summary_with_log(session, incident_id, principal)


@router.post(
    "/{incident_id}/transitions",
    summary="Apply a workflow action (409 when not allowed in the current state)",
    responses={409: {"description": "Illegal transition or stale expected_status"}},
)
def apply_transition(
    incident_id: IncidentId,
    body: TransitionBody,
    session: SessionDep,
    principal: Annotated[Principal, Depends(requires(Permission.READ_INCIDENTS))],
) -> dict[str, Any]:
    """Move the case and return it with its log; permissions depend on the action."""
    transition(
        session,
        incident_id,
        body.action,
        principal=principal,
        note=body.note,
        photo_ref=body.photo_ref,
        expected_status=None if body.expected_status is None else body.expected_status.value,
        at=body.at,
    )
    return _summary_with_log(session, incident_id, principal)
