"""Import buildings, facilities and components from files: validate all, then write all or nothing.

How an import runs (`import_layer_file`; the OSM reader feeds the same `import_chunks`):

1. The file is streamed in chunks (`gis.layers.import_read`). Each chunk is checked with
   vectorised shapely/pandas (`gis.layers.import_checks`): geometry type and validity, CRS
   conversion to EPSG:4326, coordinates outside China or with swapped axes, likely GCJ-02
   declared as WGS84 (against reference roads), attribute values (floors, counts, category,
   component class, identifiers, lengths). Good rows go by COPY into a TEMP staging table;
   bad rows are only reported.
2. Set-based checks on the staging table: duplicate keys within the file, building codes
   already used by another building, features outside the importer's scope.
3. When any row is bad, `ImportValidationError` names every one (row, key, reason) and nothing
   but the dropped staging table was written.
4. Otherwise membership (street, grid cell, grid code) is computed on the staging table
   (`gis.layers.membership.assign_staged`) and one statement writes the layer (``INSERT …
   SELECT … ON CONFLICT DO UPDATE``, in Z-order of the points) and the layer's membership
   table: a re-import of the same source updates rows, never duplicates. Features in no
   street are imported and listed as warnings.

Keys: buildings and facilities upsert on (source, source_id), where ``source`` is the file
name (or ``LayerImportOptions.source``) and ``source_id`` the id/code column, else
``row:<n>``; components upsert on their 16-digit ``obj_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis import crs as crsmod
from gis.auth import Permission, Principal
from gis.db import copy_rows
from gis.errors import FeatureProblem, ImportReport, ImportValidationError, InvalidInputError
from gis.layers.checklist import Checklist, default_checklist
from gis.layers.classes import ClassTable, default_classes
from gis.layers.import_checks import (
    STAGE_COLUMNS,
    CheckContext,
    GeomArray,
    ImportLayer,
    check_chunk,
    resolve_columns,
)
from gis.layers.import_read import GEOMETRY_NOTE, iter_chunks, open_layer_file
from gis.layers.import_store import (
    DEFAULT_DWELLING_SIZE_M2,
    MAX_PROBLEMS,
    ImportPlan,
    outside_warnings,
    stage_table,
    table_problems,
    upsert,
)
from gis.settings import Settings

DEFAULT_CHUNK_ROWS: Final = 50_000
REFERENCE_LIMIT: Final = 200_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LayerImportOptions:
    """How to read a layer file.

    Attributes
    ----------
    crs
        ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:n``; required for CSV and for
        files that declare no CRS, and overrides a declared one (with a warning).
    layer
        Layer of a multi-layer GeoPackage.
    source
        Provenance label and upsert namespace (default: the file name).
    repair
        Repair invalid building polygons (reported) instead of refusing them.
    fields
        {attribute: column} overriding the column name guesses (e.g. ``{"category": "type"}``).
    reference
        WGS84 road lines (``.osm``/``.pbf`` or a vector file) for the GCJ-02 check; default the
        network imported into the database.
    chunk_rows
        Rows per streamed chunk (default: settings ``import_chunk_rows``).
    dwelling_size_m2
        Gross floor area per dwelling for estimates (default: settings ``dwelling_size_m2``).
    """

    crs: str | None = None
    layer: str | None = None
    source: str | None = None
    repair: bool = False
    fields: dict[str, str] = field(default_factory=dict)
    reference: Path | None = None
    chunk_rows: int | None = None
    dwelling_size_m2: float | None = None


def _source_crs(
    declared: CRS | None, tag: str | None, report: ImportReport
) -> crsmod.InputCrs | CRS:
    if tag:
        parsed = crsmod.parse_crs_tag(tag)
        if declared is not None and declared.to_epsg() != parsed.epsg:
            report.warnings.append(
                FeatureProblem(
                    -1, f"--crs {parsed.tag} overrides the file's declared CRS {declared.name}"
                )
            )
        return parsed
    if declared is None:
        raise InvalidInputError(
            f"{report.source}: the file declares no CRS; pass --crs "
            "(wgs84, cgcs2000, gcj02, bd09 or EPSG:n)"
        )
    return declared


def _reference_from_file(path: Path) -> GeomArray:
    name = path.name.lower()
    if name.endswith((".osm", ".pbf", ".osm.bz2")):
        from gis.network.osm import read_osm

        return np.asarray(read_osm(path).edges.geometry.values, dtype=object)
    from gis.readers import list_layers, read_vector

    layer = None
    if path.suffix.lower() == ".gpkg" and "edges" in list_layers(path):
        layer = "edges"
    frame = read_vector(path, layer=layer)
    if frame.crs is not None and frame.crs.to_epsg() not in (4326, 4490):
        frame = frame.to_crs(crsmod.STORAGE_SRID)
    return np.asarray(frame.geometry.values, dtype=object)


def _reference_from_db(session: Session, bounds: tuple[float, float, float, float]) -> GeomArray:
    from gis.network.store import NetworkEdge

    pad = 0.01  # ~1 km, so shifted points still find their road
    envelope = func.ST_MakeEnvelope(
        bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad, 4326
    )
    rows = session.execute(
        select(func.ST_AsBinary(NetworkEdge.geom))
        .where(NetworkEdge.geom.intersects(envelope))
        .limit(REFERENCE_LIMIT)
    ).scalars()
    return np.asarray(shapely.from_wkb(list(rows)), dtype=object)


def import_chunks(
    session: Session,
    plan: ImportPlan,
    chunks: Iterable[gpd.GeoDataFrame],
    ctx: CheckContext,
    report: ImportReport,
    *,
    total: int,
    progress: Progress | None = None,
    reference_from_db: bool = False,
) -> ImportReport:
    """Validate and stage ``chunks``, then write them all or raise `ImportValidationError`.

    Parameters
    ----------
    session
        Open session; everything happens in its transaction.
    plan
        Target layer, provenance and column mapping.
    chunks
        Rows indexed by row number, in the CRS of ``ctx``.
    ctx
        The chunk check context (`check_chunk`).
    report
        Filled in and returned.
    total
        Expected number of rows (for ``progress``).
    progress
        Called with (rows done, total) after each chunk.
    reference_from_db
        Look up reference roads for the GCJ-02 check in the stored network, per chunk.
    """
    stage = stage_table(session, plan.layer)
    problems: list[FeatureProblem] = []
    done = 0
    try:
        for chunk in chunks:
            chunk_ctx = ctx
            if reference_from_db and ctx.declared_wgs84 and len(chunk):
                bounds = shapely.total_bounds(np.asarray(chunk.geometry.values, dtype=object))
                if np.isfinite(bounds).all():
                    chunk_ctx = _with_reference(ctx, _reference_from_db(session, tuple(bounds)))
            result = check_chunk(chunk, chunk_ctx)
            problems.extend(result.problems[: max(MAX_PROBLEMS - len(problems), 0)])
            report.repairs.extend(result.repairs)
            if not problems and len(result.stage):
                copy_rows(session, stage, result.stage, list(STAGE_COLUMNS[plan.layer]))
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        report.feature_count = done
        if done == 0:
            raise InvalidInputError(f"{report.source}: the file has no features")
        if not problems:
            problems = table_problems(session, stage, plan)
        if problems:
            report.problems = sorted(problems, key=lambda p: p.index)
            raise ImportValidationError(report)
        outside_warnings(session, stage, report)
        report.inserted, report.updated = upsert(session, stage, plan)
    finally:
        session.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    return report


def _with_reference(ctx: CheckContext, reference: GeomArray) -> CheckContext:
    return replace(ctx, reference=reference)


def import_layer_file(
    session: Session,
    layer: ImportLayer | str,
    path: str | Path,
    options: LayerImportOptions | None = None,
    *,
    settings: Settings | None = None,
    principal: Principal | None = None,
    progress: Progress | None = None,
    checklist: Checklist | None = None,
    classes: ClassTable | None = None,
) -> ImportReport:
    """Import a GeoJSON, GeoPackage, Shapefile or CSV file into a layer, all or nothing.

    Parameters
    ----------
    session
        Open session; the import joins its transaction.
    layer
        ``building``, ``facility`` or ``component``.
    path
        The file. A CSV needs lon/lat or WKT columns and ``options.crs``.
    options
        See `LayerImportOptions`.
    settings
        Dwelling size and chunk size defaults.
    principal
        Who imports: needs WRITE_LAYERS; every feature must fall in their scope.
    progress
        Called with (rows read, rows in the file) after each chunk.
    checklist, classes
        Facility categories and component classes (default: the packaged ones).

    Returns
    -------
    ImportReport
        Rows read, inserted and updated; repairs; warnings (features outside every street).

    Raises
    ------
    ImportValidationError
        When any row is bad; ``report.problems`` names each (row, key, reason).
    InvalidInputError
        When the file itself is unusable (missing, empty, malformed, no CRS).
    """
    options = options or LayerImportOptions()
    kind = _layer(layer)
    if principal is not None:
        principal.require(Permission.WRITE_LAYERS)
    path = Path(path)
    source_file = open_layer_file(path, layer=options.layer)
    report = ImportReport(source=path.name)
    source_crs = _source_crs(source_file.crs, options.crs, report)
    chunk_rows = options.chunk_rows or (settings.import_chunk_rows if settings else None)
    chunks = iter_chunks(source_file, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS)
    first = next(chunks)
    columns = resolve_columns([str(c) for c in first.columns], kind, options.fields)
    _require_columns(kind, columns, path.name)
    if kind is not ImportLayer.COMPONENT and not ({"source_id", "code"} & set(columns)):
        report.warnings.append(
            FeatureProblem(-1, "no id/code column: rows are keyed by row number on re-import")
        )
    reference = _reference_from_file(options.reference) if options.reference else None
    ctx = CheckContext(
        layer=kind,
        columns=columns,
        source_crs=source_crs,
        checklist=checklist or default_checklist(),
        classes=classes or default_classes(),
        repair=options.repair,
        reference=reference,
    )
    size = options.dwelling_size_m2 or (
        settings.dwelling_size_m2 if settings else DEFAULT_DWELLING_SIZE_M2
    )
    if size <= 0:
        raise InvalidInputError(f"dwelling size must be positive, got {size} m²")
    plan = ImportPlan(kind, options.source or path.name, columns, size, principal)
    return import_chunks(
        session,
        plan,
        _chain(first, chunks),
        ctx,
        report,
        total=source_file.feature_count,
        progress=progress,
        reference_from_db=reference is None,
    )


def _chain(first: gpd.GeoDataFrame, rest: Iterable[gpd.GeoDataFrame]) -> Iterable[gpd.GeoDataFrame]:
    yield first
    yield from rest


def _layer(layer: ImportLayer | str) -> ImportLayer:
    try:
        return ImportLayer(layer)
    except ValueError:
        known = ", ".join(v.value for v in ImportLayer)
        raise InvalidInputError(f"unknown layer {layer!r}; importable layers: {known}") from None


def _require_columns(kind: ImportLayer, columns: dict[str, str], source: str) -> None:
    if kind is ImportLayer.FACILITY and "category" not in columns:
        raise InvalidInputError(
            f"{source}: facilities need a category column (category/类别); "
            "or map one with fields={'category': COLUMN}"
        )
    if kind is ImportLayer.COMPONENT and "obj_id" not in columns:
        raise InvalidInputError(f"{source}: components need an obj_id column (obj_id/ObjID/标识码)")


def import_features(
    session: Session,
    layer: ImportLayer | str,
    features: Sequence[dict[str, Any]],
    *,
    source: str,
    principal: Principal | None = None,
    crs: str = "wgs84",
    settings: Settings | None = None,
) -> ImportReport:
    """Validate and upsert GeoJSON features (API create/update), all or nothing.

    Parameters
    ----------
    features
        GeoJSON Feature objects; properties use the importer's column names. Row numbers in
        the report are positions in this list.
    source
        Provenance label and upsert namespace (a key in ``properties`` updates that row).
    crs
        CRS tag of the coordinates (default ``wgs84``; ``gcj02`` for phone apps).
    """
    kind = _layer(layer)
    if principal is not None:
        principal.require(Permission.WRITE_LAYERS)
    if not features:
        raise InvalidInputError("no features given")
    properties = pd.DataFrame([dict(f.get("properties") or {}) for f in features])
    geometries = [f.get("geometry") for f in features]
    try:
        geoms = [None if g is None else shapely.geometry.shape(g) for g in geometries]
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
        raise InvalidInputError(f"a feature geometry is not valid GeoJSON: {exc}") from None
    frame = gpd.GeoDataFrame(properties, geometry=gpd.GeoSeries(geoms, index=properties.index))
    frame[GEOMETRY_NOTE] = None
    columns = resolve_columns([str(c) for c in properties.columns], kind)
    _require_columns(kind, columns, source)
    ctx = CheckContext(
        layer=kind,
        columns=columns,
        source_crs=crsmod.parse_crs_tag(crs),
        checklist=default_checklist(),
        classes=default_classes(),
    )
    size = settings.dwelling_size_m2 if settings else DEFAULT_DWELLING_SIZE_M2
    plan = ImportPlan(kind, source, columns, size, principal)
    report = ImportReport(source=source)
    return import_chunks(session, plan, [frame], ctx, report, total=len(frame))
