"""Read and export the building, facility and component layers, limited to the caller's scope.

Exports use the column names the importer reads, so an exported file imports again (GeoJSON,
GeoPackage, or CSV with a ``wkt`` column in EPSG:4326). OSM-derived rows carry their
attribution in ``source``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.layers.buildings import Building
from gis.layers.components import Component
from gis.layers.facilities import Facility
from gis.layers.import_checks import LAYER_FIELDS, ImportLayer

EXPORT_CHUNK_ROWS: Final = 50_000

LayerModel = type[Building] | type[Facility] | type[Component]
MODELS: Final[dict[ImportLayer, LayerModel]] = {
    ImportLayer.BUILDING: Building,
    ImportLayer.FACILITY: Facility,
    ImportLayer.COMPONENT: Component,
}
# Attributes per layer, in export order (geometry and id come separately).
COLUMNS: Final[dict[ImportLayer, tuple[str, ...]]] = {
    ImportLayer.BUILDING: (
        "code",
        "name",
        "address",
        "floors",
        "dwellings",
        "dwellings_estimated",
        "households",
        "residents",
        "footprint_m2",
    ),
    ImportLayer.FACILITY: ("category", "name", "address"),
    ImportLayer.COMPONENT: LAYER_FIELDS[ImportLayer.COMPONENT],
}
COMMON: Final = ("street_code", "grid_code", "source", "source_id", "synthetic")


class ExportFormat(StrEnum):
    """File formats of an export."""

    GEOJSON = "geojson"
    GPKG = "gpkg"
    CSV = "csv"


MEDIA_TYPES: Final[dict[ExportFormat, str]] = {
    ExportFormat.GEOJSON: "application/geo+json",
    ExportFormat.GPKG: "application/geopackage+sqlite3",
    ExportFormat.CSV: "text/csv; charset=utf-8",
}


def model_of(layer: ImportLayer | str) -> LayerModel:
    """Return the table class of ``layer``."""
    return MODELS[ImportLayer(layer)]


def scope_of(model: LayerModel, principal: Principal) -> ColumnElement[bool]:
    """Return the SQL condition keeping the rows ``principal`` may read (READ_LAYERS)."""
    principal.require(Permission.READ_LAYERS)
    return principal.scope_clause(model.street_code, model.grid_code)


def layer_select(
    layer: ImportLayer | str,
    principal: Principal,
    *,
    bbox: tuple[float, float, float, float] | None = None,
) -> Select[Any]:
    """Return the scoped SELECT of a layer: id, attributes, membership, WKB geometry."""
    kind = ImportLayer(layer)
    model = MODELS[kind]
    columns = [getattr(model, c) for c in (*COLUMNS[kind], *COMMON)]
    stmt = (
        select(model.id, *columns, func.ST_AsBinary(model.geom).label("wkb"))
        .select_from(model)
        .outerjoin(model.membership)
        .where(scope_of(model, principal))
    )
    if bbox is not None:
        stmt = stmt.where(model.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    return stmt.order_by(model.id)


def layer_frame(
    session: Session,
    layer: ImportLayer | str,
    principal: Principal,
    *,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Return a layer (in scope, optionally within ``bbox`` lon/lat) as an EPSG:4326 frame."""
    return _frame(session.execute(layer_select(layer, principal, bbox=bbox)).all(), layer)


def _frame(rows: Sequence[Any], layer: ImportLayer | str) -> gpd.GeoDataFrame:
    kind = ImportLayer(layer)
    names = ["id", *COLUMNS[kind], *COMMON]
    table = pd.DataFrame([tuple(r[:-1]) for r in rows], columns=names)
    geoms: Any = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else []
    for name in ("initial_date", "change_date"):
        if name in table:
            table[name] = table[name].astype(str).where(table[name].notna(), None)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms), crs="EPSG:4326")


def export_layer(
    session: Session,
    layer: ImportLayer | str,
    principal: Principal,
    path: str | Path,
    *,
    fmt: ExportFormat | str,
    bbox: tuple[float, float, float, float] | None = None,
) -> int:
    """Write a layer (what ``principal`` may read) to ``path``; return the number of rows.

    GeoPackage and CSV are written in chunks of `EXPORT_CHUNK_ROWS` as the rows stream from
    the database; GeoJSON is written in one piece.
    """
    kind, form, path = ImportLayer(layer), ExportFormat(fmt), Path(path)
    result = session.execute(
        layer_select(kind, principal, bbox=bbox).execution_options(yield_per=EXPORT_CHUNK_ROWS)
    )
    total = 0
    if form is ExportFormat.GEOJSON:
        frame = _frame(result.all(), kind)
        pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer=kind.value)
        return len(frame)
    for part in result.partitions():
        frame = _frame(list(part), kind)
        if form is ExportFormat.GPKG:
            pyogrio.write_dataframe(frame, path, driver="GPKG", layer=kind.value, append=total > 0)
        else:
            table = pd.DataFrame(frame.drop(columns="geometry"))
            table["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=8)
            table.to_csv(path, mode="a" if total else "w", header=total == 0, index=False)
        total += len(frame)
    if total == 0:  # still a valid, empty file
        _frame([], kind).pipe(
            lambda f: (
                pyogrio.write_dataframe(f, path, driver="GPKG", layer=kind.value)
                if form is ExportFormat.GPKG
                else pd.DataFrame(columns=[*f.columns.drop("geometry"), "wkt"]).to_csv(
                    path, index=False
                )
            )
        )
    return total


def export_bytes(
    session: Session,
    layer: ImportLayer | str,
    principal: Principal,
    *,
    fmt: ExportFormat | str,
    bbox: tuple[float, float, float, float] | None = None,
) -> tuple[bytes, str, str]:
    """Return (file content, media type, file name) of an export, for the API."""
    kind, form = ImportLayer(layer), ExportFormat(fmt)
    name = f"{kind.value}.{form.value}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        export_layer(session, kind, principal, path, fmt=form, bbox=bbox)
        return path.read_bytes(), MEDIA_TYPES[form], name
