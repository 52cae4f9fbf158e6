"""Fixtures shared by the gis tests: real Dongcheng street boundaries."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from gis.boundaries import import_boundaries
from tests.conftest import PROJECT_DATA


@pytest.fixture
def dongcheng(session: Session) -> Session:
    """The session with Dongcheng's district and its 17 real street boundaries."""
    beijing = PROJECT_DATA / "boundaries" / "beijing"
    import_boundaries(session, beijing / "districts" / "dongcheng-outline.geojson")
    import_boundaries(session, beijing / "subdistricts" / "dongcheng-all.geojson")
    return session
