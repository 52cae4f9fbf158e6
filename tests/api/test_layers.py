"""Layers API: CRUD with scope, bulk import with a per-row 422 report, exports that re-import."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.auth import Role
from gis.layers.facilities import Facility
from tests.gis.layers.conftest import EAST_GRID, STREET_CODE, WEST_GRID, Town
from tests.gis.layers.conftest import town as town  # noqa: PLC0414  (shared fixture)

FOOTPRINT = {
    "type": "Polygon",
    "coordinates": [
        [
            [116.4048, 39.9099],
            [116.4052, 39.9099],
            [116.4052, 39.9101],
            [116.4048, 39.9101],
            [116.4048, 39.9099],
        ]
    ],
}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def test_create_read_update_delete_a_facility(
    client: TestClient, admin: dict[str, str], town: Town
) -> None:
    body = {
        "type": "Feature",
        "geometry": _point(116.405, 39.91),
        "properties": {"category": "pharmacy", "name": "药店"},
    }

    created = client.post("/layers/facilities/features", json=body, headers=admin)
    fid = created.json()["id"]
    moved = client.patch(
        f"/layers/facilities/features/{fid}",
        json={"type": "Feature", "geometry": _point(116.415, 39.91), "properties": {}},
        headers=admin,
    )
    page = client.get("/layers/facilities/features?bbox=116.41,39.90,116.42,39.92", headers=admin)
    deleted = client.delete(f"/layers/facilities/features/{fid}", headers=admin)
    gone = client.get(f"/layers/facilities/features/{fid}", headers=admin)

    assert created.status_code == 201
    assert created.headers["content-type"] == "application/geo+json"
    assert created.json()["properties"]["grid_code"] == WEST_GRID
    assert moved.status_code == 200
    assert moved.json()["properties"]["grid_code"] == EAST_GRID
    assert moved.json()["properties"]["name"] == "药店"  # untouched properties stay
    assert [f["id"] for f in page.json()["features"]] == [fid]
    assert deleted.status_code == 204
    assert gone.status_code == 404


def test_bad_feature_is_a_422_with_the_report(
    client: TestClient, admin: dict[str, str], town: Town
) -> None:
    body = {"type": "Feature", "geometry": _point(39.91, 116.405), "properties": {"category": "x"}}

    response = client.post("/layers/facilities/features", json=body, headers=admin)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    reasons = response.json()["report"]["problems"][0]["reason"]
    assert "unknown category 'x'" in reasons and "swapped" in reasons


def test_grid_worker_sees_only_their_grid_and_cannot_write(
    client: TestClient, admin: dict[str, str], login: Any, town: Town
) -> None:
    worker = login("w", role=Role.GRID_WORKER, grid_codes=[WEST_GRID])
    page = client.get("/layers/buildings/features", headers=worker)
    write = client.post(
        "/layers/buildings/features",
        json={"type": "Feature", "geometry": FOOTPRINT, "properties": {"code": "N1"}},
        headers=worker,
    )
    east = client.get(f"/layers/buildings/features/{town.east_building_id}", headers=worker)

    assert [f["properties"]["code"] for f in page.json()["features"]] == ["B-W-1"]
    assert write.status_code == 403
    assert east.status_code == 404


def test_bulk_import_reports_rows_and_writes_nothing(
    client: TestClient, admin: dict[str, str], town: Town, session: Session
) -> None:
    csv = "id,category,lon,lat\n1,pharmacy,116.405,39.91\n2,nope,116.406,39.91\n3,pharmacy,,39.9\n"

    bad = client.post(
        "/layers/facilities/import",
        files={"file": ("f.csv", csv.encode(), "text/csv")},
        data={"crs": "wgs84"},
        headers=admin,
    )
    good = client.post(
        "/layers/facilities/import",
        files={
            "file": (
                "f.csv",
                csv.replace("nope", "pharmacy").replace(",,", ",116.41,").encode(),
                "text/csv",
            )
        },
        data={"crs": "wgs84"},
        headers=admin,
    )

    assert bad.status_code == 422
    assert [p["index"] for p in bad.json()["report"]["problems"]] == [3, 4]
    assert good.status_code == 200
    assert good.json()["inserted"] == 3
    assert session.execute(select(func.count()).select_from(Facility)).scalar_one() == 3


def test_exports_in_three_formats_round_trip(
    client: TestClient, admin: dict[str, str], town: Town, tmp_path: Path
) -> None:
    geojson = client.get("/layers/buildings/export?f=geojson", headers=admin)
    gpkg = client.get("/layers/buildings/export?f=gpkg", headers=admin)
    csv = client.get("/layers/buildings/export?f=csv", headers=admin)

    as_json = json.loads(geojson.content)
    (tmp_path / "b.gpkg").write_bytes(gpkg.content)
    as_gpkg = gpd.read_file(tmp_path / "b.gpkg")
    as_csv = pd.read_csv(io.StringIO(csv.text))
    assert sorted(f["properties"]["code"] for f in as_json["features"]) == ["B-E-1", "B-W-1"]
    assert sorted(as_gpkg["code"]) == ["B-E-1", "B-W-1"]
    assert set(as_csv["street_code"].astype(str)) == {STREET_CODE}
    assert as_csv["wkt"].str.startswith("MULTIPOLYGON").all()
    reimport = client.post(
        "/layers/buildings/import",
        files={"file": ("b.csv", csv.content, "text/csv")},
        data={"crs": "wgs84", "source": "test"},
        headers=admin,
    )
    assert reimport.status_code == 200, reimport.text
    assert (reimport.json()["inserted"], reimport.json()["updated"]) == (0, 2)
