"""A worker remembers accepted credentials briefly: what changes at once, what within the TTL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth import Principal, Role, create_user, issue_api_key
from gis.auth_cache import PrincipalCache
from gis.settings import Settings
from gis.users import AppUser
from tests.conftest import app_client


def _client(settings: Settings, session: Session, auth_cache_s: float) -> TestClient:
    return app_client(settings.model_copy(update={"auth_cache_s": auth_cache_s}), session)


def _machine_key(session: Session, role: Role = Role.ANALYST) -> tuple[int, str]:
    user = create_user(session, username="feeder", role=role)
    return user.id, issue_api_key(session, user)


@pytest.mark.parametrize(
    ("role", "path", "refused"),
    [
        (Role.ANALYST, "/collections", 401),
        (Role.COMMANDER, "/open311/v2/requests.json", 403),  # GeoReport v2: invalid api_key
    ],
)
def test_a_disabled_user_is_refused_once_the_cache_lifetime_has_passed(
    settings: Settings, session: Session, role: Role, path: str, refused: int
) -> None:
    user_id, key = _machine_key(session, role)
    params = {"api_key": key}  # as GDAL and Open311 clients send it
    with _client(settings, session, auth_cache_s=0.3) as client:
        assert client.get(path, params=params).status_code == 200
        # another process disables the user: this worker trusts its check for 0.3 s at most
        session.execute(text("UPDATE app_user SET active = false WHERE id = :id"), {"id": user_id})
        assert client.get(path, params=params).status_code == 200  # remembered
        time.sleep(0.35)
        assert client.get(path, params=params).status_code == refused


def test_without_a_cache_every_request_is_checked(settings: Settings, session: Session) -> None:
    user_id, key = _machine_key(session)
    headers = {"Authorization": f"Bearer {key}"}
    with _client(settings, session, auth_cache_s=0) as client:
        assert client.get("/collections", headers=headers).status_code == 200
        session.execute(text("UPDATE app_user SET active = false WHERE id = :id"), {"id": user_id})
        assert client.get("/collections", headers=headers).status_code == 401


def test_a_replaced_key_stops_working_at_once_in_this_process(
    settings: Settings, session: Session
) -> None:
    user_id, old_key = _machine_key(session)
    with _client(settings, session, auth_cache_s=60) as client:
        assert client.get("/collections", headers={"X-API-Key": old_key}).status_code == 200
        user = session.get(AppUser, user_id)
        assert user is not None
        new_key = issue_api_key(session, user)
        assert client.get("/collections", headers={"X-API-Key": old_key}).status_code == 401
        assert client.get("/collections", headers={"X-API-Key": new_key}).status_code == 200


def test_a_token_is_never_remembered_past_its_own_expiry() -> None:
    cache = PrincipalCache(ttl_s=60)
    who = Principal(username="li", role=Role.ANALYST)
    cache.put("expired", who, datetime.now(UTC) - timedelta(seconds=1))
    cache.put("soon", who, datetime.now(UTC) + timedelta(seconds=0.2))
    cache.put("later", who, datetime.now(UTC) + timedelta(hours=1))
    assert cache.get("expired") is None
    assert cache.get("soon") is who
    time.sleep(0.25)
    assert cache.get("soon") is None
    assert cache.get("later") is who


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest() -> None:
    cache = PrincipalCache(ttl_s=60, max_entries=3)
    for n in range(5):
        cache.put(f"d{n}", Principal(username=f"u{n}", role=Role.ANALYST))
    assert [cache.get(f"d{n}") is not None for n in range(5)] == [False, False, True, True, True]
