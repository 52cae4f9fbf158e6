"""The app's conventions: problem+json everywhere, health, limits, 503 on a dead database."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import anyio.to_thread
import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from gis.auth import Role
from gis.settings import Settings
from tests.api.live import live_server
from tests.conftest import PROJECT_DATA, app_client

DISTRICTS = PROJECT_DATA / "boundaries" / "beijing" / "districts"


def test_health_reports_postgis(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json()["postgis"].startswith("3.")


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    response = client.get("/no/such/thing")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_validation_error_lists_the_bad_field(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/divisions", params={"level": "province"}, headers=admin)

    body = response.json()
    assert response.status_code == 422
    assert body["type"] == "/problems/validation"
    assert body["errors"][0]["loc"] == ["query", "level"]


def test_boundary_upload_then_read_back(client: TestClient, admin: dict[str, str]) -> None:
    with (DISTRICTS / "xicheng-outline.geojson").open("rb") as fh:
        response = client.post(
            "/divisions/import",
            files={"file": ("xicheng.geojson", fh)},
            data={"level": "district"},
            headers=admin,
        )
    feature = client.get("/divisions/110102", headers=admin).json()

    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 1
    assert feature["properties"]["name"] == "西城区"
    assert feature["geometry"]["type"] == "MultiPolygon"


def test_bad_upload_returns_the_per_feature_report(
    client: TestClient, admin: dict[str, str]
) -> None:
    bad = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "110101998000", "Name": "孤儿街道"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[116.4, 39.9], [116.41, 39.9], [116.41, 39.91], [116.4, 39.9]]
                    ],
                },
            }
        ],
    }
    response = client.post(
        "/divisions/import",
        files={"file": ("bad.geojson", json.dumps(bad).encode(), "application/geo+json")},
        headers=admin,
    )

    body = response.json()
    assert response.status_code == 422
    assert body["type"] == "/problems/invalid-features"
    assert body["report"]["problems"][0]["name"] == "孤儿街道"
    assert "parent division 110101 does not exist" in body["report"]["problems"][0]["reason"]
    assert client.get("/divisions/110101998", headers=admin).status_code == 404


def test_oversized_body_is_refused_with_413(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 1000}))
    with TestClient(app) as small:
        response = small.post(
            "/divisions", content=b"x" * 5000, headers={"content-type": "application/json"}
        )

    assert response.status_code == 413
    assert response.json()["type"] == "/problems/body-too-large"


def test_dead_database_gives_503_problem_not_a_hang(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://nobody:x@127.0.0.1:9/none", gridgis_home=tmp_path
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/health")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"


def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get("/divisions")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "/problems/unauthenticated"


def test_wrong_password_and_forged_token_are_401(client: TestClient, admin: dict[str, str]) -> None:
    wrong = client.post("/auth/token", data={"username": "admin", "password": "nope nope"})
    forged = client.get("/divisions", headers={"Authorization": "Bearer ggt_forged"})

    assert wrong.status_code == 401
    assert forged.status_code == 401


def test_analyst_may_not_import_boundaries(client: TestClient, login) -> None:  # type: ignore[no-untyped-def]
    analyst = login("li", role=Role.ANALYST)

    response = client.post(
        "/divisions/import",
        files={"file": ("x.geojson", b"{}", "application/geo+json")},
        headers=analyst,
    )

    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


def test_anonymous_read_can_be_opened_by_configuration(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"anonymous_read": True}))
    with TestClient(app) as anon:
        assert anon.get("/divisions").status_code == 200
        assert anon.get("/auth/me").status_code == 401


def test_sync_request_work_runs_on_the_configured_number_of_threads(
    settings: Settings, session: Session
) -> None:
    def tokens(app_settings: Settings) -> float:
        with app_client(app_settings, session) as client:
            assert client.portal is not None
            return client.portal.call(
                lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
            )

    assert tokens(settings.model_copy(update={"worker_threads": 3})) == 3
    assert tokens(settings.model_copy(update={"worker_threads": None})) == (os.cpu_count() or 1) + 1


def test_many_clients_on_few_threads_and_connections_never_deadlock(database_url: str) -> None:
    # One thread and one pooled connection per worker: without admission control, a route
    # waiting for the connection holds the only thread that the finished request holding
    # the connection needs to answer, and everything ends in pool timeouts (503).
    narrow = Settings(
        database_url=database_url,
        worker_threads=1,
        pool_size=1,
        pool_max_overflow=0,
        pool_timeout_s=2.0,
    )

    async def storm(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            replies = await asyncio.gather(*(client.get("/health") for _ in range(40)))
        return [r.status_code for r in replies]

    with live_server(narrow) as url:
        statuses = asyncio.run(storm(url))

    assert statuses == [200] * 40
