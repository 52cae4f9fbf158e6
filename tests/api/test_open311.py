"""Open311 GeoReport v2: services from the class table, requests as real incidents, errors.

Expected values come from the spec (http://wiki.open311.org/GeoReport_v2) and from the seed
table read here with the csv module, not from the code under test.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.app import create_app
from gis.auth import Role, create_user, issue_api_key
from gis.crs import wgs84_to_gcj02
from gis.errors import InvalidInputError
from gis.layers.incidents import Incident, IncidentEvent
from gis.settings import Settings
from gis.users import AppUser
from tests.api.live import live_server
from tests.api.ogc_sample import ORIGIN_LAT, ORIGIN_LON, Sample, load_sample

BASE = "/open311/v2"
# A point inside cell A-01 of the sample city (WGS84); in GCJ-02 it reads ~600 m east.
A01_POINT = (ORIGIN_LON + 0.001, ORIGIN_LAT + 0.0005)


def _event_classes() -> list[dict[str, str]]:
    text = resources.files("gis.data").joinpath("classes/events.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@pytest.fixture
def city(session: Session) -> dict[str, Any]:
    sample = load_sample(session)
    hotline = create_user(session, username="hotline", role=Role.COMMANDER)
    worker = create_user(session, username="wang", role=Role.GRID_WORKER, grid_codes=["A-02"])
    return {
        "sample": sample,
        "key": issue_api_key(session, hotline),
        "worker_key": issue_api_key(session, worker),
    }


def _post(client: TestClient, fmt: str, **fields: str) -> httpx.Response:
    return client.post(f"{BASE}/requests.{fmt}", data=fields)


def _request(
    city: dict[str, Any], point: tuple[float, float] = A01_POINT, **extra: str
) -> dict[str, str]:
    return {
        "api_key": city["key"],
        "service_code": "0102",
        "lat": str(point[1]),
        "long": str(point[0]),
        "description": "垃圾桶满溢",
        **extra,
    }


# ------------------------------------------------------------------------------ services
def test_services_are_the_event_classes_in_json_and_xml(client: TestClient) -> None:
    expected = {r["major_code"] + r["minor_code"]: r for r in _event_classes()}

    listed = client.get(f"{BASE}/services.json")
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("application/json")
    by_code = {s["service_code"]: s for s in listed.json()}
    assert set(by_code) == set(expected)
    assert by_code["0102"]["service_name"] == "暴露垃圾"
    assert by_code["0102"]["group"] == "市容环境"
    assert by_code["0102"]["metadata"] is True and by_code["0102"]["type"] == "realtime"

    xml = client.get(f"{BASE}/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert sorted(codes) == sorted(expected)
    assert {s.findtext("metadata") for s in root.findall("service")} == {"true"}


def test_service_definition_declares_the_coordinate_system_extension(client: TestClient) -> None:
    body = client.get(f"{BASE}/services/0102.json").json()
    attrs = {a["code"]: a for a in body["attributes"]}
    assert body["service_code"] == "0102"
    assert attrs["coordinate_system"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in attrs["coordinate_system"]["values"]} >= {"wgs84", "gcj02", "bd09"}
    assert attrs["coordinate_system"]["required"] is False

    root = ET.fromstring(client.get(f"{BASE}/services/0102.xml").content)
    assert root.tag == "service_definition"
    keys = root.findall("./attributes/attribute[code='coordinate_system']/values/value/key")
    assert "gcj02" in [k.text for k in keys]

    missing = client.get(f"{BASE}/services/9999.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "service_code '9999' not found"}]


def test_discovery_names_the_spec_and_both_formats(client: TestClient) -> None:
    body = client.get(f"{BASE}/discovery.json").json()
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert ET.fromstring(client.get(f"{BASE}/discovery.xml").content).tag == "discovery"


# ------------------------------------------------------------------------------ requests
def test_gcj02_request_becomes_an_incident_in_the_right_grid(
    client: TestClient, session: Session, city: dict[str, Any]
) -> None:
    gx, gy = (float(v) for v in wgs84_to_gcj02(*A01_POINT))
    answer = _post(
        client,
        "json",
        **_request(city, (gx, gy), **{"attribute[coordinate_system]": "gcj02"}),
    )

    assert answer.status_code == 201, answer.text
    (item,) = answer.json()
    incident = session.get_one(Incident, int(item["service_request_id"]))
    assert (incident.major_code, incident.minor_code, incident.status) == ("01", "02", "reported")
    assert incident.grid_code == "A-01" and incident.channel == "open311"
    log = session.execute(
        select(IncidentEvent.action).where(IncidentEvent.incident_id == incident.id)
    ).scalars()
    assert list(log) == ["report"]

    (shown,) = client.get(
        f"{BASE}/requests/{incident.id}.json", params={"api_key": city["key"]}
    ).json()
    assert shown["status"] == "open" and shown["service_code"] == "0102"
    assert shown["service_name"] == "暴露垃圾" and shown["agency_responsible"] == "环卫"
    assert shown["long"] == pytest.approx(A01_POINT[0], abs=1e-6)
    assert shown["lat"] == pytest.approx(A01_POINT[1], abs=1e-6)
    assert shown["requested_datetime"].endswith("+00:00")

    # Read as WGS84, the same numbers would have opened a case in another grid.
    plain = _post(client, "json", **_request(city, (gx, gy), description="as wgs84"))
    wrong = session.get_one(Incident, int(plain.json()[0]["service_request_id"]))
    assert wrong.grid_code != "A-01"


def test_post_in_xml_and_errors_in_open311_format(
    client: TestClient, session: Session, city: dict[str, Any]
) -> None:
    made = _post(client, "xml", **_request(city))
    assert made.status_code == 201 and made.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(made.content)
    assert root.tag == "service_requests"
    assert root.findtext("./request/service_request_id", "").isdigit()

    no_key = _post(client, "xml", **{k: v for k, v in _request(city).items() if k != "api_key"})
    assert no_key.status_code == 403
    error = ET.fromstring(no_key.content).find("error")
    assert error is not None and error.findtext("code") == "403"
    assert "api_key" in (error.findtext("description") or "")

    bad_key = _post(client, "json", **_request(city, api_key="ggk_not-a-key"))
    assert bad_key.status_code == 403 and bad_key.json()[0]["code"] == 403

    cases = [
        ({"service_code": "9999"}, "service_code"),
        ({"lat": ""}, "lat: required"),
        ({"long": "east"}, "long: 'east' is not a number"),
        ({"attribute[coordinate_system]": "mars"}, "attribute[coordinate_system]"),
        ({"lat": "116.401", "long": "39.9005"}, "outside China"),
    ]
    for change, reason in cases:
        refused = _post(client, "json", **_request(city, **change))
        assert refused.status_code == 400, (change, refused.text)
        (err,) = refused.json()
        assert err["code"] == 400 and reason in err["description"], (change, err)
    assert session.query(Incident).filter(Incident.channel == "open311").count() == 1


def test_unusable_input_is_an_open311_400_not_a_server_error(
    client: TestClient, city: dict[str, Any]
) -> None:
    # Each of these once answered 500, or 400 as problem+json instead of an Open311 error.
    key = {"api_key": city["key"]}
    as_json = {"content-type": "application/json"}
    answers = {
        "body not UTF-8": client.post(f"{BASE}/requests.json", content=b"\xfc{", headers=as_json),
        "attribute not an object": client.post(
            f"{BASE}/requests.json", json={**_request(city), "attribute": "urgent"}
        ),
        "multipart without boundary": client.post(
            f"{BASE}/requests.json", content=b"--", headers={"content-type": "multipart/form-data"}
        ),
        "unpaired surrogate": client.post(  # json.dumps escapes it as \\ud800
            f"{BASE}/requests.json",
            content=json.dumps({**_request(city), "description": "\ud800"}),
            headers=as_json,
        ),
        "NUL in a field": _post(client, "json", **_request(city, description="a\x00b")),
        "NUL in a token": client.get(f"{BASE}/tokens/a%00b.json", params=key),
        "a digit int() refuses": client.get(
            f"{BASE}/requests.json", params={**key, "service_request_id": "\u00b2"}
        ),
        "no 90 days before end_date": client.get(
            f"{BASE}/requests.json", params={**key, "end_date": "0001-01-02T00:00:00Z"}
        ),
    }
    for case, answer in answers.items():
        assert answer.status_code == 400, (case, answer.text)
        assert answer.headers["content-type"].startswith("application/json"), case
        assert answer.json()[0]["code"] == 400, case


def test_xml_replaces_characters_xml_cannot_hold(client: TestClient, city: dict[str, Any]) -> None:
    made = _post(client, "json", **_request(city, description="bell\x07 rings"))
    assert made.status_code == 201, made.text
    request_id = made.json()[0]["service_request_id"]

    xml = client.get(f"{BASE}/requests/{request_id}.xml", params={"api_key": city["key"]})
    assert ET.fromstring(xml.content).findtext("./request/description") == "bell\ufffd rings"


def test_client_key_makes_posting_idempotent_and_gives_a_token(
    client: TestClient, city: dict[str, Any]
) -> None:
    fields = _request(city, **{"attribute[client_key]": "app-7:42"})
    first = _post(client, "json", **fields)
    again = _post(client, "json", **fields)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    token = first.json()[0]["token"]
    found = client.get(f"{BASE}/tokens/{token}.json", params={"api_key": city["key"]}).json()
    assert found == [{"service_request_id": first.json()[0]["service_request_id"], "token": token}]
    assert (
        client.get(f"{BASE}/tokens/nope.json", params={"api_key": city["key"]}).status_code == 404
    )


def test_a_client_key_that_could_not_be_a_token_is_refused(
    client: TestClient, city: dict[str, Any]
) -> None:
    refused = _post(client, "json", **_request(city, **{"attribute[client_key]": "app/7"}))

    assert refused.status_code == 400
    assert "client_key" in refused.json()[0]["description"]


def test_a_failed_request_writes_nothing(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # The app's own sessions (not the test's): a request that fails must roll back what it
    # wrote before failing, although its error leaves as an Open311 array, not a problem.
    with Session(db) as session, session.begin():
        key = issue_api_key(session, create_user(session, username="hotline", role=Role.ADMIN))

    def write_then_fail(session: Session, **_: Any) -> None:
        create_user(session, username="half-written", role=Role.ANALYST)
        session.flush()
        raise InvalidInputError("the location is outside every street")

    monkeypatch.setattr("api.routes.open311.report_incident", write_then_fail)
    app = create_app(Settings(database_url=db.url.render_as_string(hide_password=False)))
    with TestClient(app) as client:
        failed = _post(client, "json", **_request({"key": key}))

    assert failed.status_code == 400
    assert failed.json() == [{"code": 400, "description": "the location is outside every street"}]
    with Session(db) as session:
        assert session.scalar(select(AppUser).where(AppUser.username == "half-written")) is None


def test_get_requests_filters_and_scope(client: TestClient, city: dict[str, Any]) -> None:
    key = {"api_key": city["key"]}
    garbage = _post(client, "json", **_request(city)).json()[0]["service_request_id"]
    stall_point = (ORIGIN_LON + 0.007, ORIGIN_LAT + 0.0005)  # cell A-02
    stall = _post(client, "json", **_request(city, stall_point, service_code="0401")).json()[0][
        "service_request_id"
    ]

    def ids(**params: str) -> list[str]:
        answer = client.get(f"{BASE}/requests.json", params={**key, **params})
        assert answer.status_code == 200, answer.text
        return [r["service_request_id"] for r in answer.json()]

    assert ids() == [stall, garbage]  # newest first; the sample's January cases are > 90 days
    assert ids(service_code="0401") == [stall]
    assert ids(service_code="0102,0401", status="closed") == []
    assert ids(status="open") == [stall, garbage]
    sample: Sample = city["sample"]
    old_ids = ",".join(str(i) for i in sample.incident_ids)
    # service_request_id overrides every other filter, dates included.
    assert sorted(ids(service_request_id=old_ids, status="open")) == sorted(
        str(i) for i in sample.incident_ids
    )
    closed = client.get(f"{BASE}/requests/{sample.incident_ids[1]}.json", params=key).json()[0]
    assert closed["status"] == "closed"
    january = {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-01-31T00:00:00Z"}
    assert sorted(ids(**january)) == sorted(str(i) for i in sample.incident_ids)

    too_long = client.get(
        f"{BASE}/requests.json",
        params={**key, "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
    )
    assert too_long.status_code == 400 and "90 days" in too_long.json()[0]["description"]
    naive = client.get(f"{BASE}/requests.json", params={**key, "end_date": "2026-06-01T00:00"})
    assert naive.status_code == 400 and "end_date" in naive.json()[0]["description"]

    # The grid worker of A-02 sees only the stall; the garbage is not there for them.
    worker = {"api_key": city["worker_key"]}
    assert [
        r["service_request_id"] for r in client.get(f"{BASE}/requests.json", params=worker).json()
    ] == [stall]
    assert client.get(f"{BASE}/requests/{garbage}.json", params=worker).status_code == 404
    anonymous = client.get(f"{BASE}/requests.json")
    assert anonymous.status_code == 403 and anonymous.json()[0]["code"] == 403


# ------------------------------------------------------------------------- live stream
@pytest.fixture
def live(db: Engine, settings: Settings) -> Iterator[tuple[str, str, str]]:
    with Session(db) as session:
        load_sample(session)
        hotline = create_user(session, username="hotline", role=Role.COMMANDER)
        chief = create_user(session, username="chief", role=Role.COMMANDER)
        keys = issue_api_key(session, hotline), issue_api_key(session, chief)
        session.commit()
    with live_server(settings.model_copy(update={"sse_heartbeat_s": 0.5})) as url:
        yield url, *keys


def _stream(url: str, key: str, want: int, ready: threading.Event) -> list[dict[str, Any]]:
    """Read ``want`` SSE messages (id, event, data) from the incident stream."""
    events: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + 15
    with httpx.stream(
        "GET", f"{url}/incidents/events", headers={"Authorization": f"Bearer {key}"}, timeout=15
    ) as response:
        assert response.status_code == 200
        ready.set()
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                name, _, value = line.partition(":")
                current[name] = value.strip()
            elif line == "" and "data" in current:
                events.append({**current, "data": json.loads(current["data"])})
                current = {}
            if len(events) >= want or time.monotonic() > deadline:
                break
    return events


def test_json_and_xml_requests_appear_on_the_live_stream(
    live: tuple[str, str, str],
) -> None:
    url, hotline_key, chief_key = live
    ready = threading.Event()
    seen: list[dict[str, Any]] = []
    listener = threading.Thread(target=lambda: seen.extend(_stream(url, chief_key, 2, ready)))
    listener.start()
    assert ready.wait(10)
    time.sleep(0.3)  # the stream subscribes before it answers; let it settle

    fields = {
        "api_key": hotline_key,
        "service_code": "0102",
        "lat": str(A01_POINT[1]),
        "long": str(A01_POINT[0]),
    }
    as_json = httpx.post(f"{url}{BASE}/requests.json", data=fields, timeout=10)
    as_xml = httpx.post(
        f"{url}{BASE}/requests.xml",
        data={**fields, "service_code": "0401", "description": "占道经营"},
        timeout=10,
    )
    listener.join(20)

    assert as_json.status_code == 201 and as_xml.status_code == 201
    assert as_xml.headers["content-type"].startswith("text/xml")
    json_id = int(as_json.json()[0]["service_request_id"])
    xml_id = int(ET.fromstring(as_xml.content).findtext("./request/service_request_id", "0"))
    assert [(e["data"]["id"], e["event"], e["data"]["status"]) for e in seen] == [
        (json_id, "report", "reported"),
        (xml_id, "report", "reported"),
    ]
    assert {e["data"]["grid_code"] for e in seen} == {"A-01"}
    assert datetime.fromisoformat(seen[0]["data"]["at"]) > datetime.now(UTC) - timedelta(minutes=5)
