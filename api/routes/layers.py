"""Buildings, facilities and components: paged GeoJSON, CRUD, bulk import and export."""

from __future__ import annotations

import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Query, Response, UploadFile

from api.auth import PrincipalDep, ReaderDep, requires
from api.deps import BBoxDep, SessionDep, SettingsDep
from api.params import FeatureId
from gis.auth import Permission
from gis.errors import InvalidInputError
from gis.layers.exports import ExportFormat, export_bytes
from gis.layers.features import (
    create_feature,
    delete_feature,
    get_feature,
    list_features,
    update_feature,
)
from gis.layers.import_checks import ImportLayer
from gis.layers.imports import LayerImportOptions, import_layer_file
from gis.readers import SUPPORTED_SUFFIXES

router = APIRouter(prefix="/layers", tags=["layers"])
GEOJSON = "application/geo+json"
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Bad features: the report names each row; nothing written"}
}
_FEATURES: dict[int | str, dict[str, Any]] = {
    200: {"description": "GeoJSON FeatureCollection", "content": {GEOJSON: {}}}
}
_FEATURE: dict[int | str, dict[str, Any]] = {
    200: {"description": "GeoJSON Feature", "content": {GEOJSON: {}}}
}
_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The layer as a file",
        "content": {
            GEOJSON: {},
            "application/geopackage+sqlite3": {},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


class LayerName(StrEnum):
    """The layers in URLs (plural nouns)."""

    BUILDINGS = "buildings"
    FACILITIES = "facilities"
    COMPONENTS = "components"

    @property
    def layer(self) -> ImportLayer:
        """The gis layer behind the URL name."""
        return {
            LayerName.BUILDINGS: ImportLayer.BUILDING,
            LayerName.FACILITIES: ImportLayer.FACILITY,
            LayerName.COMPONENTS: ImportLayer.COMPONENT,
        }[self]


CrsQuery = Annotated[
    str, Query(description="CRS of the body's coordinates: wgs84, cgcs2000, gcj02, bd09, EPSG:n")
]
FeatureBody = Annotated[dict[str, Any], Body(description="A GeoJSON Feature")]


@router.get("/{kind}/features", summary="A page of features as GeoJSON", responses=_FEATURES)
def list_layer_features(
    kind: LayerName,
    session: SessionDep,
    reader: ReaderDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Return the features the caller may see, ordered by id, optionally within ``bbox``."""
    size = min(limit or settings.page_default_items, settings.page_max_items)
    body = list_features(session, kind.layer, reader, bbox=bbox, limit=size, offset=offset)
    return _geojson(body)


@router.get("/{kind}/features/{feature_id}", summary="One feature as GeoJSON", responses=_FEATURE)
def read_layer_feature(
    kind: LayerName, feature_id: FeatureId, session: SessionDep, reader: ReaderDep
) -> Response:
    """Return one feature (404 when absent or outside the caller's scope)."""
    return _geojson(get_feature(session, kind.layer, reader, feature_id))


@router.post(
    "/{kind}/features",
    status_code=201,
    summary="Create a feature",
    dependencies=[Depends(requires(Permission.WRITE_LAYERS))],
    responses={**_INVALID, 201: {"description": "The stored Feature", "content": {GEOJSON: {}}}},
)
def create_layer_feature(
    kind: LayerName,
    feature: FeatureBody,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    crs: CrsQuery = "wgs84",
) -> Response:
    """Validate and store one feature; its street and grid cell are assigned."""
    stored = create_feature(session, kind.layer, principal, feature, crs=crs, settings=settings)
    return _geojson(stored, status_code=201)


@router.patch(
    "/{kind}/features/{feature_id}",
    summary="Change a feature's properties or geometry",
    dependencies=[Depends(requires(Permission.WRITE_LAYERS))],
    responses={**_INVALID, **_FEATURE},
)
def update_layer_feature(
    kind: LayerName,
    feature_id: FeatureId,
    feature: FeatureBody,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    crs: CrsQuery = "wgs84",
) -> Response:
    """Merge the given properties (and geometry, if any) into the feature."""
    stored = update_feature(
        session, kind.layer, principal, feature_id, feature, crs=crs, settings=settings
    )
    return _geojson(stored)


@router.delete(
    "/{kind}/features/{feature_id}",
    status_code=204,
    summary="Delete a feature",
    dependencies=[Depends(requires(Permission.WRITE_LAYERS))],
)
def delete_layer_feature(
    kind: LayerName, feature_id: FeatureId, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Delete one feature in the caller's scope."""
    delete_feature(session, kind.layer, principal, feature_id)
    return Response(status_code=204)


@router.post(
    "/{kind}/import",
    summary="Import a file (all or nothing)",
    dependencies=[Depends(requires(Permission.WRITE_LAYERS))],
    responses=_INVALID,
)
def import_layer_upload(
    kind: LayerName,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile, CSV")],
    crs: Annotated[str | None, Form(description="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")] = None,
    source: Annotated[str | None, Form(description="provenance label (default: file name)")] = None,
    layer: Annotated[str | None, Form(description="layer of a GeoPackage")] = None,
    repair: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Validate every row, then insert or update; a 422 report names each bad row."""
    name = Path(file.filename or "").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InvalidInputError(
            f"unsupported file type {suffix or '(none)'}; "
            "send .geojson, .gpkg, .csv or a zipped .shp"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (name or f"upload{suffix}")
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        options = LayerImportOptions(crs=crs, source=source, layer=layer, repair=repair)
        report = import_layer_file(
            session, kind.layer, path, options, settings=settings, principal=principal
        )
    return report.to_dict()


@router.get(
    "/{kind}/export",
    summary="Export a layer as GeoJSON, GeoPackage or CSV",
    responses=_EXPORT,
)
def export_layer_file(
    kind: LayerName,
    session: SessionDep,
    reader: ReaderDep,
    bbox: BBoxDep,
    f: Annotated[ExportFormat, Query(description="geojson, gpkg or csv")] = ExportFormat.GEOJSON,
) -> Response:
    """Return the features the caller may see as a file (CSV has a ``wkt`` column)."""
    content, media_type, filename = export_bytes(session, kind.layer, reader, fmt=f, bbox=bbox)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _geojson(body: dict[str, Any], status_code: int = 200) -> Response:
    import json

    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status_code=status_code,
        media_type=GEOJSON,
    )
