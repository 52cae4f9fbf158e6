"""Live incident changes as server-sent events, driven by PostgreSQL LISTEN/NOTIFY.

Each worker process listens to PostgreSQL itself (`gis.layers.incident_feed.IncidentHub`), so
the stream works behind several uvicorn workers. A client resumes with ``Last-Event-ID`` (or
``last_event_id``): the missed events are replayed from the ``incident_event`` log first.
Browsers' EventSource cannot send headers, so ``api_key`` may carry a token or key.

The stream holds no database session: authentication and replay use short sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import make_url
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from gis.auth import AuthenticationError, Permission, Principal, authenticate
from gis.layers.incident_feed import FeedEvent, IncidentHub, events_after

router = APIRouter(tags=["incidents"])
_bearer = HTTPBearer(auto_error=False, description="Bearer token or machine API key")


def _authenticate(request: Request, credential: str) -> Principal:
    with request.app.state.sessions.begin() as session:
        principal = authenticate(session, credential)
    principal.require(Permission.READ_INCIDENTS)
    return principal


def _replay(request: Request, principal: Principal, after_id: int) -> list[FeedEvent]:
    with request.app.state.sessions.begin() as session:
        return events_after(session, principal, after_id)


def _hub(request: Request) -> IncidentHub:
    hub: IncidentHub | None = getattr(request.app.state, "incident_hub", None)
    if hub is None:
        url = make_url(str(request.app.state.engine.url.render_as_string(hide_password=False)))
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        hub = IncidentHub(conninfo)
        request.app.state.incident_hub = hub
    return hub


def _message(event: FeedEvent) -> dict[str, Any]:
    return {"id": str(event.event_id), "event": event.action, "data": event.data()}


@router.get(
    "/incidents/events",
    summary="Live incident changes (text/event-stream; resume with Last-Event-ID)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        401: {"description": "No valid credentials"},
        403: {"description": "Role may not read incidents"},
    },
)
async def incident_events(
    request: Request,
    header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=r"^\d{1,18}$")
    ] = None,
    last_event_id: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Resume after this event id")
    ] = None,
    api_key: Annotated[
        str | None, Query(description="Token or API key, for EventSource clients")
    ] = None,
) -> EventSourceResponse:
    """Stream every incident event the caller may see; heartbeats keep proxies open."""
    credential = header.credentials if header is not None else api_key
    if not credential:
        raise AuthenticationError("authentication required: send Authorization: Bearer <token>")
    principal = await run_in_threadpool(_authenticate, request, credential)
    settings = request.app.state.settings
    heartbeat_s = settings.sse_heartbeat_s
    resume = last_event_id if last_event_id is not None else None
    if resume is None and last_event_id_header is not None:
        resume = int(last_event_id_header)
    hub = _hub(request)
    queue = await hub.subscribe()  # before the replay, so nothing falls in between

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            seen = -1
            if resume is not None:
                for event in await run_in_threadpool(_replay, request, principal, resume):
                    seen = event.event_id
                    yield _message(event)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    continue
                if event.event_id <= seen or not principal.covers(
                    event.street_code, event.grid_code
                ):
                    continue
                yield _message(event)
        finally:
            hub.unsubscribe(queue)

    return EventSourceResponse(stream(), ping=max(1, round(heartbeat_s)))
