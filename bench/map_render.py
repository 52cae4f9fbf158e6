"""HTML size and time to first render of the three maps on Dongcheng + Xicheng.

Cells are 200 m squares over the real street boundaries (about the count of household-balanced
grids), incidents are random points. Each map is written with its vendor assets, served on
127.0.0.1 and opened in headless Chromium (tests/maps/browser.py); "render" is the time from
navigation until the drawn layers stop changing. The peer is the same data through plain Folium
(GeoJson of the GeoDataFrame with a Python style_function; one folium.Marker per incident in a
MarkerCluster), rendered offline the same way.

Run: .venv/bin/python bench/maps.py [--incidents N] [--cell-size-m M]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import MarkerCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maps import coverage_map, grid_plan_map, incident_map, write_map
from maps.assets import install
from maps.elements import Expose
from tests.maps import data
from tests.maps.browser import Browser, serve

XICHENG = data.DONGCHENG.with_name("xicheng-all.geojson")


def _naive_grid(cells: gpd.GeoDataFrame) -> folium.Map:
    fmap = folium.Map(tiles=None, max_zoom=19, maxZoom=19)
    folium.GeoJson(
        cells,
        style_function=lambda f: {
            "fillColor": "#abd9e9" if f["properties"]["households"] < 300 else "#fdae61"
        },
        tooltip=folium.GeoJsonTooltip(["code", "households"]),
    ).add_to(fmap)
    fmap.fit_bounds(folium.GeoJson(cells).get_bounds())
    fmap.add_child(Expose({}))  # only so that the probe sees the map
    return fmap


def _naive_incidents(incidents: gpd.GeoDataFrame) -> folium.Map:
    fmap = folium.Map(tiles=None, max_zoom=19, maxZoom=19)
    cluster = MarkerCluster().add_to(fmap)
    for row in incidents.itertuples():
        folium.Marker([row.geometry.y, row.geometry.x], tooltip=f"{row.id} {row.status}").add_to(
            cluster
        )
    b = incidents.total_bounds
    fmap.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    fmap.add_child(Expose({}))
    return fmap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--cell-size-m", type=float, default=200.0)
    args = parser.parse_args()
    install()
    streets = pd.concat([data.streets(), gpd.read_file(XICHENG).to_crs(4326)], ignore_index=True)
    streets = gpd.GeoDataFrame(streets, crs=4326)
    cells = data.square_cells(streets, size_m=args.cell_size_m)
    incidents = data.random_incidents(streets, args.incidents)
    rng = np.random.default_rng(5)
    cells["completeness"] = rng.uniform(0, 1, len(cells))
    categories = ["clinic", "primary_school", "kindergarten", "elderly_care", "market"]
    union = shapely.union_all(streets.geometry.to_numpy())
    minx, miny, maxx, maxy = union.bounds

    def random_buffers(n: int, r: float) -> gpd.GeoDataFrame:
        pts = shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n))
        return gpd.GeoDataFrame(
            {"name": [f"f{i}" for i in range(n)]}, geometry=shapely.buffer(pts, r), crs=4326
        )

    iso = {c: random_buffers(40, 0.01) for c in categories}
    gaps = {c: random_buffers(15, 0.003) for c in categories}
    print(
        f"{len(streets)} streets, {len(cells)} cells, {len(incidents)} incidents, "
        f"{len(categories)} categories"
    )

    builds = {
        "grid plan": lambda: grid_plan_map(
            cells, streets=streets, buildings_url="b.geojson?bbox={bbox}", synthetic=True
        ),
        "grid plan, plain folium (peer)": lambda: _naive_grid(cells),
        "incidents": lambda: incident_map(incidents, cells=cells, synthetic=True),
        "incidents, live (URL-loaded)": lambda: incident_map(
            incidents, cells=cells, live_url="live.geojson"
        ),
        "incidents, plain folium (peer)": lambda: _naive_incidents(incidents),
        "coverage": lambda: coverage_map(cells, isochrones_by_category=iso, gaps_by_category=gaps),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Browser() as browser:
        out = Path(tmp)
        empty = b'{"type":"FeatureCollection","features":[]}'
        with serve(out, {"/live.geojson": lambda: empty, "/favicon.ico": lambda: b""}) as base:
            for i, (name, build) in enumerate(builds.items()):
                start = time.perf_counter()
                path = write_map(build(), out / f"map{i}.html", link=True)
                build_s = time.perf_counter() - start
                render_s = browser.open(base + path.name, timeout_s=120)
                rows.append((name, path.stat().st_size / 1e6, build_s, render_s))
    print(f"{'map':34} {'HTML MB':>8} {'build s':>8} {'render s':>9} {'render/ours':>12}")
    ours = {
        "grid plan, plain folium (peer)": rows[0][3],
        "incidents, plain folium (peer)": rows[2][3],
    }
    for name, size_mb, build_s, render_s in rows:
        ratio = f"{render_s / ours[name]:.2f}x" if name in ours else ""
        print(f"{name:34} {size_mb:8.2f} {build_s:8.2f} {render_s:9.2f} {ratio:>12}")


if __name__ == "__main__":
    main()
