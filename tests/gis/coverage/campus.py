"""A real test area: an OSM campus extract with its own buildings and classified POIs.

Buildings are the extract's ``building=*`` polygons (anchor: point on surface); residents are
not in OSM, so each building gets a deterministic count from its footprint (3 floors of 90 m²
dwellings, 2.5 residents each). Facilities are the extract's points and polygons that the
life-circle checklist classifies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from gis.db import copy_rows, hex_ewkb
from gis.layers.checklist import default_checklist
from tests.conftest import PROJECT_DATA

TSINGHUA = PROJECT_DATA / "osm" / "haidian_tsinghua_pku.osm"
CAU = PROJECT_DATA / "osm" / "haidian_xueyuanlu_cau.osm"
_TAG = r'"([^"]+)"=>"([^"]*)"'


def _tags(frame: Any) -> pd.DataFrame:
    parsed = frame["other_tags"].fillna("").str.findall(_TAG).map(dict)
    tags = pd.DataFrame(list(parsed), index=frame.index)
    for column in ("name", "building", "amenity", "shop", "leisure"):
        if column in frame:
            tags[column] = frame[column]
    return tags


def campus_buildings(path: Path) -> Any:
    """Return the extract's buildings: geometry (EPSG:4326), residents, dwellings."""
    polygons = gpd.read_file(path, layer="multipolygons")
    buildings = polygons[polygons["building"].notna()].reset_index(drop=True)
    area_m2 = buildings.to_crs(4548).area.to_numpy()
    dwellings = np.maximum(1, np.round(area_m2 * 3 / 90.0))
    return gpd.GeoDataFrame(
        {
            "osm_id": buildings["osm_id"].fillna(buildings["osm_way_id"]).astype(str),
            "dwellings": dwellings.astype(np.int64),
            "residents": np.round(dwellings * 2.5).astype(np.int64),
        },
        geometry=buildings.geometry.to_numpy(),
        crs=4326,
    )


def campus_facilities(path: Path) -> Any:
    """Return the extract's POIs the checklist classifies: category, name, point."""
    frames = []
    for layer in ("points", "multipolygons"):
        features = gpd.read_file(path, layer=layer)
        category = default_checklist().classify_frame(_tags(features))
        kept = features[category.notna().to_numpy()]
        frames.append(
            gpd.GeoDataFrame(
                {
                    "category": category.dropna().to_numpy(),
                    "name": kept["name"].to_numpy(),
                    "source_id": f"{layer}/" + kept.index.astype(str),
                },
                geometry=shapely.point_on_surface(kept.geometry.to_numpy()),
                crs=4326,
            )
        )
    return pd.concat(frames, ignore_index=True)


def insert_buildings(session: Session, buildings: Any, *, source: str = "test") -> int:
    """COPY buildings (anchor = point on surface) into ``building``."""
    geoms = buildings.geometry.to_numpy()
    frame = pd.DataFrame(
        {
            "source": source,
            "source_id": buildings["osm_id"].to_numpy(),
            "synthetic": True,
            "dwellings": buildings["dwellings"].to_numpy(),
            "households": buildings["dwellings"].to_numpy(),
            "residents": buildings["residents"].to_numpy(),
            "dwellings_estimated": True,
            "geom": hex_ewkb(
                shapely.multipolygons(
                    shapely.get_parts(geoms), indices=shapely.get_parts(geoms, return_index=True)[1]
                )
            ),
            "anchor": hex_ewkb(shapely.point_on_surface(geoms)),
        }
    )
    return copy_rows(session, "building", frame, list(frame.columns))


def insert_facilities(session: Session, facilities: Any, *, source: str = "test") -> int:
    """COPY facilities (points) into ``facility``."""
    frame = pd.DataFrame(
        {
            "source": source,
            "source_id": facilities["source_id"].to_numpy(),
            "synthetic": False,
            "category": facilities["category"].to_numpy(),
            "name": facilities["name"].to_numpy(),
            "geom": hex_ewkb(facilities.geometry.to_numpy()),
        }
    )
    return copy_rows(session, "facility", frame, list(frame.columns))
