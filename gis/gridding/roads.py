"""Road centre lines that cut a street into blocks: from the stored network, else the shipped file.

Only roads a grid boundary may follow count (motorway to residential and living streets, with
their links); footways, service roads and paths inside compounds do not cut blocks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.crs import to_metric
from gis.network.store import NetworkEdge

SHIPPED_ROADS = (
    Path(__file__).resolve().parents[2] / "data" / "network" / "beijing_inner_drive_osm2024.gpkg"
)
ROAD_CLASSES = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)


def _is_road(highway: object) -> bool:
    # osmnx writes merged ways as "['tertiary', 'residential']": any road class counts.
    text = str(highway or "")
    return any(part.strip(" '[]\"") in ROAD_CLASSES for part in text.split(","))


def stored_roads(session: Session, area: BaseGeometry) -> NDArray[np.object_]:
    """Return road lines (EPSG:4326) of every stored network that touch ``area`` (EPSG:4326)."""
    rows = session.execute(
        select(NetworkEdge.highway, func.ST_AsBinary(NetworkEdge.geom)).where(
            func.ST_Intersects(NetworkEdge.geom, func.ST_GeomFromWKB(area.wkb, 4326))
        )
    ).all()
    # Sorted: row order is the planner's choice, and blocks (hence seeded buildings and
    # grids) must not depend on it.
    keep = sorted(bytes(wkb) for highway, wkb in rows if _is_road(highway))
    return np.asarray(shapely.from_wkb(keep), dtype=object) if keep else np.zeros(0, dtype=object)


@lru_cache(maxsize=1)
def _shipped(path: Path) -> tuple[NDArray[np.object_], NDArray[np.bool_]]:
    frame = pyogrio.read_dataframe(path, layer="edges", columns=["highway"])
    frame = frame.to_crs(4326)
    roads = np.fromiter((_is_road(h) for h in frame["highway"]), dtype=bool, count=len(frame))
    return np.asarray(frame.geometry.to_numpy(), dtype=object), roads


def file_roads(area: BaseGeometry, path: Path = SHIPPED_ROADS) -> NDArray[np.object_]:
    """Return road lines (EPSG:4326) of an osmnx GeoPackage that touch ``area`` (EPSG:4326)."""
    if not path.exists():
        return np.zeros(0, dtype=object)
    lines, is_road = _shipped(path)
    shapely.prepare(area)
    return lines[is_road & shapely.intersects(lines, area)]


def street_roads(
    session: Session, area: BaseGeometry, *, epsg: int, path: Path | None = None
) -> tuple[NDArray[np.object_], str]:
    """Return the roads cutting ``area`` (EPSG:4326) in metric CRS ``epsg``, and their source.

    The stored networks come first; when none reaches the area, the shipped OSM drive network
    (``data/network``) is used, or ``path`` when given.
    """
    if path is not None:
        return to_metric(file_roads(area, path), epsg=epsg), str(path)
    lines = stored_roads(session, area)
    source = "stored network"
    if len(lines) == 0:
        lines, source = file_roads(area), f"file {SHIPPED_ROADS.name}"
    return to_metric(lines, epsg=epsg), source
