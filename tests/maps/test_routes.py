"""The /maps routes on a real PostGIS: each map renders, holds only the caller's scope, no CDN."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.auth import Role, create_user, issue_api_key
from gis.settings import Settings
from maps.assets import require_vendor
from maps.pages import NO_CASES, NO_CELLS, NO_RUN
from tests.conftest import app_client
from tests.maps.city import City, load_city

EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)=[\"']?(?:https?:)?//", re.I)


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    with app_client(settings, session) as test_client:
        yield test_client


@pytest.fixture
def city(session: Session) -> City:
    return load_city(session)


def _js(text: str) -> str:
    """Return `text` as Jinja's ``tojson`` writes it into a script (``&`` escaped)."""
    return text.replace("&", "\\u0026")


def _get(client: TestClient, path: str, key: str | None, **params: str) -> str:
    response = client.get(path, params={**params, **({"api_key": key} if key else {})})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert EXTERNAL.search(html) is None
    return html


def test_grid_map_of_a_street_has_its_cells_only(client: TestClient, city: City) -> None:
    first, second = sorted(city.streets)
    key = city.keys["root"]

    html = _get(client, "/maps/grid", key, street=first)

    assert all(f'"{code}"' in html for code in city.cells[first])
    assert not any(f'"{code}"' in html for code in city.cells[second])
    assert city.streets[first] in html  # title and street outline tooltip
    assert "synthetic data" in html
    assert _js(f"/collections/buildings/items?limit=5000&api_key={key}&bbox={{bbox}}") in html
    assert json.dumps("王网格员")[1:-1] in html  # the first cell's worker, in its tooltip


def test_grid_map_of_a_district_has_every_street(client: TestClient, city: City) -> None:
    html = _get(client, "/maps/grid", city.keys["root"], district="110101")

    for codes in city.cells.values():
        assert all(f'"{code}"' in html for code in codes)


def test_grid_worker_sees_only_their_grid(client: TestClient, city: City) -> None:
    html = _get(client, "/maps/grid", city.keys["wang"])

    every = [code for codes in city.cells.values() for code in codes]
    shown = [code for code in every if f'"{code}"' in html]
    assert shown == [city.worker_grid]


@pytest.mark.parametrize("path", ["/maps/grid", "/maps/incidents", "/maps/coverage"])
def test_maps_need_credentials(client: TestClient, city: City, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("/maps/incidents", "ana"),  # analysts read no incident details
        ("/maps/incidents/features", "ana"),
        ("/maps/coverage", "wang"),  # grid workers read no coverage
    ],
)
def test_maps_refuse_roles_without_the_permission(
    client: TestClient, city: City, path: str, user: str
) -> None:
    response = client.get(path, params={"api_key": city.keys[user]})

    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"street": "110101999"}, 404),
        ({"district": "110199"}, 404),
        ({"street": "110101001", "district": "110101"}, 422),
        ({"street": "1101"}, 422),
    ],
)
def test_bad_areas_are_problems(
    client: TestClient, city: City, params: dict[str, str], status: int
) -> None:
    response = client.get("/maps/grid", params={**params, "api_key": city.keys["root"]})

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_incident_map_loads_cases_from_urls_and_listens(client: TestClient, city: City) -> None:
    key = city.keys["chief"]

    html = _get(client, "/maps/incidents", key, district="110101")

    assert _js(f"/maps/incidents/features?district=110101&api_key={key}") in html
    assert f"/incidents/events?api_key={key}" in html
    assert "leaflet-realtime.js" in html
    assert "Open cases per cell" in html
    assert f"{len(city.incident_grid)} open cases, {len(city.overdue_ids)} overdue" in html


def test_live_features_are_scoped_and_flag_overdue(client: TestClient, city: City) -> None:
    chief = client.get("/maps/incidents/features", params={"api_key": city.keys["chief"]})
    wang = client.get("/maps/incidents/features", params={"api_key": city.keys["wang"]})

    assert chief.headers["content-type"] == "application/geo+json"
    features = chief.json()["features"]
    assert sorted(f["properties"]["id"] for f in features) == sorted(city.incident_grid)
    overdue = sorted(f["properties"]["id"] for f in features if f["properties"]["overdue"])
    assert overdue == city.overdue_ids
    mine = sorted(i for i, grid in city.incident_grid.items() if grid == city.worker_grid)
    assert mine, "the sample must put a case in the worker's grid"
    assert sorted(f["properties"]["id"] for f in wang.json()["features"]) == mine


def test_coverage_map_switches_between_the_run_categories(client: TestClient, city: City) -> None:
    html = _get(client, "/maps/coverage", city.keys["ana"])

    assert "(kindergarten)" in html
    assert "(primary_school)" in html
    assert "Cell completeness" in html
    assert json.dumps("walking network © OpenStreetMap contributors") in html
    assert f"run {city.run_id}" in html


def test_coverage_map_of_one_category(client: TestClient, city: City) -> None:
    html = _get(client, "/maps/coverage", city.keys["ana"], category="kindergarten")
    missing = client.get("/maps/coverage", params={"category": "zoo", "api_key": city.keys["ana"]})

    assert "(kindergarten)" in html
    assert "(primary_school)" not in html
    assert missing.status_code == 404


def test_maps_of_an_empty_database_say_why_they_are_empty(
    client: TestClient, session: Session
) -> None:
    key = issue_api_key(session, create_user(session, username="boss", role=Role.ADMIN))

    grid = _get(client, "/maps/grid", key)
    incidents = _get(client, "/maps/incidents", key)
    coverage = _get(client, "/maps/coverage", key)

    assert NO_CELLS in grid
    assert NO_CASES in incidents
    assert NO_RUN in coverage


def test_missing_map_assets_are_a_503_problem_naming_the_fix(
    client: TestClient, city: City, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The server's vendor tree is missing (a checkout without the install step).
    def render_without_assets(fmap: object, **options: object) -> str:
        require_vendor(tmp_path)  # an empty directory: raises
        return ""

    monkeypatch.setattr("api.routes.maps.offline_html", render_without_assets)
    first = sorted(city.streets)[0]
    response = client.get("/maps/grid", params={"street": first, "api_key": city.keys["root"]})

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "python -m maps.assets install" in response.json()["detail"]
