"""Test fixtures: a throwaway database on a real PostGIS, migrated with our Alembic scripts.

The server is TEST_DATABASE_URL when set, else the embedded cluster gridgis starts itself
(the same mechanism users get). PostGIS tests never skip: no server is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_read_session, get_session
from gis.db import Base, make_engine
from gis.migrate import scratch_database
from gis.postgis import server_url
from gis.settings import Settings

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"


def _admin_url() -> str:
    try:
        return server_url(Settings(database_url=os.environ.get("TEST_DATABASE_URL")))
    except Exception as exc:
        pytest.fail(f"no PostGIS for the tests (set TEST_DATABASE_URL or fix: {exc})")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Create ``gridgis_test_<random>`` with PostGIS and our migrations; drop it afterwards."""
    with scratch_database(_admin_url(), prefix="gridgis_test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The engine, with every table emptied after the test (for code that commits)."""
    yield engine
    _truncate_all(engine)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits become savepoints; everything is rolled back after the test."""
    with engine.connect() as conn, conn.begin() as outer:
        with Session(bind=conn, join_transaction_mode="create_savepoint") as sess:
            yield sess
        outer.rollback()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, gridgis_home=tmp_path / "home")


@pytest.fixture
def real_data() -> Path:
    """The shared real data (tests may read it); fails loudly when it is missing."""
    if not SHARED_REAL.exists():
        pytest.fail(f"shared real data not found at {SHARED_REAL}")
    return SHARED_REAL


def app_client(settings: Settings, session: Session) -> TestClient:
    """A client of ``create_app(settings)`` whose requests all use the test's ``session``.

    Use it as a context manager (``with app_client(...) as client``) to run the app's
    lifespan; nothing a request writes outlives the test's rolled-back session.
    """
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_read_session] = lambda: session
    return TestClient(app)
