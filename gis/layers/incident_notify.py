"""PostgreSQL NOTIFY for incident events: the feed behind the API's live (SSE) stream.

`notify_incident_event` runs ``pg_notify`` in the caller's transaction, so PostgreSQL delivers
the message on commit and drops it on rollback: listeners never hear of an event that did not
happen. The payload is small JSON ``{"id", "event_id", "action", "status", "at"}`` (well under
PostgreSQL's 8,000-byte limit); listeners read details with a query.

`listen_incident_events` is the consumer side for a dedicated autocommit psycopg connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

CHANNEL: Final = "incident_events"


def event_payload(
    *, incident_id: int, event_id: int, action: str, status: str, at: datetime
) -> str:
    """Return the JSON text sent on `CHANNEL` for one event.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> event_payload(
    ...     incident_id=7, event_id=31, action="dispatch", status="dispatched",
    ...     at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    ... )
    '{"id":7,"event_id":31,"action":"dispatch","status":"dispatched","at":"2026-01-05T09:30:00+00:00"}'
    """
    body = {
        "id": incident_id,
        "event_id": event_id,
        "action": action,
        "status": status,
        "at": at.isoformat(),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def notify_incident_event(
    session: Session, *, incident_id: int, event_id: int, action: str, status: str, at: datetime
) -> None:
    """Queue a notification on `CHANNEL`; PostgreSQL sends it when the transaction commits."""
    payload = event_payload(
        incident_id=incident_id, event_id=event_id, action=action, status=status, at=at
    )
    session.execute(select(func.pg_notify(CHANNEL, payload)))


def listen_incident_events(
    conn: psycopg.Connection[Any], *, timeout_s: float | None = None
) -> Iterator[dict[str, Any]]:
    """Start listening on `CHANNEL` now and return an iterator of the decoded payloads.

    Parameters
    ----------
    conn : psycopg.Connection
        A plain psycopg connection opened with ``autocommit=True`` and used for nothing else
        (a connection inside a transaction receives notifications only between transactions).
    timeout_s : float, optional
        Stop iterating after this many seconds; None waits for ever.
    """
    # LISTEN runs here, not on first iteration, so nothing committed after this call is missed.
    conn.execute(f"LISTEN {CHANNEL}")
    return _payloads(conn, timeout_s)


def _payloads(conn: psycopg.Connection[Any], timeout_s: float | None) -> Iterator[dict[str, Any]]:
    try:
        for note in conn.notifies(timeout=timeout_s):
            if note.channel == CHANNEL:
                yield json.loads(note.payload)
    finally:
        conn.execute(f"UNLISTEN {CHANNEL}")
