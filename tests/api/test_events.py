"""The live incident stream: NOTIFY reaches SSE clients of a live server, scoped; resume works."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gis.auth import Role, create_user, issue_api_key
from gis.layers.incident_notify import notify_incident_event
from gis.layers.incidents import IncidentEvent
from gis.settings import Settings
from tests.api.live import live_server
from tests.api.ogc_sample import Sample, load_sample


@pytest.fixture
def city(db: Engine) -> Iterator[tuple[Sample, dict[str, str]]]:
    with Session(db) as session:
        sample = load_sample(session)
        keys = {}
        for name, role, grids in (
            ("chief", Role.COMMANDER, None),
            ("wang", Role.GRID_WORKER, ["A-01"]),
            ("ana", Role.ANALYST, None),
        ):
            user = create_user(session, username=name, role=role, grid_codes=grids)
            keys[name] = issue_api_key(session, user)
        session.commit()
    yield sample, keys


@pytest.fixture
def server(settings: Settings, city: Any) -> Iterator[str]:
    with live_server(settings.model_copy(update={"sse_heartbeat_s": 0.5})) as url:
        yield url


def _log_event(db: Engine, incident_id: int, action: str, status: str) -> int:
    """Append an event and NOTIFY, as the intake/transition service does, and commit."""
    with Session(db) as session:
        event = IncidentEvent(incident_id=incident_id, action=action, to_state=status, actor="t")
        session.add(event)
        session.flush()
        notify_incident_event(
            session,
            incident_id=incident_id,
            event_id=event.id,
            action=action,
            status=status,
            at=datetime.now(UTC),
        )
        session.commit()
        return event.id


def _collect(
    url: str,
    key: str,
    want: int,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    ready: threading.Event | None = None,
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    with httpx.stream(
        "GET",
        f"{url}/incidents/events",
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        timeout=timeout_s,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        if ready is not None:
            ready.set()
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                field, _, value = line.partition(":")
                current[field] = value.strip()
            elif line == "" and "data" in current:
                events.append({**current, "data": json.loads(current["data"])})
                current = {}
                if len(events) >= want:
                    break
            if time.monotonic() > deadline:
                break
    return events


def test_notify_reaches_the_stream_with_scope(db: Engine, server: str, city: Any) -> None:
    sample, keys = city
    in_a, in_b = sample.incident_ids
    results: dict[str, list[dict[str, Any]]] = {}
    ready = {name: threading.Event() for name in ("chief", "wang")}

    def listen(name: str, want: int) -> None:
        results[name] = _collect(server, keys[name], want, ready=ready[name])

    threads = [
        threading.Thread(target=listen, args=("chief", 2)),
        threading.Thread(target=listen, args=("wang", 1)),
    ]
    for thread in threads:
        thread.start()
    for event in ready.values():
        assert event.wait(10)
    time.sleep(0.3)  # the hub subscribes before answering; give the stream a moment
    first = _log_event(db, in_b, "dispatch", "dispatched")  # B-01: not the worker's grid
    second = _log_event(db, in_a, "dispatch", "dispatched")
    for thread in threads:
        thread.join(15)
    assert [int(e["id"]) for e in results["chief"]] == [first, second]
    assert [e["data"]["id"] for e in results["chief"]] == [in_b, in_a]
    assert results["chief"][0]["event"] == "dispatch"
    assert [int(e["id"]) for e in results["wang"]] == [second]


def test_last_event_id_replays_the_log(db: Engine, server: str, city: Any) -> None:
    sample, keys = city
    in_a, in_b = sample.incident_ids
    first = _log_event(db, in_a, "dispatch", "dispatched")
    second = _log_event(db, in_b, "dispatch", "dispatched")
    third = _log_event(db, in_a, "handle", "handled")
    replayed = _collect(server, keys["chief"], 2, headers={"Last-Event-ID": str(first)})
    assert [int(e["id"]) for e in replayed] == [second, third]
    worker = _collect(server, keys["wang"], 1, headers={"Last-Event-ID": str(first)})
    assert [int(e["id"]) for e in worker] == [third]


def test_roles_without_incidents_are_refused(server: str, city: Any) -> None:
    _, keys = city
    assert httpx.get(f"{server}/incidents/events").status_code == 401
    analyst = httpx.get(
        f"{server}/incidents/events", headers={"Authorization": f"Bearer {keys['ana']}"}
    )
    assert analyst.status_code == 403
