"""Bulk writes of a run's results into PostGIS (COPY), one function per table.

Every frame is built with vectorised numpy (buildings × categories by ``repeat``/``tile``),
never row by row; geometries arrive in EPSG:4326 and go in as hex EWKB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db import copy_rows, hex_ewkb


def result_partition(run_id: int) -> str:
    """Return the name of the run's own partition of ``coverage_result`` (migration 0010)."""
    return f"coverage_result_run_{int(run_id)}"


def drop_run(session: Session, run_id: int) -> None:
    """Delete a run with everything it wrote; dropping its partition frees the space at once.

    Deleting the run row alone would leave the partition behind, emptied row by row by the
    cascade (a 1 M-building run holds 10 M rows) and never vacuumed away.
    """
    session.execute(text(f"DROP TABLE IF EXISTS {result_partition(run_id)}"))
    session.execute(text("DELETE FROM coverage_run WHERE id = :id"), {"id": int(run_id)})


def as_multipolygons(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Return polygons/multipolygons as MultiPolygons (empty ones stay empty), vectorised.

    >>> from shapely import box
    >>> as_multipolygons(np.array([box(0, 0, 1, 1)], dtype=object))[0].geom_type
    'MultiPolygon'
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.empty(len(geoms), dtype=object)
    out[:] = [shapely.MultiPolygon()] * len(geoms)
    if len(geoms) == 0:
        return out
    parts, index = shapely.get_parts(geoms, return_index=True)
    polygons = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    parts, index = parts[polygons], index[polygons]
    if len(parts):
        groups = np.unique(index)
        out[groups] = shapely.multipolygons(parts, indices=np.searchsorted(groups, index))
    return out


def write_results(
    session: Session,
    run_id: int,
    *,
    building_ids: NDArray[np.int64],
    snap_m: NDArray[np.float64],
    walk_m: Mapping[str, NDArray[np.float64]],
    facility_id: Mapping[str, NDArray[np.int64]],
    euclid_m: Mapping[str, NDArray[np.float64]],
    circle_m: Mapping[str, float],
    speed_m_per_min: float,
) -> int:
    """COPY one ``coverage_result`` row per building and category; return the row count.

    ``walk_m``/``euclid_m`` are ``inf`` beyond the budget (stored as NULL); ``facility_id`` is
    ``-1`` where no facility is within reach (NULL).
    """
    categories = list(walk_m)
    n = len(building_ids)
    if n == 0 or not categories:
        return 0
    walk = np.concatenate([walk_m[c] for c in categories])
    euclid = np.concatenate([euclid_m[c] for c in categories])
    nearest = np.concatenate([facility_id[c] for c in categories])
    radius = np.repeat([float(circle_m[c]) for c in categories], n)
    finite_walk = np.isfinite(walk)
    finite_euclid = np.isfinite(euclid)
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "building_id": np.tile(building_ids, len(categories)),
            "category": np.repeat(np.asarray(categories, dtype=object), n),
            "walk_m": np.where(finite_walk, np.round(walk, 3), np.nan),
            "walk_min": np.where(finite_walk, np.round(walk / speed_m_per_min, 4), np.nan),
            "euclid_m": np.where(finite_euclid, np.round(euclid, 3), np.nan),
            "facility_id": pd.array(np.where(nearest >= 0, nearest, 0), dtype="Int64"),
            "circle_m": radius,
            "covered": walk <= radius,
            "euclid_covered": euclid <= radius,
            "snap_m": np.tile(
                np.where(np.isfinite(snap_m), np.round(snap_m, 3), np.nan), len(categories)
            ),
        }
    )
    frame.loc[nearest < 0, "facility_id"] = pd.NA
    # The run's partition is filled while detached (no key triggers, no index upkeep) and then
    # attached: PostgreSQL validates the foreign keys with one anti-join each (migration 0010).
    partition = result_partition(run_id)
    # A partition of this id can only be left over from a deleted run whose id was reissued
    # (sequence restarted): its rows went with that run, so it is empty.
    session.execute(text(f"DROP TABLE IF EXISTS {partition}"))
    session.execute(text(f"CREATE TABLE {partition} (LIKE coverage_result INCLUDING DEFAULTS)"))
    rows = copy_rows(session, partition, frame, list(frame.columns))
    session.execute(
        text(
            f"ALTER TABLE coverage_result ATTACH PARTITION {partition}"
            f" FOR VALUES IN ({int(run_id)})"
        )
    )
    return rows


def write_isochrones(
    session: Session,
    run_id: int,
    *,
    facility_id: NDArray[np.int64],
    category: NDArray[np.object_],
    minutes: NDArray[np.int64],
    method: str,
    geoms: NDArray[np.object_],
) -> int:
    """COPY isochrone (``network``) or disc (``euclid``) rows; geometries in EPSG:4326."""
    multi = as_multipolygons(geoms)
    keep = ~shapely.is_empty(multi)
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "facility_id": np.asarray(facility_id, dtype=np.int64)[keep],
            "category": np.asarray(category, dtype=object)[keep],
            "minutes": np.asarray(minutes, dtype=np.int64)[keep],
            "method": method,
            "geom": hex_ewkb(multi[keep]),
        }
    )
    return copy_rows(session, "isochrone", frame, list(frame.columns))


STAT_COLUMNS = (
    "run_id",
    "level",
    "code",
    "street_code",
    "category",
    "circle_m",
    "buildings",
    "residents",
    "dwellings",
    "residents_within",
    "dwellings_within",
    "residents_within_euclid",
    "dwellings_within_euclid",
    "mean_completeness",
    "residents_all",
    "dwellings_all",
    "share_all",
    "meets_target",
)


def write_stats(session: Session, run_id: int, level: str, frames: list[pd.DataFrame]) -> int:
    """COPY ``coverage_stat`` rows of one level from :mod:`gis.coverage.stats` tables.

    Each frame has a ``group`` column (the area code, ``""`` for buildings in no area) and a
    ``street_code`` column; missing figure columns are stored as NULL.
    """
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        return 0
    table = table.rename(
        columns={
            "group": "code",
            "residents_within_euclidean": "residents_within_euclid",
            "dwellings_within_euclidean": "dwellings_within_euclid",
        }
    )
    table["run_id"] = run_id
    table["level"] = level
    table["code"] = table["code"].replace("", None)
    for column in STAT_COLUMNS:
        if column not in table:
            table[column] = None
    if "meets_target" in table:
        table["meets_target"] = table["meets_target"].astype("boolean")
    return copy_rows(session, "coverage_stat", table, list(STAT_COLUMNS))


def write_gaps(session: Session, run_id: int, gaps: Any) -> int:
    """COPY ``coverage_gap`` rows from :func:`gis.coverage.stats.gap_polygons` (EPSG:4326)."""
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "category": gaps["category"].to_numpy(dtype=object),
            "buildings": gaps["buildings"].to_numpy(dtype=np.int64),
            "residents": gaps["residents"].to_numpy(dtype=np.float64),
            "geom": hex_ewkb(as_multipolygons(gaps.geometry.to_numpy())),
        }
    )
    return copy_rows(session, "coverage_gap", frame, list(frame.columns))
