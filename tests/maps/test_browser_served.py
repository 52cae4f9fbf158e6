"""The served maps in headless Chromium, offline, against a live API on PostGIS.

Each map is opened from ``/maps/…`` of a live uvicorn server (so scripts come from the app's
``/static``, data from its GeoJSON endpoints and the live stream from ``/incidents/events``);
the browser cannot reach anything but 127.0.0.1. Screenshots and the measured HTML size and
time to a settled render go to ``out/maps/``. Run alone with ``pytest -m browser``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gis.gridding.models import GridCell
from gis.settings import Settings
from tests.api.live import live_server
from tests.conftest import _truncate_all
from tests.maps.browser import Browser, PageReport
from tests.maps.city import CLASS_CODE, City, load_city
from tests.maps.conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("vendor")]
MEASURES: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[City]:
    """The city, committed for the live server; every table is emptied afterwards."""
    with Session(engine) as session, session.begin():
        loaded = load_city(session)
    yield loaded
    _truncate_all(engine)
    if MEASURES:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        (SCREENSHOT_DIR / "served-maps.json").write_text(json.dumps(MEASURES, indent=2) + "\n")


@pytest.fixture(scope="module")
def server(
    database_url: str, city: City, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(database_url=database_url, gridgis_home=home, sse_heartbeat_s=0.5)
    with live_server(settings) as url:
        yield url


def _open(browser: Browser, server: str, name: str, path: str) -> PageReport:
    """Open `path`, wait for a settled render, record size and time, save a screenshot."""
    size = len(httpx.get(server + path, timeout=30).content)
    # Unload the previous test's page first: its timers may still log errors while it goes.
    _leave(browser)
    time.sleep(0.3)
    seconds = browser.open(server + path, timeout_s=30)
    report = browser.report()
    MEASURES[name] = {
        "path": path.split("api_key", maxsplit=1)[0],
        "html_bytes": size,
        "render_s": seconds,
    }
    browser.screenshot(SCREENSHOT_DIR / f"served-{name}.png")
    return report


def _assert_clean(report: PageReport, server: str) -> None:
    assert report.errors == []
    assert report.requests
    assert [u for u in report.requests if not u.startswith((server, "data:"))] == []
    assert any("/static/vendor/leaflet/leaflet.js" in u for u in report.requests)


def _leave(browser: Browser) -> None:
    """Close the page's connections (the live stream) before the server stops."""
    browser.call("Page.navigate", session=True, url="about:blank")


def test_served_grid_map_draws_cells_and_loads_buildings(
    browser: Browser, server: str, city: City, engine: Engine
) -> None:
    street = sorted(city.streets)[0]
    path = f"/maps/grid?street={street}&api_key={city.keys['root']}"

    first = _open(browser, server, "grid", path)

    cells = city.cells[street]
    assert first.probe["layers"]["cells"] == len(cells)
    assert first.probe["layers"]["streets"] == 1
    assert first.probe["svgPaths"] >= len(cells) + 1
    assert first.probe["legends"] == 1
    with Session(engine) as session:
        wkb = session.scalar(select(GridCell.geom.ST_AsBinary()).where(GridCell.code == cells[0]))
    centre = shapely.point_on_surface(shapely.from_wkb(bytes(wkb)))
    browser.evaluate(f"void gridgis.map.setView([{centre.y}, {centre.x}], 17, {{animate: false}})")
    browser.evaluate("void gridgis.map.addLayer(gridgis.layers.buildings)")
    count = browser.wait_for("gridgis.layers.buildings.ggFeatureCount", timeout_s=15)
    zoomed = browser.report()
    browser.screenshot(SCREENSHOT_DIR / "served-grid-buildings.png")
    assert count >= 1  # the OGC API answered the page's key and view
    assert zoomed.probe["labels"] >= 1
    assert any("/collections/buildings/items" in u for u in zoomed.requests)
    _assert_clean(zoomed, server)


def test_served_coverage_map_draws_the_categories(
    browser: Browser, server: str, city: City
) -> None:
    report = _open(browser, server, "coverage", f"/maps/coverage?api_key={city.keys['ana']}")

    n_cells = sum(len(c) for c in city.cells.values())
    assert report.probe["layers"]["cells"] == n_cells
    # First category on: its isochrone and its gap polygon over the cells.
    assert report.probe["svgPaths"] == n_cells + 2
    assert report.probe["layerControlInputs"] == 3  # two categories + the cells overlay
    _assert_clean(report, server)


def test_served_command_map_shows_a_new_case_without_reload(
    browser: Browser, server: str, city: City, engine: Engine
) -> None:
    key = city.keys["chief"]
    report = _open(browser, server, "incidents", f"/maps/incidents?district=110101&api_key={key}")
    before = len(city.incident_grid)
    assert report.probe["layers"]["incidents"] == before
    assert report.probe["overdueIcons"] >= 1
    assert report.probe["layers"]["cells"] == sum(len(c) for c in city.cells.values())
    browser.wait_for("window.gridgis.eventSource.readyState === 1")
    browser.evaluate("window.sameDocument = true")
    time.sleep(0.5)  # the stream subscribes to the database before it answers

    # A cell without a case yet (cases sit in every third cell), so it is no duplicate.
    with Session(engine) as session:
        wkb = session.scalar(
            select(GridCell.geom.ST_AsBinary()).where(
                GridCell.code == city.cells[sorted(city.streets)[0]][1]
            )
        )
    centre = shapely.point_on_surface(shapely.from_wkb(bytes(wkb)))
    started = time.monotonic()
    posted = httpx.post(
        f"{server}/incidents",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "class_code": CLASS_CODE,
            "lon": centre.x,
            "lat": centre.y,
            "description": "新上报: 浏览器测试",
            "client_key": "browser-live-1",
        },
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    new_id = posted.json()["id"]
    # Well inside the 30 s polling interval: the stream event made the page re-fetch.
    count = browser.wait_for(
        f"gridgis.layers.incidents.getLayers().length > {before}"
        " && gridgis.layers.incidents.getLayers().length",
        timeout_s=10,
    )
    appeared_s = time.monotonic() - started
    ids = browser.evaluate(
        "gridgis.layers.incidents.getLayers().map(function (m) {"
        " return m.feature && m.feature.properties.id; })"
    )
    after = browser.report()
    browser.screenshot(SCREENSHOT_DIR / "served-incidents-live.png")
    live_events = browser.evaluate("window.gridgis.liveEvents")
    same_document = browser.evaluate("window.sameDocument === true")
    _leave(browser)
    MEASURES["incidents"]["new_case_visible_s"] = round(appeared_s, 2)

    assert count == before + 1
    assert new_id in ids
    assert live_events >= 1
    assert same_document  # no reload happened
    _assert_clean(after, server)
