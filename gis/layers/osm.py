"""Import buildings and life-circle facilities from OpenStreetMap (``.osm`` and ``.osm.pbf``).

Buildings are the areas (closed ways and multipolygon relations) tagged ``building``;
facilities are the nodes and areas whose tags the life-circle checklist classifies
(``gis/data/life_circle.toml`` holds the tag matchers, not this module); an area facility is
kept as its point on surface. Each feature keeps its OSM tags (``osm_tags``) and is keyed by
its OSM object (``n123``, ``w123``, ``r123``), so re-importing an extract, or an overlapping
one, updates rows instead of duplicating them.

OSM data is © OpenStreetMap contributors under the ODbL 1.0: every imported row carries that
attribution as its ``source`` (`OSM_SOURCE`), and so does every export of it.

Reading is one pyosmium pass (one Python step per tagged object, inherent to pyosmium); all
geometry and classification work is vectorised, and the rows then go through the same
validate-stage-upsert pipeline as file imports (`gis.layers.imports.import_chunks`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
from sqlalchemy.orm import Session

from gis import crs as crsmod
from gis.auth import Permission, Principal
from gis.errors import ImportReport, InvalidInputError
from gis.layers.checklist import Checklist, default_checklist
from gis.layers.classes import default_classes
from gis.layers.import_checks import CheckContext, ImportLayer
from gis.layers.import_store import DEFAULT_DWELLING_SIZE_M2, ImportPlan
from gis.layers.imports import DEFAULT_CHUNK_ROWS, import_chunks
from gis.settings import Settings

OSM_SOURCE: Final = "OpenStreetMap (© OpenStreetMap contributors, ODbL 1.0)"
OSM_ATTRIBUTION: Final = "© OpenStreetMap contributors"
# Buildings whose floor area is dwellings; others (university, school, retail...) hold none.
RESIDENTIAL_BUILDINGS: Final = frozenset(
    {"apartments", "residential", "house", "dormitory", "detached", "terrace", "semidetached_house"}
)
# Tag keys that can make a feature a facility; objects without any are not classified.
_POI_KEYS: Final = ("amenity", "shop", "leisure", "healthcare", "office", "social_facility", "name")


@dataclass
class OsmFeatures:
    """What one read of an OSM file found, as plain columns (EPSG:4326 WKB geometries)."""

    building_ids: list[str] = field(default_factory=list)
    building_wkb: list[bytes] = field(default_factory=list)
    building_tags: list[dict[str, str]] = field(default_factory=list)
    poi_ids: list[str] = field(default_factory=list)
    poi_wkb: list[bytes] = field(default_factory=list)
    poi_tags: list[dict[str, str]] = field(default_factory=list)


@dataclass
class OsmImportReport:
    """Outcome of an OSM import: one report per layer, and what was left out."""

    source: str
    attribution: str = OSM_ATTRIBUTION
    buildings: ImportReport | None = None
    facilities: ImportReport | None = None
    unclassified_pois: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready structure."""
        return {
            "source": self.source,
            "attribution": self.attribution,
            "buildings": self.buildings.to_dict() if self.buildings else None,
            "facilities": self.facilities.to_dict() if self.facilities else None,
            "unclassified_pois": self.unclassified_pois,
        }


def _object_id(area: osmium.osm.Area) -> str:
    return f"{'w' if area.from_way() else 'r'}{area.orig_id()}"


def read_osm_features(path: str | Path) -> OsmFeatures:
    """Read buildings and candidate POIs of an ``.osm``/``.osm.pbf`` file.

    Raises
    ------
    InvalidInputError
        When the file is missing or libosmium cannot read it.
    """
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"{source}: no such file")
    if source.stat().st_size == 0:
        raise InvalidInputError(f"{source.name}: the file is empty")
    out = OsmFeatures()
    wkb = osmium.geom.WKBFactory()
    try:
        processor = (
            osmium.FileProcessor(str(source))
            .with_areas()
            .with_filter(osmium.filter.EmptyTagFilter())
        )
        for obj in processor:  # one Python step per tagged object is inherent to pyosmium
            if isinstance(obj, osmium.osm.Area):
                tags = dict(obj.tags)
                is_building = tags.get("building", "no") != "no"
                is_poi = any(k in tags for k in _POI_KEYS)
                if not (is_building or is_poi):
                    continue
                try:
                    geometry = bytes.fromhex(wkb.create_multipolygon(obj))
                except RuntimeError:  # an area osmium could not assemble
                    continue
                if is_building:
                    out.building_ids.append(_object_id(obj))
                    out.building_wkb.append(geometry)
                    out.building_tags.append(tags)
                if is_poi:
                    out.poi_ids.append(_object_id(obj))
                    out.poi_wkb.append(geometry)
                    out.poi_tags.append(tags)
            elif isinstance(obj, osmium.osm.Node) and any(k in obj.tags for k in _POI_KEYS):
                out.poi_ids.append(f"n{obj.id}")
                out.poi_wkb.append(bytes.fromhex(wkb.create_point(obj)))
                out.poi_tags.append(dict(obj.tags))
    except (RuntimeError, OSError) as exc:  # libosmium reports bad input as RuntimeError
        raise InvalidInputError(f"{source.name}: cannot read OSM data ({exc})") from exc
    return out


def _floors(levels: pd.Series) -> pd.Series:
    """``building:levels`` as whole floors 1-200, None where absent or unusable (kept in tags)."""
    number = pd.to_numeric(levels, errors="coerce")
    ok = number.notna() & (number >= 1) & (number <= 200)
    return pd.Series(np.where(ok, np.floor(number.fillna(0)), np.nan), index=levels.index)


def building_frame(features: OsmFeatures) -> gpd.GeoDataFrame:
    """Return the buildings as import rows (code None, floors from ``building:levels``)."""
    tags = pd.DataFrame(features.building_tags)
    n = len(features.building_ids)
    for key in ("building", "building:levels", "name", "addr:street", "addr:housenumber"):
        if key not in tags:
            tags[key] = None
    floors = _floors(tags["building:levels"])
    residential = tags["building"].isin(RESIDENTIAL_BUILDINGS).to_numpy()
    # Non-residential buildings hold no dwellings; residential ones are estimated from floors.
    dwellings = np.where(residential, np.nan, 0.0)
    address = (
        tags["addr:street"].fillna("").astype(str) + tags["addr:housenumber"].fillna("").astype(str)
    ).replace("", None)
    frame = gpd.GeoDataFrame(
        {
            "source_id": features.building_ids,
            "name": tags["name"].to_numpy(),
            "address": address.to_numpy(),
            "floors": floors.to_numpy(),
            "dwellings": dwellings,
            "osm_tags": [json.dumps(t, ensure_ascii=False) for t in features.building_tags],
            "__geometry_note__": [None] * n,
        },
        geometry=gpd.GeoSeries.from_wkb(features.building_wkb),
    )
    return frame


def facility_frame(features: OsmFeatures, checklist: Checklist) -> tuple[gpd.GeoDataFrame, int]:
    """Return the POIs the checklist classifies, and how many it did not."""
    tags = pd.DataFrame(features.poi_tags)
    if tags.empty:
        tags = pd.DataFrame(index=pd.RangeIndex(0))
    category = checklist.classify_frame(tags)
    keep = category.notna().to_numpy()
    names = tags["name"] if "name" in tags else pd.Series(None, index=tags.index, dtype=object)
    wkb = np.asarray(features.poi_wkb, dtype=object)
    frame = gpd.GeoDataFrame(
        {
            "source_id": np.asarray(features.poi_ids, dtype=object)[keep],
            "name": names.to_numpy()[keep],
            "category": category.to_numpy()[keep],
            "osm_tags": [
                json.dumps(t, ensure_ascii=False)
                for t, k in zip(features.poi_tags, keep, strict=True)
                if k
            ],
            "__geometry_note__": [None] * int(keep.sum()),
        },
        geometry=gpd.GeoSeries.from_wkb(wkb[keep]) if keep.any() else gpd.GeoSeries([]),
    )
    return frame, int((~keep).sum())


def _chunks(frame: gpd.GeoDataFrame, chunk_rows: int) -> list[gpd.GeoDataFrame]:
    return [frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows)]


def import_osm(
    session: Session,
    path: str | Path,
    *,
    settings: Settings | None = None,
    principal: Principal | None = None,
    layers: tuple[ImportLayer, ...] = (ImportLayer.BUILDING, ImportLayer.FACILITY),
    checklist: Checklist | None = None,
) -> OsmImportReport:
    """Import the buildings and classified POIs of an OSM file, all or nothing per file.

    Parameters
    ----------
    session
        Open session; both layers are written in its transaction.
    path
        ``.osm`` or ``.osm.pbf``, WGS84 by definition.
    settings
        Dwelling size (estimates for residential buildings) and chunk size.
    principal
        Who imports: needs WRITE_LAYERS, and every feature must lie in their scope.
    layers
        Which layers to import (default both).
    checklist
        Facility categories and their OSM tag matchers (default: the packaged checklist).

    Raises
    ------
    ImportValidationError
        When a feature is unusable (outside China, out of scope...); nothing is written.
    """
    if principal is not None:
        principal.require(Permission.WRITE_LAYERS)
    path = Path(path)
    checklist = checklist or default_checklist()
    features = read_osm_features(path)
    result = OsmImportReport(source=path.name)
    chunk_rows = settings.import_chunk_rows if settings else DEFAULT_CHUNK_ROWS
    size = settings.dwelling_size_m2 if settings else DEFAULT_DWELLING_SIZE_M2
    frames = {ImportLayer.BUILDING: building_frame(features)}
    frames[ImportLayer.FACILITY], result.unclassified_pois = facility_frame(features, checklist)
    columns = {
        ImportLayer.BUILDING: ("source_id", "name", "address", "floors", "dwellings"),
        ImportLayer.FACILITY: ("source_id", "name", "category"),
    }
    with session.begin_nested():
        for layer in layers:
            frame = frames[layer]
            mapping = {c: c for c in columns[layer]}
            ctx = CheckContext(
                layer=layer,
                columns=mapping,
                source_crs=crsmod.WGS84,
                checklist=checklist,
                classes=default_classes(),
                repair=True,  # OSM polygons are what they are: repair and report
                keep_osm_tags=True,
            )
            plan = ImportPlan(layer, OSM_SOURCE, mapping, size, principal, osm=True)
            report = ImportReport(source=path.name)
            if len(frame):
                import_chunks(
                    session, plan, _chunks(frame, chunk_rows), ctx, report, total=len(frame)
                )
            if layer is ImportLayer.BUILDING:
                result.buildings = report
            else:
                result.facilities = report
    return result
