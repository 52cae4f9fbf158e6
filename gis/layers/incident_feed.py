"""The live incident feed: replay of the event log and a per-process LISTEN hub.

One `IncidentHub` per worker process holds a single autocommit psycopg connection that LISTENs
on ``incident_events``; for every notification it looks up the incident's street and grid
once and fans the event out to the subscribers' queues. Each subscriber filters by its
principal's scope (`Principal.covers`, the Python twin of `scope_clause`). Because every
worker listens to PostgreSQL itself, events reach clients of every uvicorn worker.

`events_after` replays the log (``incident_event.id > after``) for ``Last-Event-ID`` resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.layers.incident_filter import INCIDENTS, incident_scope
from gis.layers.incident_notify import CHANNEL
from gis.layers.incidents import Incident, IncidentEvent

log = logging.getLogger(__name__)
REPLAY_MAX: Final = 1000
QUEUE_MAX: Final = 1000


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One incident change as sent to clients (``event_id`` is the SSE id)."""

    event_id: int
    incident_id: int
    action: str
    status: str
    at: str
    street_code: str | None
    grid_code: str | None

    def data(self) -> str:
        """Return the JSON body of the SSE message."""
        return json.dumps(
            {
                "id": self.incident_id,
                "event_id": self.event_id,
                "action": self.action,
                "status": self.status,
                "at": self.at,
                "street_code": self.street_code,
                "grid_code": self.grid_code,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def events_after(
    session: Session, principal: Principal, after_id: int, *, limit: int = REPLAY_MAX
) -> list[FeedEvent]:
    """Return logged events with id above ``after_id`` that the principal may see, oldest first."""
    principal.require(Permission.READ_INCIDENTS)
    stmt = (
        select(
            IncidentEvent.id,
            IncidentEvent.incident_id,
            IncidentEvent.action,
            IncidentEvent.to_state,
            IncidentEvent.at,
            Incident.street_code,
            Incident.grid_code,
        )
        .join(INCIDENTS, Incident.id == IncidentEvent.incident_id)
        .where(IncidentEvent.id > after_id, incident_scope(principal))
        .order_by(IncidentEvent.id)
        .limit(limit)
    )
    return [
        FeedEvent(
            event_id=row[0],
            incident_id=row[1],
            action=row[2],
            status=row[3],
            at=_iso(row[4]),
            street_code=row[5],
            grid_code=row[6],
        )
        for row in session.execute(stmt)
    ]


def _iso(value: datetime) -> str:
    return value.isoformat()


class IncidentHub:
    """Fan-out of PostgreSQL notifications to in-process subscribers."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.subscribers: set[asyncio.Queue[FeedEvent]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def subscribe(self) -> asyncio.Queue[FeedEvent]:
        """Return a new queue that receives every event from now on."""
        queue: asyncio.Queue[FeedEvent] = asyncio.Queue(maxsize=QUEUE_MAX)
        self.subscribers.add(queue)
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=10)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[FeedEvent]) -> None:
        """Stop delivering to ``queue``."""
        self.subscribers.discard(queue)

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the feed alive across database restarts
                log.warning("incident feed listener failed (%s); reconnecting", exc)
                await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        connect = psycopg.AsyncConnection.connect
        # The listening connection is busy inside notifies(): lookups need a second one.
        async with (
            await connect(self.conninfo, autocommit=True) as conn,
            await connect(self.conninfo, autocommit=True) as lookup,
        ):
            await conn.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            async for note in conn.notifies():
                if note.channel != CHANNEL:
                    continue
                event = await self._resolve(lookup, note.payload)
                if event is None:
                    continue
                for queue in list(self.subscribers):
                    if queue.full():  # a stalled client loses the oldest event, not the feed
                        with contextlib.suppress(asyncio.QueueEmpty):
                            queue.get_nowait()
                    queue.put_nowait(event)

    @staticmethod
    async def _resolve(conn: psycopg.AsyncConnection[Any], payload: str) -> FeedEvent | None:
        try:
            body = json.loads(payload)
            incident_id = int(body["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed incident notification %r", payload[:200])
            return None
        cursor = await conn.execute(
            "SELECT street_code, grid_code FROM incident_membership WHERE id = %s", (incident_id,)
        )
        row = await cursor.fetchone()
        street, grid = (row[0], row[1]) if row else (None, None)
        return FeedEvent(
            event_id=int(body.get("event_id", 0)),
            incident_id=incident_id,
            action=str(body.get("action", "")),
            status=str(body.get("status", "")),
            at=str(body.get("at", "")),
            street_code=street,
            grid_code=grid,
        )
