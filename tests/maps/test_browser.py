"""The three maps in headless Chromium, offline: layers drawn, no console errors, live updates.

Run alone with ``pytest -m browser``. Screenshots go to ``out/maps/`` when GRIDGIS_SCREENSHOTS
is set.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from maps import coverage_map, grid_plan_map, incident_map, write_map
from maps.base import feature_collection
from tests.maps.browser import Browser, PageReport, serve

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("vendor")]


def _assert_clean(report: PageReport, base: str) -> None:
    assert report.errors == []
    assert report.requests, "the page made no request at all"
    outside = [url for url in report.requests if not url.startswith((base, "data:"))]
    assert outside == []


def _buildings(cells: gpd.GeoDataFrame) -> bytes:
    """Small squares at the cell label points, as the buildings endpoint would return them."""
    points = shapely.point_on_surface(cells.geometry.to_numpy())
    squares = shapely.buffer(points, 0.0002, cap_style="square")
    return json.dumps(feature_collection(squares)).encode()


def _favicon() -> bytes:
    return b""


def test_grid_plan_map_draws_offline(
    tmp_path: Path, browser: Browser, cells, streets, screenshot
) -> None:
    requested: list[str] = []

    def buildings() -> bytes:
        requested.append("buildings")
        return _buildings(cells)

    fmap = grid_plan_map(
        cells, streets=streets, buildings_url="buildings.geojson?bbox={bbox}", synthetic=True
    )
    write_map(fmap, tmp_path / "grid.html", link=True)
    routes = {"/buildings.geojson": buildings, "/favicon.ico": _favicon}
    with serve(tmp_path, routes) as base:
        browser.open(base + "grid.html")
        first = browser.report()
        assert first.probe["layers"]["cells"] == len(cells)
        assert first.probe["layers"]["streets"] == len(streets)
        assert first.probe["svgPaths"] >= len(cells) + len(streets)
        assert first.probe["legends"] == 1
        assert first.probe["labels"] == 0  # below the label zoom
        assert requested == []  # buildings are on demand

        centre = shapely.point_on_surface(cells.geometry.iloc[len(cells) // 2])
        browser.evaluate(
            f"void gridgis.map.setView([{centre.y}, {centre.x}], 16, {{animate: false}})"
        )
        browser.evaluate("void gridgis.map.addLayer(gridgis.layers.buildings)")
        browser.wait_for("gridgis.layers.buildings.getLayers().length > 0")
        zoomed = browser.report()
    assert 0 < zoomed.probe["labels"] <= 400
    assert requested
    _assert_clean(zoomed, base)


def test_incident_map_draws_clusters_heat_and_overdue(
    tmp_path: Path, browser: Browser, cells, incidents, screenshot
) -> None:
    fmap = incident_map(incidents, cells=cells, heat_show=True, now=None, synthetic=True)
    write_map(fmap, tmp_path / "incidents.html", link=True)
    with serve(tmp_path, {"/favicon.ico": _favicon}) as base:
        browser.open(base + "incidents.html")
        report = browser.report()
    assert report.probe["layers"]["incidents"] == len(incidents)
    assert 0 < report.probe["clusterIcons"] < len(incidents)
    assert report.probe["heatCanvases"] == 1
    assert report.probe["overdueIcons"] > 0
    assert report.probe["layers"]["cells"] == len(cells)
    _assert_clean(report, base)


def test_coverage_map_switches_categories(
    tmp_path: Path, browser: Browser, cells, screenshot
) -> None:
    centre = shapely.union_all(cells.geometry.to_numpy()).centroid
    iso_a = gpd.GeoDataFrame({"name": ["a"]}, geometry=[centre.buffer(0.006)], crs=4326)
    iso_b = gpd.GeoDataFrame(
        {"name": ["b", "c"]}, geometry=[centre.buffer(0.004), centre.buffer(0.009)], crs=4326
    )
    gap = gpd.GeoDataFrame({"residents": [42]}, geometry=[centre.buffer(0.002).envelope], crs=4326)
    sites = gpd.GeoDataFrame(
        {"category": ["clinic"], "name": ["new clinic"]}, geometry=[centre], crs=4326
    )
    scored = cells.assign(completeness=np.random.default_rng(3).uniform(0, 1, len(cells)))
    fmap = coverage_map(
        scored,
        isochrones_by_category={"clinic": iso_a, "school": iso_b},
        gaps_by_category={"clinic": gap},
        sites=sites,
    )
    write_map(fmap, tmp_path / "coverage.html", link=True)
    with serve(tmp_path, {"/favicon.ico": _favicon}) as base:
        browser.open(base + "coverage.html")
        clinic = browser.report()
        radios = "document.querySelectorAll('.leaflet-control-layers-base input')"
        browser.evaluate(f"{radios}[1].click()")
        browser.wait_for("gridgis.map.hasLayer(gridgis.layers['category:school'])")
        school = browser.report()
        on_map = browser.evaluate("gridgis.map.hasLayer(gridgis.layers['category:clinic'])")
    # clinic: 1 isochrone + 1 gap + 1 site; school: 2 isochrones.
    assert clinic.probe["svgPaths"] == len(cells) + 3
    assert school.probe["svgPaths"] == len(cells) + 2
    assert on_map is False
    _assert_clean(school, base)


def test_live_incident_appears_without_reload(
    tmp_path: Path, browser: Browser, incidents, screenshot
) -> None:
    live = incidents.iloc[:50]
    state = {"frame": live}

    def current() -> bytes:
        frame = state["frame"]
        return json.dumps(
            feature_collection(frame.geometry.to_numpy(), frame[["id", "status"]])
        ).encode()

    fmap = incident_map(live, live_url="live.geojson", live_interval_ms=300, heat=False)
    write_map(fmap, tmp_path / "live.html", link=True)
    with serve(tmp_path, {"/live.geojson": current, "/favicon.ico": _favicon}) as base:
        browser.open(base + "live.html")
        assert browser.evaluate("gridgis.layers.incidents.getLayers().length") == len(live)
        browser.evaluate("window.sameDocument = true")

        new = live.iloc[:1].assign(id=99_999, status="reported")
        state["frame"] = gpd.GeoDataFrame(
            [*live.to_dict("records"), *new.to_dict("records")], crs=4326
        )
        count = browser.wait_for(
            f"gridgis.layers.incidents.getLayers().length > {len(live)}"
            " && gridgis.layers.incidents.getLayers().length"
        )
        assert count == len(live) + 1
        assert browser.evaluate("window.sameDocument === true")  # no reload happened

        state["frame"] = live.iloc[1:]  # a case leaves the live set
        browser.wait_for(f"gridgis.layers.incidents.getLayers().length === {len(live) - 1}")
        time.sleep(0.2)
        report = browser.report()
    _assert_clean(report, base)
