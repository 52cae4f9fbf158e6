"""The stored outputs of a run beyond per-building results: isochrones, area statistics, summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from gis.coverage.context import Progress, RunContext, quiet
from gis.coverage.isochrones import euclidean_buffers
from gis.coverage.isochrones import isochrone_polygons as network_isochrones
from gis.coverage.stats import completeness_table, coverage_table
from gis.coverage.writer import write_isochrones, write_stats
from gis.network.graph import WalkGraph

LEVELS = ("grid", "community", "street")  # the areas statistics are stored for
MAX_REPORTED = 50


def store_isochrones(
    session: Session, run_id: int, ctx: RunContext, *, progress: Progress = quiet
) -> int:
    """Compute and COPY the network isochrones and Euclidean discs of every facility."""
    rows = 0
    total = len(ctx.circle_m)
    speed = ctx.params.speed_m_per_min
    for done, (category, radius) in enumerate(ctx.circle_m.items()):
        progress("isochrones", done, total)
        minutes = ctx.params.isochrone_minutes or (round(radius / speed),)
        circles = sorted({float(m) * speed for m in minutes})
        own = ctx.facilities.of(category)
        snaps = ctx.facility_snaps[category]
        if not snaps.snapped.any():
            continue
        iso = network_isochrones(
            ctx.graph, snaps, circles_m=circles, buffer_m=ctx.params.isochrone_buffer_m
        )
        discs = euclidean_buffers(
            ctx.graph.to_metric(ctx.facilities.points[own]), crs=ctx.graph.crs, circles_m=circles
        )
        for method, frame in (("network", iso), ("euclid", discs)):
            index = frame["facility"].to_numpy(dtype=np.int64)
            rows += write_isochrones(
                session,
                run_id,
                facility_id=ctx.facilities.ids[own][index],
                category=np.full(len(frame), category, dtype=object),
                minutes=np.round(frame["radius_m"].to_numpy() / speed).astype(np.int64),
                method=method,
                geoms=ctx.graph.to_geographic(frame.geometry.to_numpy()),
            )
    progress("isochrones", total, total)
    return rows


def _labels(values: NDArray[np.object_]) -> NDArray[np.str_]:
    """Group labels for the statistics: ``""`` for buildings in no area."""
    return np.asarray(pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(), dtype=str)


def _street_of(level: str, labels: NDArray[np.str_], streets: NDArray[np.str_]) -> pd.Series:
    """Street code per area label (for scoping area rows)."""
    if level in {"street", "community"}:
        unique = np.unique(labels)
        return pd.Series([code[:9] or None for code in unique], index=unique, dtype=object)
    first = pd.DataFrame({"label": labels, "street": streets}).groupby("label")["street"].first()
    return first.replace("", None)


def store_statistics(session: Session, run_id: int, ctx: RunContext) -> int:
    """Compute coverage and completeness per grid cell, community and street; COPY them."""
    b = ctx.buildings
    streets = _labels(b.street_code)
    groups = {
        "grid": _labels(b.grid_code),
        "community": _labels(b.community_code),
        "street": streets,
    }
    rows = 0
    for level in LEVELS:
        labels = groups[level]
        per_category = coverage_table(
            ctx.walk_m,
            circle_m=ctx.circle_m,
            group=labels,
            residents=b.residents,
            dwellings=b.dwellings,
            euclidean_m=ctx.euclid_m,
        )
        complete = completeness_table(
            ctx.walk_m,
            circle_m=ctx.circle_m,
            group=labels,
            residents=b.residents,
            dwellings=b.dwellings,
            target_share=ctx.params.target_share,
        )
        complete["category"] = None
        complete["buildings"] = np.bincount(np.unique(labels, return_inverse=True)[1])
        street = _street_of(level, labels, streets)
        for frame in (per_category, complete):
            frame["street_code"] = street.reindex(frame["group"]).to_numpy()
        rows += write_stats(session, run_id, level, [per_category, complete])
    return rows


def run_summary(
    ctx: RunContext, *, result_rows: int, isochrone_rows: int, stat_rows: int
) -> dict[str, Any]:
    """Return the counts and headline figures stored in ``coverage_run.summary``."""
    b = ctx.buildings
    residents = b.residents
    total = float(residents.sum())
    far_b = ctx.building_snaps.unsnapped
    far_f = np.flatnonzero(~_facility_snapped(ctx))
    covered_all = np.ones(len(b), dtype=bool)
    per_category: dict[str, Any] = {}
    for category, radius in ctx.circle_m.items():
        inside = ctx.walk_m[category] <= radius
        near = ctx.euclid_m[category] <= radius
        covered_all &= inside
        per_category[category] = {
            "circle_m": round(radius, 3),
            "facilities": len(ctx.facilities.of(category)),
            "residents_within": float(residents[inside].sum()),
            "share": _share(residents[inside].sum(), total),
            "share_euclid": _share(residents[near].sum(), total),
            "buildings_within": int(inside.sum()),
        }
    share_all = _share(residents[covered_all].sum(), total)
    return {
        "buildings": len(b),
        "residents": total,
        "dwellings": float(b.dwellings.sum()),
        "facilities": len(ctx.facilities),
        "network_nodes": ctx.graph.node_count,
        "network_edges": ctx.graph.edge_count,
        "result_rows": result_rows,
        "isochrone_rows": isochrone_rows,
        "stat_rows": stat_rows,
        "categories": per_category,
        "share_all": share_all,
        "target_share": ctx.params.target_share,
        "meets_target": share_all is not None and share_all >= ctx.params.target_share,
        "unsnapped_buildings": {
            "count": len(far_b),
            "max_snap_m": ctx.params.max_snap_m,
            "first": far_report(ctx.graph, b.points, b.ids, far_b),
        },
        "unsnapped_facilities": {
            "count": len(far_f),
            "max_snap_m": ctx.params.max_snap_m,
            "first": far_report(
                ctx.graph, ctx.facilities.points, ctx.facilities.ids, far_f, ctx.facilities.category
            ),
        },
    }


def _facility_snapped(ctx: RunContext) -> NDArray[np.bool_]:
    """Per facility (input order), whether it was attached to the network."""
    out = np.zeros(len(ctx.facilities), dtype=bool)
    for category, snap in ctx.facility_snaps.items():
        out[ctx.facilities.of(category)] = snap.snapped
    return out


def far_report(
    graph: WalkGraph,
    points: NDArray[np.object_],
    ids: NDArray[np.int64],
    far: NDArray[np.int64],
    category: NDArray[np.object_] | None = None,
) -> list[dict[str, Any]]:
    """Describe up to 50 features left off the network: id, nearest edge distance, reason."""
    shown = far[:MAX_REPORTED]
    if len(shown) == 0:
        return []
    metric = graph.to_metric(points[shown])
    (_, _), distance = graph.edge_tree.query_nearest(
        metric, return_distance=True, all_matches=False
    )
    out = []
    for k, i in enumerate(shown):
        item: dict[str, Any] = {
            "id": int(ids[i]),
            "distance_m": round(float(distance[k]), 1),
            "reason": f"{float(distance[k]):.0f} m from the nearest walkable edge",
        }
        if category is not None:
            item["category"] = str(category[i])
        out.append(item)
    return out


def _share(part: float, whole: float) -> float | None:
    return round(float(part) / whole, 6) if whole > 0 else None
