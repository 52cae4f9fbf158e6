"""Fixtures shared by the gis tests: real Dongcheng street boundaries, the CLI's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gis.boundaries import import_boundaries
from gis.settings import get_settings
from tests.conftest import PROJECT_DATA


@pytest.fixture
def dongcheng(session: Session) -> Session:
    """The session with Dongcheng's district and its 17 real street boundaries."""
    beijing = PROJECT_DATA / "boundaries" / "beijing"
    import_boundaries(session, beijing / "districts" / "dongcheng-outline.geojson")
    import_boundaries(session, beijing / "subdistricts" / "dongcheng-all.geojson")
    return session


@pytest.fixture
def cli_env(db: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The CLI pointed at the test database (DATABASE_URL), its settings cache cleared."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()
