"""Generate a street's draft grid plan: balanced (households, roads) or regular (square, hexagon).

Loads the street, its communities, buildings and roads, works in the street's Gauss-Krüger
zone, numbers the cells, computes their figures and stores the result as the street's next
draft version (``store.save_plan``). The report says how many cells are in the band and
explains every exception.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.crs import from_metric, gauss_kruger_epsg, to_metric
from gis.divisions import Division
from gis.errors import InvalidInputError, NotFoundError
from gis.gridding.balanced import DEFAULT_EMPTY_AREA_M2, BalancedCells, Buildings, balanced_cells
from gis.gridding.codes import DEFAULT_WIDTH, check_width, number_cells
from gis.gridding.metrics import cell_figures, internal_road_share
from gis.gridding.models import GridPlan
from gis.gridding.partition import DEFAULT_BAND
from gis.gridding.regular import (
    DEFAULT_HEX_SIDE_M,
    DEFAULT_SQUARE_SIZE_M,
    hexagon_cells,
    square_cells,
)
from gis.gridding.roads import street_roads
from gis.gridding.store import save_plan
from gis.layers.buildings import Building

Method = Literal["balanced", "square", "hexagon"]
METHODS: tuple[str, ...] = ("balanced", "square", "hexagon")


@dataclass(frozen=True)
class GridOptions:
    """How to grid a street; every field has the documented default."""

    method: Method = "balanced"
    band: tuple[int, int] = DEFAULT_BAND
    cell_size_m: float | None = None  # square side or hexagon side; default 100 m / 62 m
    sliver_area_m2: float | None = None  # regular grids: merge clipped pieces below this
    width: int = DEFAULT_WIDTH  # grid sequence digits (3: Beijing's 15-digit codes)
    block_max_households: int | None = None
    empty_area_m2: float = DEFAULT_EMPTY_AREA_M2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidInputError(
                f"grid method {self.method!r} is unknown; use one of {', '.join(METHODS)}"
            )
        low, high = self.band
        if not (0 <= low <= high) or high <= 0:
            raise InvalidInputError(f"household band {self.band} needs 0 <= min <= max, max > 0")
        if self.cell_size_m is not None and not self.cell_size_m > 0:
            raise InvalidInputError(f"cell size must be positive, got {self.cell_size_m} m")
        check_width(self.width)


@dataclass(frozen=True)
class StreetInputs:
    """Everything gridding needs for one street, in its metric CRS ``epsg``."""

    street_code: str
    prefix: str  # 12-digit statistical code of the street
    epsg: int
    street: Polygon | MultiPolygon
    communities: list[tuple[str, BaseGeometry]]
    roads: NDArray[np.object_]
    road_source: str
    buildings: Buildings


@dataclass
class GenerateResult:
    """The stored draft plan and the generation report."""

    plan: GridPlan
    report: dict[str, Any]


def grid_street(
    inputs: StreetInputs, options: GridOptions
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Grid one street (pure): return the cells (metric CRS, numbered, with figures) and report."""
    started = time.perf_counter()
    areas = inputs.communities or [(inputs.prefix, inputs.street)]
    frames: list[pd.DataFrame] = []
    geoms: list[NDArray[np.object_]] = []
    stats: dict[str, int] = {}
    for prefix, area in areas:  # one run per community (or the whole street)
        cells = _cells_of(area, inputs, options)
        geoms.append(cells.geoms)
        frames.append(
            pd.DataFrame(
                {
                    "prefix": prefix,
                    "community_code": prefix if inputs.communities else None,
                    "kind": cells.kinds,
                    "reason": [cells.reasons.get(i) for i in range(len(cells.kinds))],
                }
            )
        )
        for key, value in cells.stats.items():
            stats[key] = stats.get(key, 0) + int(value)
    geom = np.concatenate(geoms).astype(object) if geoms else np.zeros(0, dtype=object)
    table = pd.concat(frames, ignore_index=True)
    b = inputs.buildings
    figures = cell_figures(
        geom,
        b.anchors,
        b.households,
        b.residents,
        b.dwellings,
        roads=inputs.roads,
        street=inputs.street,
    )
    table = pd.concat([table, figures], axis=1)
    label = shapely.point_on_surface(geom)
    codes, used = number_cells(
        table["prefix"].tolist(),
        shapely.get_x(label),
        shapely.get_y(label),
        width=options.width,
        row_height_m=float(np.sqrt(np.median(shapely.area(geom)))) if len(geom) else None,
    )
    table["code"] = codes
    low, high = options.band
    balanced = options.method == "balanced"
    table["in_band"] = (
        (table["households"] >= low) & (table["households"] <= high) if balanced else None
    )
    cells_gdf = gpd.GeoDataFrame(table, geometry=list(geom), crs=inputs.epsg)
    report = _report(cells_gdf, inputs, options, stats, used, time.perf_counter() - started)
    return cells_gdf.sort_values("code").reset_index(drop=True), report


def _cells_of(area: BaseGeometry, inputs: StreetInputs, options: GridOptions) -> BalancedCells:
    if options.method == "square":
        cells = square_cells(
            area,  # type: ignore[arg-type]
            size_m=options.cell_size_m or DEFAULT_SQUARE_SIZE_M,
            min_area_m2=options.sliver_area_m2,
        )
        return BalancedCells(cells, ["basic"] * len(cells))
    if options.method == "hexagon":
        cells = hexagon_cells(
            area,  # type: ignore[arg-type]
            side_m=options.cell_size_m or DEFAULT_HEX_SIDE_M,
            min_area_m2=options.sliver_area_m2,
        )
        return BalancedCells(cells, ["basic"] * len(cells))
    b = inputs.buildings
    inside = shapely.intersects(b.anchors, area) if len(b) else np.zeros(0, dtype=bool)
    mine = Buildings(
        b.footprints[inside],
        b.anchors[inside],
        b.households[inside],
        b.residents[inside],
        b.dwellings[inside],
        b.ids[inside],
    )
    return balanced_cells(
        area,  # type: ignore[arg-type]
        inputs.roads,
        mine,
        band=options.band,
        block_max_households=options.block_max_households,
        empty_area_m2=options.empty_area_m2,
        seed=options.seed,
    )


def _report(
    cells: gpd.GeoDataFrame,
    inputs: StreetInputs,
    options: GridOptions,
    stats: dict[str, int],
    used: dict[str, int],
    seconds: float,
) -> dict[str, Any]:
    low, high = options.band
    basic = cells["kind"] == "basic"
    hh = cells["households"]
    total = int(inputs.buildings.households.sum())
    report: dict[str, Any] = {
        "method": options.method,
        "band": [low, high],
        "cells": len(cells),
        "households": total,
        "buildings": len(inputs.buildings),
        "road_source": inputs.road_source,
        "compactness_mean": round(float(cells["compactness"].mean()), 4) if len(cells) else None,
        "compactness_min": round(float(cells["compactness"].min()), 4) if len(cells) else None,
        "road_share_mean": round(float(cells["road_share"].mean()), 4) if len(cells) else None,
        "internal_road_share": round(
            internal_road_share(cells.geometry.to_numpy(), inputs.roads, inputs.street), 4
        ),
        "seconds": round(seconds, 3),
        "used_numbers": used,
        **stats,
    }
    if options.method != "balanced":
        return report
    in_band = basic & (hh >= low) & (hh <= high)
    report.update(
        {
            "basic_cells": int(basic.sum()),
            "dedicated_cells": int((cells["kind"] == "dedicated").sum()),
            "in_band": int(in_band.sum()),
            "in_band_share": round(float(in_band.sum() / max(int(basic.sum()), 1)), 4),
            "exceptions": [
                {
                    "code": row.code,
                    "kind": row.kind,
                    "households": int(row.households),
                    "reason": row.reason
                    if isinstance(row.reason, str)
                    else f"{int(row.households)} households outside {low}-{high}",
                }
                for row in cells.itertuples()
                if isinstance(row.reason, str)
                or (row.kind == "basic" and not (low <= row.households <= high))
            ],
        }
    )
    if total < low:
        report["infeasible"] = (
            f"street {inputs.street_code} has {total} households, fewer than the band minimum "
            f"{low}: no cell can reach the band"
            + ("; import or synthesise buildings first" if total == 0 else "")
        )
    return report


def load_inputs(
    session: Session, street_code: str, *, roads_path: Path | None = None
) -> StreetInputs:
    """Read a street's boundary, communities, buildings and roads from the database."""
    street = session.execute(
        select(Division.level, Division.stat_code, func.ST_AsBinary(Division.geom)).where(
            Division.code == street_code
        )
    ).one_or_none()
    if street is None:
        raise NotFoundError("street", street_code)
    level, prefix, wkb = street
    if level != "street":
        raise InvalidInputError(f"{street_code} is a {level}, not a street: grids are per street")
    geom_4326 = shapely.from_wkb(wkb)
    epsg = gauss_kruger_epsg(geom_4326.centroid.x)
    metric_street = _metric(geom_4326, epsg)
    communities = [
        (code, shapely.intersection(_metric(shapely.from_wkb(c_wkb), epsg), metric_street))
        for code, c_wkb in session.execute(
            select(Division.code, func.ST_AsBinary(Division.geom))
            .where(Division.parent_code == street_code, Division.level == "community")
            .order_by(Division.code)
        )
    ]
    roads, source = street_roads(session, geom_4326, epsg=epsg, path=roads_path)
    return StreetInputs(
        street_code=street_code,
        prefix=prefix,
        epsg=epsg,
        street=metric_street,
        communities=[(c, g) for c, g in communities if not g.is_empty],
        roads=roads,
        road_source=source,
        buildings=load_buildings(session, street_code, epsg=epsg),
    )


def load_buildings(session: Session, street_code: str, *, epsg: int) -> Buildings:
    """Return the buildings whose anchor lies in the street, projected to ``epsg``."""
    boundary = select(Division.geom).where(Division.code == street_code).scalar_subquery()
    rows = session.execute(
        select(
            Building.id,
            func.ST_AsBinary(Building.geom),
            func.ST_AsBinary(Building.anchor),
            Building.households,
            Building.residents,
            Building.dwellings,
        ).where(func.ST_Intersects(Building.anchor, boundary))
    ).all()
    if not rows:
        return Buildings.empty()
    ids, geoms, anchors, hh, res, dw = (list(col) for col in zip(*rows, strict=True))
    return Buildings(
        footprints=to_metric(np.asarray(shapely.from_wkb(geoms), dtype=object), epsg=epsg),
        anchors=to_metric(np.asarray(shapely.from_wkb(anchors), dtype=object), epsg=epsg),
        households=np.asarray(hh, dtype=np.int64),
        residents=np.asarray(res, dtype=np.int64),
        dwellings=np.asarray(dw, dtype=np.int64),
        ids=np.asarray(ids, dtype=np.int64),
    )


def _metric(geom: BaseGeometry, epsg: int) -> Polygon | MultiPolygon:
    out: Polygon | MultiPolygon = to_metric(np.asarray([geom], dtype=object), epsg=epsg)[0]
    return out


def generate_plan(
    session: Session,
    street_code: str,
    *,
    options: GridOptions | None = None,
    actor: str = "system",
    reason: str | None = None,
    roads_path: Path | None = None,
) -> GenerateResult:
    """Grid a street and store the cells as its next draft plan version.

    Parameters
    ----------
    session
        Open session; the plan is written in its transaction.
    street_code
        9-digit street code.
    options
        Method, household band, cell size, code width... (defaults: balanced, 300-500, 3).
    actor, reason
        Who generated the plan and why (kept in the plan's history).
    roads_path
        An osmnx GeoPackage to take roads from instead of the stored network.
    """
    options = options or GridOptions()
    inputs = load_inputs(session, street_code, roads_path=roads_path)
    cells, report = grid_street(inputs, options)
    stored = gpd.GeoDataFrame(
        pd.DataFrame(cells.drop(columns=["prefix", "reason", "geometry"])),
        geometry=list(from_metric(cells.geometry.to_numpy(), epsg=inputs.epsg)),
        crs=4326,
    )
    plan = save_plan(
        session,
        street_code=street_code,
        cells=stored,
        method=options.method,
        actor=actor,
        reason=reason or f"generated ({options.method})",
        params={**asdict(options), "band": list(options.band), "epsg": inputs.epsg},
        report=report,
        used_numbers=report["used_numbers"],
    )
    return GenerateResult(plan=plan, report=report)
