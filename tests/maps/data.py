"""Small real-ish map inputs: squares over real Dongcheng streets, random incidents.

The street polygons are the real 2023-24 boundaries (../shared/data/real); households, workers
and incidents are random (seeded), so each map is labelled synthetic where it shows them.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import from_metric, metric_crs_for, to_metric

DONGCHENG = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "real"
    / "beijing"
    / "subdistricts"
    / "dongcheng-all.geojson"
)
STATUSES = ("reported", "filed", "dispatched", "in_progress", "handled", "closed")


def streets(names: tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
    """Return Dongcheng's street polygons (EPSG:4326), optionally only `names`."""
    frame = gpd.read_file(DONGCHENG).to_crs(4326)
    if names is not None:
        frame = frame[frame["Name"].isin(names)].reset_index(drop=True)
    return frame


def square_cells(area: gpd.GeoDataFrame, *, size_m: float, seed: int = 7) -> gpd.GeoDataFrame:
    """Cover each polygon of `area` with `size_m` squares clipped to it, random households."""
    geoms = area.geometry.to_numpy()
    epsg = metric_crs_for(geoms).to_epsg() or 0
    metric = to_metric(geoms, epsg=epsg)
    minx, miny, maxx, maxy = shapely.total_bounds(metric)
    xs, ys = np.meshgrid(np.arange(minx, maxx, size_m), np.arange(maxy, miny, -size_m))
    boxes = shapely.box(xs, ys - size_m, xs + size_m, ys).ravel()
    tree = shapely.STRtree(boxes)
    street_idx, box_idx = tree.query(metric, predicate="intersects")
    clipped = shapely.intersection(boxes[box_idx], metric[street_idx])
    keep = shapely.area(clipped) > 0.05 * size_m**2
    street_idx, clipped = street_idx[keep], clipped[keep]
    rng = np.random.default_rng(seed)
    households = rng.integers(150, 700, size=clipped.size)
    codes = area["code"].to_numpy()[street_idx]
    seq = pd.Series(np.ones(clipped.size, dtype=int)).groupby(street_idx).cumsum().to_numpy()
    return gpd.GeoDataFrame(
        {
            "code": [f"{c}{s:03d}" for c, s in zip(codes, seq, strict=True)],
            "worker": [f"网格员{i % 37:02d}" for i in range(clipped.size)],
            "households": households,
            "residents": (households * rng.uniform(2.2, 2.8, clipped.size)).round().astype(int),
        },
        geometry=from_metric(clipped, epsg=epsg),
        crs=4326,
    )


def random_incidents(area: gpd.GeoDataFrame, n: int, *, seed: int = 11) -> gpd.GeoDataFrame:
    """Return `n` random open/closed incidents inside `area` (EPSG:4326)."""
    rng = np.random.default_rng(seed)
    union = shapely.union_all(area.geometry.to_numpy())
    minx, miny, maxx, maxy = union.bounds
    xs = rng.uniform(minx, maxx, 4 * n + 100)
    ys = rng.uniform(miny, maxy, 4 * n + 100)
    points = shapely.points(xs, ys)
    points = points[shapely.contains_xy(union, xs, ys)][:n]
    now = pd.Timestamp("2026-03-02T10:00:00Z")
    deadline = now + pd.to_timedelta(rng.integers(-48, 48, points.size), unit="h")
    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, points.size + 1),
            "status": rng.choice(STATUSES, points.size),
            "category": rng.choice(["暴露垃圾", "占道经营", "井盖缺失"], points.size),
            "deadline_at": deadline,
        },
        geometry=points,
        crs=4326,
    )
