"""Coverage routes: start a run, read results, statistics, isochrones, gaps; siting; roles."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth import Role
from gis.network.service import import_network
from tests.gis.coverage.campus import (
    TSINGHUA,
    campus_buildings,
    campus_facilities,
    insert_buildings,
    insert_facilities,
)
from tests.gis.coverage.test_service import ASSIGN_AREAS

BODY = {
    "network": "campus",
    "categories": ["kindergarten", "fresh_food_market"],
    "isochrone_minutes": [5],
}


@pytest.fixture
def campus(session: Session) -> Session:
    import_network(session, TSINGHUA, name="campus")
    insert_buildings(session, campus_buildings(TSINGHUA))
    insert_facilities(session, campus_facilities(TSINGHUA))
    session.execute(text(ASSIGN_AREAS))
    return session


def test_run_results_stats_isochrones_gaps_and_sites(
    client: TestClient, campus: Session, admin: dict[str, str]
) -> None:
    started = client.post("/coverage/runs", json=BODY, headers=admin)
    assert started.status_code == 201, started.text
    run = started.json()
    run_id = run["id"]
    assert run["created_by"] == "admin"
    assert run["summary"]["buildings"] == 521

    listed = client.get("/coverage/runs", headers=admin).json()
    assert [r["id"] for r in listed["runs"]] == [run_id]

    page = client.get(
        f"/coverage/runs/{run_id}/buildings",
        params={"category": "kindergarten", "limit": 50},
        headers=admin,
    )
    assert page.headers["content-type"] == "application/geo+json"
    body = page.json()
    assert body["numberReturned"] == 50 and body["next_offset"] == 50
    first = body["features"][0]["properties"]
    assert first["category"] == "kindergarten" and "residents" in first  # admin reads people

    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/coverage/runs/{run_id}/buildings.csv", headers=admin
    ).text)))  # fmt: skip
    assert len(rows) == 2 * 521

    stats = client.get(f"/coverage/runs/{run_id}/stats", headers=admin).json()
    codes = {a["code"] for a in stats["areas"]}
    assert codes == {"110108001", "110108002"}
    complete = [a for a in stats["areas"] if a["category"] is None]
    assert all(0 <= a["share_all"] <= 1 for a in complete)

    iso = client.get(
        f"/coverage/runs/{run_id}/isochrones", params={"method": "network"}, headers=admin
    ).json()
    assert iso["numberReturned"] == run["summary"]["isochrone_rows"] // 2
    assert {f["properties"]["minutes"] for f in iso["features"]} == {5}
    assert iso["features"][0]["geometry"]["type"] == "MultiPolygon"
    ogc = client.get("/collections/isochrones/items", params={"limit": 3}, headers=admin)
    assert ogc.status_code == 200 and ogc.json()["numberReturned"] == 3  # listed once filled

    gaps = client.get(
        f"/coverage/runs/{run_id}/gaps", params={"category": "kindergarten"}, headers=admin
    ).json()
    assert gaps["polygons"]["features"][0]["properties"]["category"] == "kindergarten"
    uncovered = sum(g["residents_uncovered"] for g in gaps["per_grid"])
    within = run["summary"]["categories"]["kindergarten"]["residents_within"]
    assert uncovered == pytest.approx(run["summary"]["residents"] - within)

    sited = client.post(
        f"/coverage/runs/{run_id}/sites", json={"category": "kindergarten", "k": 3}, headers=admin
    ).json()
    gains = [f["properties"]["gain_residents"] for f in sited["picks"]["features"]]
    assert len(gains) == 3 and gains == sorted(gains, reverse=True) and gains[-1] > 0


def test_supplied_candidates_are_snapped_or_reported(
    client: TestClient, campus: Session, admin: dict[str, str]
) -> None:
    run_id = client.post("/coverage/runs", json=BODY | {"isochrones": False}, headers=admin).json()[
        "id"
    ]
    candidates = [[116.3200, 40.0000], [116.3150, 40.0050], [116.5, 40.5]]

    sited = client.post(
        f"/coverage/runs/{run_id}/sites",
        json={"category": "kindergarten", "k": 2, "candidates": candidates},
        headers=admin,
    ).json()

    assert sited["candidates"] == "layer"
    assert sited["unsnapped_candidates"] == [2]
    assert {f["properties"]["candidate"] for f in sited["picks"]["features"]} <= {0, 1}


def test_analysts_get_aggregates_and_grid_workers_nothing(
    client: TestClient, campus: Session, admin: dict[str, str], login: Callable[..., dict[str, str]]
) -> None:
    campus.execute(  # one building alone in its grid cell, with two residents
        text(
            "WITH b AS (UPDATE building SET residents = 2"
            "  WHERE id = (SELECT min(id) FROM building) RETURNING id)"
            " UPDATE building_membership m SET grid_code = '1101080019999' FROM b WHERE m.id = b.id"
        )
    )
    run_id = client.post("/coverage/runs", json=BODY | {"isochrones": False}, headers=admin).json()[
        "id"
    ]
    analyst = login("ana", role=Role.ANALYST)
    worker = login("wang", role=Role.GRID_WORKER)

    page = client.get(f"/coverage/runs/{run_id}/buildings", headers=analyst).json()
    assert "residents" not in page["features"][0]["properties"]
    grid = client.get(
        f"/coverage/runs/{run_id}/stats", params={"level": "grid"}, headers=analyst
    ).json()
    lone = [a for a in grid["areas"] if a["code"] == "1101080019999"]
    assert len(lone) == 3  # two categories and the completeness row
    assert all(a["suppressed"] and a["residents"] is None for a in lone)
    assert all(a["residents"] > 0 for a in grid["areas"] if a["code"] != "1101080019999")
    as_admin = client.get(
        f"/coverage/runs/{run_id}/stats", params={"level": "grid"}, headers=admin
    ).json()
    assert {a["residents"] for a in as_admin["areas"] if a["code"] == "1101080019999"} == {2}
    assert client.get(f"/coverage/runs/{run_id}", headers=worker).status_code == 403
    refused = client.post("/coverage/runs", json=BODY, headers=worker)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert client.delete(f"/coverage/runs/{run_id}", headers=worker).status_code == 403
    assert client.get(f"/coverage/runs/{run_id}", headers=analyst).status_code == 200


def test_a_deleted_run_is_gone_with_its_results(
    client: TestClient, campus: Session, admin: dict[str, str]
) -> None:
    run_id = client.post("/coverage/runs", json=BODY | {"isochrones": False}, headers=admin).json()[
        "id"
    ]

    deleted = client.delete(f"/coverage/runs/{run_id}", headers=admin)

    assert deleted.status_code == 204
    assert client.get(f"/coverage/runs/{run_id}", headers=admin).status_code == 404
    assert client.get(f"/coverage/runs/{run_id}/stats", headers=admin).status_code == 404
    assert client.get("/coverage/runs", headers=admin).json()["runs"] == []
    again = client.delete(f"/coverage/runs/{run_id}", headers=admin)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"


def test_errors_are_problems(client: TestClient, campus: Session, admin: dict[str, str]) -> None:
    missing = client.get("/coverage/runs/424242", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "coverage run 424242 not found"
    unknown = client.post("/coverage/runs", json=BODY | {"network": "nowhere"}, headers=admin)
    assert unknown.status_code == 404
    bad = client.post("/coverage/runs", json=BODY | {"categories": ["bakery"]}, headers=admin)
    assert bad.status_code == 422
    assert "bakery" in bad.json()["detail"]
