"""API fixtures: the real app factory on the test database, one rolled-back session per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.settings import Settings
from tests.conftest import app_client


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    with app_client(settings, session) as test_client:
        yield test_client


def _login(client: TestClient, session: Session, username: str, **user: object) -> dict[str, str]:
    from gis.auth import create_user

    create_user(session, username=username, password="correct horse", **user)  # type: ignore[arg-type]
    token = client.post(
        "/auth/token", data={"username": username, "password": "correct horse"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    """Headers of a logged-in admin."""
    from gis.auth import Role

    return _login(client, session, "admin", role=Role.ADMIN, can_unmask=True)


@pytest.fixture
def login(client: TestClient, session: Session):  # type: ignore[no-untyped-def]
    """Log in a new user: ``login("wang", role=Role.GRID_WORKER, grid_codes=[...])``."""

    def make(username: str, **user: object) -> dict[str, str]:
        return _login(client, session, username, **user)

    return make


def key_headers(session: Session, username: str, **user: object) -> dict[str, str]:
    """Create a user with an API key and return its headers (no password hashing: fast)."""
    from gis.auth import create_user, issue_api_key

    key = issue_api_key(session, create_user(session, username=username, **user))  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {key}"}
