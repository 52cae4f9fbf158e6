"""Administrative divisions: list, read, and import boundary files."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from api.auth import ReaderDep, requires
from api.deps import SessionDep
from gis.auth import Permission
from gis.boundaries import BoundaryImportOptions, import_boundaries
from gis.divisions import DivisionLevel, division_features, get_division_feature
from gis.errors import InvalidInputError
from gis.readers import SUPPORTED_SUFFIXES

router = APIRouter(prefix="/divisions", tags=["divisions"])


@router.get("", summary="Divisions as a GeoJSON FeatureCollection")
def list_divisions(
    session: SessionDep,
    reader: ReaderDep,
    level: DivisionLevel | None = None,
    parent: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3})?$")] = None,
) -> dict[str, Any]:
    """Return districts, streets or communities, optionally the children of ``parent``."""
    reader.require(Permission.READ_DIVISIONS)
    features = division_features(session, level=level, parent_code=parent)
    return {"type": "FeatureCollection", "numberReturned": len(features), "features": features}


@router.get("/{code}", summary="One division as a GeoJSON Feature")
def read_division(code: str, session: SessionDep, reader: ReaderDep) -> dict[str, Any]:
    """Return the division with this 6-, 9- or 12-digit code."""
    reader.require(Permission.READ_DIVISIONS)
    return get_division_feature(session, code)


@router.post(
    "/import",
    summary="Import a boundary file (all or nothing)",
    dependencies=[Depends(requires(Permission.WRITE_DIVISIONS))],
    responses={422: {"description": "Bad features: the report names each; nothing written"}},
)
def import_division_file(
    session: SessionDep,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage or zipped Shapefile")],
    crs: Annotated[str | None, Form(description="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")] = None,
    level: Annotated[DivisionLevel | None, Form()] = None,
    repair: Annotated[bool, Form()] = False,
    code_field: Annotated[str | None, Form()] = None,
    name_field: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Validate every feature, then insert or update the divisions by code."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES - {".csv"}:
        raise InvalidInputError(
            f"unsupported file type {suffix or '(none)'}; send .geojson, .gpkg or a zipped .shp"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        options = BoundaryImportOptions(
            crs=crs, level=level, repair=repair, code_field=code_field, name_field=name_field
        )
        report = import_boundaries(session, path, options)
    report.source = file.filename or report.source
    return report.to_dict()
