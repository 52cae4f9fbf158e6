"""Access over every route: no token is 401, and a grid worker's grid is a wall on every path out.

The route list comes from the app itself, so a new route that forgets authentication fails
here without anyone having to remember to add it.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pandas as pd
import pyogrio
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.auth import Role, create_user, issue_api_key
from tests.api.ogc_sample import ORIGIN_LAT, ORIGIN_LON, load_sample
from tests.api.test_residents import _register

PROBLEM = "application/problem+json"
# Routes anyone may call: health, the OGC landing/conformance/API documents, the OpenAPI UI,
# Open311 discovery and service lists, and the vendored map assets.
PUBLIC = re.compile(
    r"^/(health|conformance|api|docs.*|redoc|openapi\.json|"
    r"open311/v2/(discovery|services)(\.\{fmt\})?|open311/v2/services/\{.*|maps/vendor.*|"
    r"collections/\{collection_id\}/tiles/\{tms\}|tileMatrixSets.*)?$"
)
PATH_VALUES = {
    "kind": "buildings",
    "collection_id": "buildings",
    "tms": "WebMercatorQuad",
    "tile_matrix_set_id": "WebMercatorQuad",
    "fmt": "json",
    "street_code": "110101001",
    "code": "110101001",
}


def _concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return PATH_VALUES.get(name, "1")

    return re.sub(r"\{([^}]+)\}", value, path)


def _api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, APIRoute]]:
    """Every APIRoute of the app with its full path (FastAPI wraps included routers)."""
    out: list[tuple[str, APIRoute]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            context = route.include_context
            out += _api_routes(route.original_router.routes, prefix + context.prefix)
    return out


def _get_routes(client: TestClient) -> list[str]:
    app: Any = client.app
    return sorted(
        {
            path
            for path, route in _api_routes(app.routes)
            if "GET" in route.methods and not PUBLIC.match(path)
        }
    )


def test_every_data_route_refuses_a_caller_without_a_token(client: TestClient) -> None:
    routes = _get_routes(client)
    assert len(routes) > 30  # the app's data routes, not a handful
    answers = {path: client.get(_concrete(path)) for path in routes}
    # GeoReport v2 answers a missing api_key with 403 and an Open311 error array.
    expected = {p: 403 if p.startswith("/open311/") else 401 for p in routes}
    assert {p: r.status_code for p, r in answers.items()} == expected
    assert all(
        r.headers["content-type"].startswith((PROBLEM, "application/xml", "application/json"))
        for r in answers.values()
    )


@pytest.fixture
def wall(session: Session, client: TestClient) -> dict[str, dict[str, str]]:
    """Grid A-01's worker, a registrar with residents in A-01 and A-02, and an analyst."""

    def key(name: str, **user: Any) -> dict[str, str]:
        token = issue_api_key(session, create_user(session, username=name, **user))
        return {"Authorization": f"Bearer {token}"}

    load_sample(session)
    registrar = key("reg", role=Role.ADMIN)
    _register(client, registrar, 1, "B0000").raise_for_status()
    _register(client, registrar, 2, "B0009").raise_for_status()
    _register(client, registrar, 3, "B0025").raise_for_status()  # B-01
    return {
        "wang": key("wang", role=Role.GRID_WORKER, grid_codes=["A-01"]),
        "ana": key("ana", role=Role.ANALYST),
    }


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_a_grid_worker_sees_only_their_grid_on_every_path(
    client: TestClient, wall: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    wang = wall["wang"]

    def ok(path: str, **params: Any) -> Any:
        response = client.get(path, headers=wang, params=params)
        assert response.status_code == 200, (path, response.text)
        return response

    residents = ok("/residents").json()
    assert {r["grid_code"] for r in residents} == {"A-01"} and all(r["masked"] for r in residents)
    assert {c["key"] for c in ok("/residents/counts").json()} == {"A-01"}

    paged = ok("/layers/buildings/features", limit=1000).json()["features"]
    items = ok("/collections/buildings/items", limit=1000).json()["features"]
    geojson = ok("/layers/buildings/export", f="geojson").json()["features"]
    csv = pd.read_csv(io.StringIO(ok("/layers/buildings/export", f="csv").text))
    gpkg_file = tmp_path / "mine.gpkg"
    gpkg_file.write_bytes(ok("/layers/buildings/export", f="gpkg").content)
    gpkg = pyogrio.read_dataframe(gpkg_file)
    for name, grids in {
        "features": {f["properties"]["grid_code"] for f in paged},
        "OGC items": {f["properties"]["grid_code"] for f in items},
        "GeoJSON export": {f["properties"]["grid_code"] for f in geojson},
        "CSV export": set(csv["grid_code"]),
        "GeoPackage export": set(gpkg["grid_code"]),
    }.items():
        assert grids == {"A-01"}, name

    x, y = _tile_xy(ORIGIN_LON + 0.004, ORIGIN_LAT + 0.001, 14)
    tile = ok(f"/collections/buildings/tiles/WebMercatorQuad/14/{y}/{x}").content
    layers = mapbox_vector_tile.decode(tile)
    tile_grids = {
        f["properties"]["grid_code"] for layer in layers.values() for f in layer["features"]
    }
    assert tile_grids == {"A-01"}

    incidents = ok("/incidents").json()
    rows = incidents["features"] if isinstance(incidents, dict) else incidents
    grids = {(r.get("properties") or r)["grid_code"] for r in rows}
    assert grids == {"A-01"}


def test_analysts_read_aggregates_but_no_person(
    client: TestClient, wall: dict[str, dict[str, str]]
) -> None:
    ana = wall["ana"]
    for path in ("/residents", "/residents/1"):
        refused = client.get(path, headers=ana)
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM, path
    assert client.get("/residents/counts", headers=ana).status_code == 200
    collections = client.get("/collections", headers=ana).json()["collections"]
    assert not {c["id"] for c in collections} & {"residents", "people", "persons", "households"}
