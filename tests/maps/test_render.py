"""Map HTML without a browser: inputs refused, classes, rounding, offline links."""

from __future__ import annotations

import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from folium.plugins import Fullscreen

from gis.errors import MapAssetsError, MapInputError
from maps import coverage_map, grid_plan_map, incident_map, offline_html, write_map
from maps.base import prepared_geometries
from maps.incident_map import open_cases_per_cell
from maps.styles import OSM_ATTRIBUTION, SYNTHETIC_LABEL

EXTERNAL_ASSET = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)=\"(?:https?:)?//", re.I)
GEOJSON_ADD = re.compile(r"_add\((\{\"features\": .*?\})\);\n", re.S)


def _feature_collections(html: str) -> list[dict]:
    return [json.loads(m) for m in GEOJSON_ADD.findall(html)]


def _coverage_inputs(cells: gpd.GeoDataFrame) -> dict:
    centre = shapely.union_all(cells.geometry.to_numpy()).centroid
    iso = gpd.GeoDataFrame({"name": ["clinic 1"]}, geometry=[centre.buffer(0.008)], crs=4326)
    gap = gpd.GeoDataFrame({"residents": [42]}, geometry=[centre.buffer(0.002).envelope], crs=4326)
    return {
        "isochrones_by_category": {"clinic": iso, "school": iso},
        "gaps_by_category": {"clinic": gap},
    }


@pytest.mark.parametrize("kind", ["grid", "incidents", "coverage"])
def test_maps_refuse_a_crs_other_than_4326(kind: str, cells, incidents) -> None:
    projected_cells = cells.to_crs(3857)
    with pytest.raises(MapInputError, match=r"EPSG:3857.*EPSG:4326 only"):
        if kind == "grid":
            grid_plan_map(projected_cells)
        elif kind == "incidents":
            incident_map(incidents.to_crs(3857))
        else:
            coverage_map(projected_cells, **_coverage_inputs(cells))


def test_missing_column_and_bad_geometry_are_named(cells) -> None:
    with pytest.raises(MapInputError, match=r"missing column.*households"):
        grid_plan_map(cells.drop(columns="households"))
    broken = cells.copy()
    broken.loc[broken.index[3], "geometry"] = None
    with pytest.raises(MapInputError, match=rf"row\(s\) {broken.index[3]} "):
        grid_plan_map(broken)


def test_cells_are_classed_against_the_band(cells) -> None:
    html = offline_html(grid_plan_map(cells, band=(300, 500)))

    [fc] = [
        fc for fc in _feature_collections(html) if "band_class" in fc["features"][0]["properties"]
    ]
    got = {f["properties"]["code"]: f["properties"]["band_class"] for f in fc["features"]}
    for code, households in zip(cells["code"], cells["households"], strict=True):
        expected = (
            "far_below"
            if households < 240
            else "below"
            if households < 300
            else "in_band"
            if households <= 500
            else "above"
            if households <= 600
            else "far_above"
        )
        assert got[code] == expected, (code, households)


def test_embedded_coordinates_have_at_most_six_decimals(cells, incidents) -> None:
    html = offline_html(incident_map(incidents, cells=cells))
    coordinates = re.findall(r"\"coordinates\": (\[[\d\[\]., -]*\])", html)
    assert coordinates
    decimals = re.findall(r"\.(\d+)", " ".join(coordinates))
    assert max(len(d) for d in decimals) <= 6


def test_offline_html_links_only_the_local_base(cells, streets) -> None:
    fmap = grid_plan_map(cells, streets=streets, buildings_url="/layers/buildings?bbox={bbox}")
    html = offline_html(fmap, asset_base="/static/vendor/")

    assert not EXTERNAL_ASSET.search(html)
    links = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"([^\"]+)\"", html)
    assert links and all(link.startswith("/static/vendor/") for link in links)
    assert "/layers/buildings?bbox={bbox}" in html  # fetched by the page, not embedded


def test_an_asset_without_local_copy_is_an_error(cells) -> None:
    fmap = grid_plan_map(cells)
    Fullscreen().add_to(fmap)  # its plugin is not in maps/package.json
    with pytest.raises(MapAssetsError, match=r"Control\.FullScreen"):
        offline_html(fmap)


def test_write_map_puts_every_linked_file_next_to_the_page(
    tmp_path: Path, vendor, cells, incidents
) -> None:
    out = write_map(incident_map(incidents, cells=cells), tmp_path / "maps" / "incidents.html")

    html = out.read_text(encoding="utf-8")
    links = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"([^\"]+)\"", html)
    assert len(links) >= 8
    for link in links:
        assert (out.parent / link).is_file(), link
    css = (out.parent / "vendor/fontawesome/css/all.min.css").read_text()
    font = re.search(r"url\(\.\./webfonts/([^)]+\.woff2)\)", css)
    assert font and (out.parent / "vendor/fontawesome/webfonts" / font.group(1)).is_file()


def test_synthetic_and_osm_labels(cells) -> None:
    plain = offline_html(grid_plan_map(cells))
    labelled = offline_html(
        grid_plan_map(cells, synthetic=True, tiles_url="/tiles/{z}/{x}/{y}.png")
    )

    assert SYNTHETIC_LABEL not in plain
    assert SYNTHETIC_LABEL in labelled
    assert "/tiles/{z}/{x}/{y}.png" in labelled
    assert json.dumps(OSM_ATTRIBUTION)[1:-1] in labelled or OSM_ATTRIBUTION in labelled


def test_cell_simplification_keeps_the_tiling(cells) -> None:
    simplified = prepared_geometries(cells, simplify_m=5.0, coverage=True)

    original_area = shapely.area(shapely.union_all(cells.geometry.to_numpy()))
    union_area = shapely.area(shapely.union_all(simplified))
    summed_area = shapely.area(simplified).sum()
    # Shared edges moved together: no overlaps (sum == union) and no new holes.
    assert summed_area == pytest.approx(union_area, rel=1e-4)
    assert union_area == pytest.approx(original_area, rel=2e-3)
    assert (
        shapely.get_num_coordinates(simplified).sum()
        < shapely.get_num_coordinates(cells.geometry.to_numpy()).sum()
    )


def test_open_cases_are_counted_per_cell(cells, incidents) -> None:
    counts = open_cases_per_cell(cells, incidents)

    geoms, points = cells.geometry.to_numpy(), incidents.geometry.to_numpy()
    expected = np.array([shapely.covers(g, points).sum() for g in geoms])
    np.testing.assert_array_equal(counts, expected)


def test_coverage_categories_are_radio_base_layers(cells) -> None:
    scored = cells.assign(completeness=np.linspace(0, 1, len(cells)))
    fmap = coverage_map(scored, **_coverage_inputs(cells))
    html = offline_html(fmap)

    base_layers = re.search(r"base_layers : \{(.*?)\}", html, re.S)
    assert base_layers and '"clinic"' in base_layers.group(1) and '"school"' in base_layers.group(1)
    with pytest.raises(MapInputError, match="completeness must lie between 0 and 1"):
        coverage_map(cells.assign(completeness=2.0), **_coverage_inputs(cells))


def test_incident_map_with_live_url_embeds_no_markers(incidents) -> None:
    html = offline_html(incident_map(incidents, live_url="/incidents/live.geojson", heat=False))

    assert "L.realtime" in html and "/incidents/live.geojson" in html
    assert _feature_collections(html) == []
    assert isinstance(incident_map(incidents), folium.Map)
