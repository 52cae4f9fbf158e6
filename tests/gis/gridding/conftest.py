"""Gridding fixtures: real Dongcheng street boundaries with synthetic buildings."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from gis.synth.buildings import write_street

QIANMEN = "110101011"  # 前门街道, 1.05 km²: small enough for quick tests


@pytest.fixture
def qianmen(dongcheng: Session) -> str:
    """前门街道 with synthetic buildings (seed 7) on the real OSM roads."""
    write_street(dongcheng, QIANMEN, seed=7)
    return QIANMEN
