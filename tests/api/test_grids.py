"""Grid plan routes: generate, cells, validate, activate, edits with version checks, export."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.auth import Role
from gis.boundaries import import_boundaries
from gis.synth.buildings import write_street
from tests.conftest import PROJECT_DATA

STREET = "110101011"


@pytest.fixture
def street(session: Session) -> str:
    beijing = PROJECT_DATA / "boundaries" / "beijing"
    import_boundaries(session, beijing / "districts" / "dongcheng-outline.geojson")
    import_boundaries(session, beijing / "subdistricts" / "dongcheng-all.geojson")
    write_street(session, STREET, seed=11, dwellings=False)
    return STREET


def test_generate_read_cells_validate_and_activate(
    client: TestClient, admin: dict[str, str], street: str
) -> None:
    created = client.post(f"/streets/{street}/grid-plans", json={"reason": "first"}, headers=admin)
    assert created.status_code == 201, created.text
    plan = created.json()
    cells = client.get(f"/grid-plans/{plan['id']}/cells", headers=admin)
    validation = client.post(f"/grid-plans/{plan['id']}/validate", headers=admin)
    activated = client.post(f"/grid-plans/{plan['id']}/activate", headers=admin)

    features = cells.json()["features"]
    assert cells.headers["content-type"] == "application/geo+json"
    assert plan["version"] == 1 and plan["status"] == "draft"
    assert plan["report"]["in_band"] == plan["report"]["basic_cells"] == len(features)
    assert all(300 <= f["properties"]["households"] <= 500 for f in features)
    assert validation.json()["ok"] is True
    assert activated.json()["status"] == "active"


def test_a_stale_edit_is_a_409_problem(
    client: TestClient, admin: dict[str, str], street: str
) -> None:
    plan = client.post(
        f"/streets/{street}/grid-plans", json={"method": "square"}, headers=admin
    ).json()
    body = {"kind": "rebalance", "base_version": 1, "reason": "x"}
    client.post(f"/streets/{street}/grid-plans", json={"method": "hexagon"}, headers=admin)

    response = client.post(f"/grid-plans/{plan['id']}/edits", json=body, headers=admin)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "version" in response.json()["detail"]


def test_history_rollback_and_geopackage_export(
    client: TestClient, admin: dict[str, str], street: str, tmp_path: Path
) -> None:
    first = client.post(
        f"/streets/{street}/grid-plans", json={"method": "square"}, headers=admin
    ).json()
    client.post(f"/streets/{street}/grid-plans", json={"method": "hexagon"}, headers=admin)

    back = client.post(
        f"/streets/{street}/grid-plans/rollback",
        json={"version": 1, "base_version": 2, "reason": "squares after all"},
        headers=admin,
    )
    history = client.get(f"/streets/{street}/grid-plans", headers=admin).json()
    export = client.get(f"/grid-plans/{back.json()['id']}/export?format=gpkg", headers=admin)

    assert back.status_code == 201
    assert [h["version"] for h in history] == [3, 2, 1]
    assert history[0]["cells"] == history[2]["cells"] == first["report"]["cells"]
    assert export.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "plan.gpkg"
    path.write_bytes(export.content)
    frame = gpd.read_file(path, layer="grid_cell")
    assert len(frame) == first["report"]["cells"]
    assert set(frame["plan_version"]) == {3}


def test_bad_requests_are_problems(client: TestClient, admin: dict[str, str], street: str) -> None:
    bad_band = client.post(
        f"/streets/{street}/grid-plans", json={"band": [500, 300]}, headers=admin
    )
    unknown = client.get("/grid-plans/999999", headers=admin)
    not_a_street = client.post("/streets/110101999/grid-plans", json={}, headers=admin)

    assert bad_band.status_code == 422 and "band" in bad_band.json()["detail"]
    assert unknown.status_code == 404
    assert not_a_street.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_analysts_read_but_may_not_generate_and_scope_applies(
    client: TestClient,
    login,
    street: str,  # type: ignore[no-untyped-def]
) -> None:
    analyst = login("zhao", role=Role.ANALYST)
    elsewhere = login("wang", role=Role.PLANNER, divisions=["110102"])

    refused = client.post(f"/streets/{street}/grid-plans", json={}, headers=analyst)
    outside = client.post(f"/streets/{street}/grid-plans", json={}, headers=elsewhere)
    history = client.get(f"/streets/{street}/grid-plans", headers=analyst)
    anonymous = client.get(f"/streets/{street}/grid-plans")

    assert refused.status_code == 403
    assert outside.status_code == 403 and "outside their scope" in outside.json()["detail"]
    assert history.status_code == 200
    assert anonymous.status_code == 401
