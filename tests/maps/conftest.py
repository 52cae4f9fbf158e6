"""Fixtures of the map tests: real Dongcheng streets, square cells, random incidents, a browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest

from maps.assets import install
from tests.maps import data
from tests.maps.browser import Browser

STREET_NAMES = ("东华门街道", "景山街道", "交道口街道")
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "out" / "maps"


def pytest_configure(config: pytest.Config) -> None:
    # Until pyproject.toml lists it (the lead owns that file): --strict-markers needs it.
    config.addinivalue_line("markers", "browser: opens the maps in headless Chromium")


@pytest.fixture(scope="session")
def streets() -> gpd.GeoDataFrame:
    return data.streets(STREET_NAMES)


@pytest.fixture(scope="session")
def cells(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return data.square_cells(streets, size_m=250)


@pytest.fixture(scope="session")
def incidents(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return data.random_incidents(streets, 600)


@pytest.fixture(scope="session")
def vendor() -> Path:
    """The installed vendor tree (installed from the npm registry on first use)."""
    from maps.assets import VENDOR_DIR

    install()
    return VENDOR_DIR


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with Browser() as instance:
        yield instance


@pytest.fixture
def screenshot(browser: Browser, request: pytest.FixtureRequest) -> Iterator[None]:
    """Save a screenshot after the test when GRIDGIS_SCREENSHOTS is set."""
    yield
    if os.environ.get("GRIDGIS_SCREENSHOTS"):
        browser.screenshot(SCREENSHOT_DIR / f"{request.node.name}.png")
