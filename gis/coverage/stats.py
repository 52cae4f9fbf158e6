"""Coverage statistics and gaps from per-building distances (pure: arrays in, tables out).

Distances per category come from :func:`gis.coverage.reach.nearest_facility` (network) and
:func:`gis.coverage.reach.euclidean_nearest` (straight line). Each category has its own circle
(e.g. a kindergarten 5 min, a clinic 15 min), given in metres.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from gis.coverage.isochrones import union_by_group
from gis.errors import CoverageInputError

NATIONAL_TARGET_SHARE = 0.85
"""14th Five-Year Plan: 85 % of urban residents with community facilities within 15 min."""


def coverage_table(
    network_m: Mapping[str, NDArray[np.float64]],
    *,
    circle_m: Mapping[str, float],
    group: NDArray[Any],
    residents: NDArray[np.float64],
    dwellings: NDArray[np.float64],
    euclidean_m: Mapping[str, NDArray[np.float64]] | None = None,
) -> pd.DataFrame:
    """Return residents and dwellings within each category's circle, per group.

    Parameters
    ----------
    network_m : mapping of str to numpy.ndarray
        Per category, each building's walking distance to the nearest facility (metres,
        ``inf`` when none within the budget).
    circle_m : mapping of str to float
        Per category, the radius of its circle in walking metres.
    group : numpy.ndarray
        Per building, the label of its grid cell, community or street.
    residents, dwellings : numpy.ndarray
        Per building counts.
    euclidean_m : mapping of str to numpy.ndarray, optional
        Straight-line distances per category, for the buffer-method figures beside them.

    Returns
    -------
    pandas.DataFrame
        One row per (group, category): ``residents``, ``dwellings``, ``buildings``,
        ``residents_within``, ``dwellings_within``, ``residents_share`` and, with
        ``euclidean_m``, the same ``*_euclidean`` figures.
    """
    labels, index, residents, dwellings = _groups(group, residents, dwellings, network_m)
    n_groups = len(labels)
    total_res = np.bincount(index, weights=residents, minlength=n_groups)
    total_dw = np.bincount(index, weights=dwellings, minlength=n_groups)
    buildings = np.bincount(index, minlength=n_groups)
    frames = []
    for category, distance in network_m.items():
        radius = _circle(circle_m, category)
        inside = _distances(distance, len(index), category) <= radius
        row: dict[str, Any] = {
            "group": labels,
            "category": category,
            "circle_m": radius,
            "buildings": buildings,
            "residents": total_res,
            "dwellings": total_dw,
            "residents_within": np.bincount(index, weights=residents * inside, minlength=n_groups),
            "dwellings_within": np.bincount(index, weights=dwellings * inside, minlength=n_groups),
        }
        if euclidean_m is not None:
            near = _distances(euclidean_m[category], len(index), category) <= radius
            row["residents_within_euclidean"] = np.bincount(
                index, weights=residents * near, minlength=n_groups
            )
            row["dwellings_within_euclidean"] = np.bincount(
                index, weights=dwellings * near, minlength=n_groups
            )
        frames.append(pd.DataFrame(row))
    table = pd.concat(frames, ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["residents_share"] = table["residents_within"] / table["residents"]
        if euclidean_m is not None:
            table["residents_share_euclidean"] = (
                table["residents_within_euclidean"] / table["residents"]
            )
    return table


def completeness(
    distances_m: Mapping[str, NDArray[np.float64]], *, circle_m: Mapping[str, float]
) -> NDArray[np.int64]:
    """Return, per building, how many categories have a facility within their circle."""
    if not distances_m:
        raise CoverageInputError("no category given")
    n = len(next(iter(distances_m.values())))
    count = np.zeros(n, dtype=np.int64)
    for category, distance in distances_m.items():
        count += _distances(distance, n, category) <= _circle(circle_m, category)
    return count


def completeness_table(
    distances_m: Mapping[str, NDArray[np.float64]],
    *,
    circle_m: Mapping[str, float],
    group: NDArray[Any],
    residents: NDArray[np.float64],
    dwellings: NDArray[np.float64],
    target_share: float = NATIONAL_TARGET_SHARE,
) -> pd.DataFrame:
    """Return completeness per group: mean categories within reach, and residents with all.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``residents``, ``dwellings``, ``mean_completeness``
        (resident-weighted number of categories within their circle), ``residents_all``,
        ``dwellings_all`` (all categories within reach), ``share_all`` and ``meets_target``
        (``share_all >= target_share``).
    """
    labels, index, residents, dwellings = _groups(group, residents, dwellings, distances_m)
    n_groups = len(labels)
    count = completeness(distances_m, circle_m=circle_m)
    full = count == len(distances_m)
    total_res = np.bincount(index, weights=residents, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(index, weights=residents * count, minlength=n_groups) / total_res
        all_res = np.bincount(index, weights=residents * full, minlength=n_groups)
        share = all_res / total_res
    return pd.DataFrame(
        {
            "group": labels,
            "residents": total_res,
            "dwellings": np.bincount(index, weights=dwellings, minlength=n_groups),
            "mean_completeness": mean,
            "residents_all": all_res,
            "dwellings_all": np.bincount(index, weights=dwellings * full, minlength=n_groups),
            "share_all": share,
            "meets_target": share >= target_share,
        }
    )


def gap_polygons(
    points: NDArray[np.object_],
    distances_m: Mapping[str, NDArray[np.float64]],
    *,
    circle_m: Mapping[str, float],
    residents: NDArray[np.float64],
    crs: Any,
    method: Literal["grid", "buffer"] = "grid",
    cell_m: float = 100.0,
    buffer_m: float = 50.0,
    quad_segs: int = 4,
    threads: int | None = None,
) -> Any:
    """Return, per category, the area where residents are uncovered, as one (multi)polygon.

    Parameters
    ----------
    points : numpy.ndarray
        Building points (or footprints) in the metric ``crs``.
    distances_m, circle_m, residents
        As for :func:`coverage_table`; only buildings with residents count as gaps.
    crs : pyproj.CRS or str
        The metric CRS of ``points``.
    method : {"grid", "buffer"}
        ``"grid"``: the union of the ``cell_m`` squares holding an uncovered building (squares
        share edges exactly, so GEOS's fast coverage union applies: a million buildings take
        seconds). ``"buffer"``: the union of ``buffer_m`` discs around uncovered buildings
        (nicer outlines, but a general overlay: fine for a district, slow for a city).
    cell_m : float
        Square size of the ``"grid"`` method, metres.
    buffer_m : float
        Disc radius of the ``"buffer"`` method, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per category: ``category``, ``buildings``, ``residents`` uncovered, and the
        unioned ``geometry`` (empty when nothing is uncovered).
    """
    points = np.asarray(points, dtype=object)
    residents = np.asarray(residents, dtype=np.float64)
    categories = list(distances_m)
    members, group = [], []
    counts, people = [], []
    for k, category in enumerate(categories):
        gap = (
            _distances(distances_m[category], len(points), category) > _circle(circle_m, category)
        ) & (residents > 0)
        idx = np.flatnonzero(gap)
        members.append(idx)
        group.append(np.full(len(idx), k, dtype=np.int64))
        counts.append(len(idx))
        people.append(float(residents[idx].sum()))
    idx_all = np.concatenate(members) if members else np.empty(0, dtype=np.int64)
    group_all = np.concatenate(group) if group else np.empty(0, dtype=np.int64)
    if method == "grid":
        if not cell_m > 0:
            raise CoverageInputError(f"cell_m must be positive, got {cell_m}")
        cell_of = np.floor(shapely.get_coordinates(shapely.centroid(points)) / cell_m)

        def squares_union(idx: NDArray[np.int64]) -> Any:
            # one category at a time keeps only its squares in memory
            ij = np.unique(cell_of[idx], axis=0) * cell_m
            squares = shapely.box(ij[:, 0], ij[:, 1], ij[:, 0] + cell_m, ij[:, 1] + cell_m)
            return shapely.coverage_union_all(squares)

        with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
            unions = np.empty(len(categories), dtype=object)
            unions[:] = list(pool.map(squares_union, members))
    elif method == "buffer":
        # buffer each building once, whatever the number of categories it misses
        unique_idx, inverse = np.unique(idx_all, return_inverse=True)
        discs = shapely.buffer(points[unique_idx], buffer_m, quad_segs=quad_segs)[inverse]
        unions = union_by_group(discs, group_all, len(categories), threads=threads)
    else:
        raise CoverageInputError(f"method must be 'grid' or 'buffer', got {method!r}")
    unions[shapely.is_missing(unions)] = shapely.Polygon()
    return gpd.GeoDataFrame(
        {"category": categories, "buildings": counts, "residents": people},
        geometry=gpd.GeoSeries(unions, crs=crs),
    )


def gap_counts(
    distances_m: Mapping[str, NDArray[np.float64]],
    *,
    circle_m: Mapping[str, float],
    group: NDArray[Any],
    residents: NDArray[np.float64],
) -> pd.DataFrame:
    """Return uncovered residents per (group, category) as a wide table (groups × categories)."""
    labels, index, residents, _ = _groups(group, residents, residents, distances_m)
    columns = {}
    for category, distance in distances_m.items():
        out = _distances(distance, len(index), category) > _circle(circle_m, category)
        columns[category] = np.bincount(index, weights=residents * out, minlength=len(labels))
    return pd.DataFrame(columns, index=pd.Index(labels, name="group"))


def _groups(
    group: NDArray[Any],
    residents: NDArray[np.float64],
    dwellings: NDArray[np.float64],
    distances: Mapping[str, NDArray[np.float64]],
) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Check lengths; return group labels, per-building group index, residents, dwellings."""
    group = np.asarray(group)
    n = len(group)
    for name, values in (("residents", residents), ("dwellings", dwellings)):
        if len(values) != n:
            raise CoverageInputError(f"{name} has {len(values)} values for {n} buildings")
    if not distances:
        raise CoverageInputError("no category given")
    for category, values in distances.items():
        if len(values) != n:
            raise CoverageInputError(
                f"category {category!r}: {len(values)} distances for {n} buildings"
            )
    labels, index = np.unique(group, return_inverse=True)
    return (
        labels,
        index.astype(np.int64).reshape(-1),
        np.asarray(residents, dtype=np.float64),
        np.asarray(dwellings, dtype=np.float64),
    )


def _circle(circle_m: Mapping[str, float], category: str) -> float:
    if category not in circle_m:
        raise CoverageInputError(f"category {category!r} has no circle radius")
    radius = float(circle_m[category])
    if not radius > 0:
        raise CoverageInputError(f"category {category!r}: circle radius must be positive")
    return radius


def _distances(values: NDArray[np.float64], n: int, category: str) -> NDArray[np.float64]:
    values = np.asarray(values, dtype=np.float64)
    if len(values) != n:
        raise CoverageInputError(
            f"category {category!r}: {len(values)} distances for {n} buildings"
        )
    return values
