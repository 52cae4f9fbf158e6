"""Incident resources: intake, GeoJSON lists with filters and paging, log, transitions, KPIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.auth import Role
from gis.crs import wgs84_to_gcj02
from tests.api.conftest import key_headers
from tests.api.ogc_sample import ORIGIN_LAT, ORIGIN_LON, load_sample

A01 = (ORIGIN_LON + 0.001, ORIGIN_LAT + 0.0005)
A02 = (ORIGIN_LON + 0.007, ORIGIN_LAT + 0.0005)
PROBLEM = "application/problem+json"


@pytest.fixture
def people(session: Session) -> dict[str, dict[str, str]]:
    """Users with API keys (no password hashing: the tests stay fast)."""

    def login(name: str, **user: Any) -> dict[str, str]:
        return key_headers(session, name, **user)

    load_sample(session)
    return {
        "chief": login("chief", role=Role.COMMANDER),
        "wang": login("wang", role=Role.GRID_WORKER, grid_codes=["A-02"]),
        "ana": login("ana", role=Role.ANALYST),
    }


def _report(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    point = body.pop("point", A01)
    payload = {"class_code": "0102", "lon": point[0], "lat": point[1], **body}
    return client.post("/incidents", json=payload, headers=headers)


def test_intake_is_idempotent_and_reads_gcj02(client: TestClient, people: Any) -> None:
    gx, gy = (float(v) for v in wgs84_to_gcj02(*A01))
    first = _report(client, people["chief"], point=(gx, gy), crs="gcj02", client_key="app:1")
    again = _report(client, people["chief"], point=(gx, gy), crs="gcj02", client_key="app:1")

    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert first.json()["created"] and not again.json()["created"]
    body = first.json()
    assert body["grid_code"] == "A-01" and body["lon"] == pytest.approx(A01[0], abs=1e-6)


def test_bad_intake_problems_name_the_field(client: TestClient, people: Any) -> None:
    short = _report(client, people["chief"], class_code="12")
    assert short.status_code == 422 and short.headers["content-type"] == PROBLEM
    assert ["body", "class_code"] in [e["loc"] for e in short.json()["errors"]]

    unknown = _report(client, people["chief"], class_code="9999")
    assert unknown.status_code == 422 and "unknown event class '9999'" in unknown.json()["detail"]
    analyst = _report(client, people["ana"])
    assert analyst.status_code == 403 and analyst.headers["content-type"] == PROBLEM
    assert client.post("/incidents", json={}).status_code == 401


def test_geojson_list_filters_pages_and_scope(client: TestClient, people: Any) -> None:
    garbage = _report(client, people["chief"]).json()["id"]
    stall = _report(client, people["chief"], class_code="0401", point=A02).json()["id"]

    page = client.get("/incidents", headers=people["chief"], params={"limit": 100})
    assert page.status_code == 200 and page.headers["content-type"] == "application/geo+json"
    collection = page.json()
    features = {f["id"]: f for f in collection["features"]}
    assert {garbage, stall} <= set(features)
    assert features[stall]["geometry"]["type"] == "Point"
    assert features[stall]["geometry"]["coordinates"] == pytest.approx(list(A02), abs=1e-6)
    assert features[stall]["properties"]["class_code"] == "0401"
    assert features[stall]["properties"]["overdue"] is False

    def ids(headers: dict[str, str], **params: Any) -> list[int]:
        answer = client.get("/incidents", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return [f["id"] for f in answer.json()["features"]]

    assert ids(people["chief"], **{"class": "0401"}) == [stall]
    assert garbage in ids(people["chief"], status="reported", bbox="116.39,39.89,116.405,39.905")
    assert stall not in ids(people["chief"], bbox="116.39,39.89,116.405,39.905")
    assert ids(people["wang"]) == [stall]  # the worker of A-02 sees only their grid

    first = client.get("/incidents", headers=people["chief"], params={"limit": 1}).json()
    (link,) = first["links"]
    assert link["rel"] == "next" and "offset=1" in link["href"]
    second = client.get(link["href"], headers=people["chief"]).json()
    assert second["features"][0]["id"] != first["features"][0]["id"]

    bad = client.get("/incidents", headers=people["chief"], params={"status": "open"})
    assert bad.status_code == 422 and "unknown status" in bad.json()["detail"]
    assert client.get("/incidents", headers=people["ana"]).status_code == 403


def test_transitions_log_illegal_409_and_kpis(client: TestClient, people: Any) -> None:
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(days=7)  # Monday 17:00 Beijing
    case = _report(client, people["chief"], point=A02, reported_at=t0.isoformat()).json()["id"]

    def act(who: str, action: str, minutes: int, **extra: Any) -> Any:
        at = (t0 + timedelta(minutes=minutes)).isoformat()
        return client.post(
            f"/incidents/{case}/transitions",
            json={"action": action, "at": at, **extra},
            headers=people[who],
        )

    assert act("wang", "file", 1).status_code == 403  # field workers do not file
    assert act("chief", "file", 1).status_code == 200
    moved = act("chief", "dispatch", 2, expected_status="filed").json()
    assert moved["status"] == "dispatched" and moved["deadline_at"] is not None
    assert [e["action"] for e in moved["events"]] == ["report", "file", "dispatch"]

    illegal = act("chief", "close", 3)
    assert illegal.status_code == 409 and illegal.headers["content-type"] == PROBLEM
    assert "cannot close an incident that is dispatched" in illegal.json()["detail"]
    stale = act("chief", "start", 3, expected_status="filed")
    assert stale.status_code == 409 and "not 'filed'" in stale.json()["detail"]

    assert act("wang", "handle", 4).status_code == 200
    assert act("chief", "verify_pass", 5).json()["status"] == "closed"
    shown = client.get(f"/incidents/{case}", headers=people["wang"]).json()
    assert [e["action"] for e in shown["events"]][-2:] == ["handle", "close"]
    assert client.get(f"/incidents/{case + 1000}", headers=people["chief"]).status_code == 404

    kpis = client.get("/incidents/kpis", headers=people["chief"], params={"by": "grid"})
    by_grid = {k["key"]: k for k in kpis.json()}
    assert by_grid["A-02"]["closed"] == 1 and by_grid["A-02"]["closed_on_time"] == 1
    assert by_grid["A-02"]["on_time_rate"] == 1.0


def test_overdue_lists_only_running_cases_past_their_deadline(
    client: TestClient, people: Any
) -> None:
    long_ago = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Beijing
    late = _report(client, people["chief"], reported_at=long_ago.isoformat()).json()["id"]
    fresh = _report(client, people["chief"], point=A02).json()["id"]
    for action, minutes in (("file", 1), ("dispatch", 2)):
        at = (long_ago + timedelta(minutes=minutes)).isoformat()
        client.post(
            f"/incidents/{late}/transitions",
            json={"action": action, "at": at},
            headers=people["chief"],
        ).raise_for_status()

    overdue = client.get("/incidents/overdue", headers=people["chief"]).json()
    assert [r["id"] for r in overdue] == [late]
    listed = client.get("/incidents", headers=people["chief"], params={"overdue": "true"}).json()
    assert [f["id"] for f in listed["features"]] == [late]
    assert listed["features"][0]["properties"]["overdue"] is True
    assert fresh not in [r["id"] for r in overdue]
    assert client.get("/incidents/overdue", headers=people["wang"]).json() == []
