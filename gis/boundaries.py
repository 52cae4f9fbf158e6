"""Import administrative boundaries: validate every feature first, then write all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis import crs as crsmod
from gis.crs_checks import looks_swapped, outside_china
from gis.divisions import (
    DivisionLevel,
    existing_codes,
    normalise_code,
    parent_code_of,
    stat_code,
    upsert_divisions,
)
from gis.errors import (
    FeatureProblem,
    ImportReport,
    ImportValidationError,
    InvalidInputError,
)
from gis.geometry import check_polygons
from gis.network.store import NetworkEdge
from gis.readers import read_vector

CODE_FIELDS = ("code", "CODE", "adcode", "ADCODE", "区划代码", "代码")
NAME_FIELDS = ("Name", "name", "NAME", "名称", "街道", "社区")
PINYIN_FIELDS = ("pinyin", "PINYIN")
# A feature whose vertices lie this far (median) from reference roads, and less than half as
# far once read as GCJ-02, was almost surely digitised on an AMap/Tencent base map. Real WGS84
# streets of Dongcheng/Xicheng lie 3-40 m from the OSM drive network.
GCJ_MIN_OFFSET_M = 40.0
GCJ_IMPROVEMENT = 0.5


@dataclass(frozen=True)
class BoundaryImportOptions:
    """How to read a boundary file."""

    crs: str | None = None
    level: DivisionLevel | None = None
    repair: bool = False
    code_field: str | None = None
    name_field: str | None = None
    layer: str | None = None
    reference: Path | None = None


def _pick_field(frame: pd.DataFrame, wanted: str | None, candidates: Sequence[str]) -> str | None:
    if wanted:
        if wanted not in frame.columns:
            raise InvalidInputError(f"field {wanted!r} not found; fields are {list(frame.columns)}")
        return wanted
    return next((c for c in candidates if c in frame.columns), None)


def _code_text(value: object) -> str | None:
    """Codes arrive as text, ints or floats (GeoJSON numbers); return digits or None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _infer_level(code: str) -> DivisionLevel | None:
    if len(code) == 6 or (len(code) == 12 and code[6:] == "000000"):
        return DivisionLevel.DISTRICT
    if len(code) == 9 or (len(code) == 12 and code[9:] == "000"):
        return DivisionLevel.STREET
    if len(code) == 12:
        return DivisionLevel.COMMUNITY
    return None


def _source_crs(frame: gpd.GeoDataFrame, tag: str | None) -> tuple[str | CRS, str | None]:
    """Return what the coordinates are in, and a warning when --crs overrides the file."""
    if tag:
        warning = None
        if frame.crs is not None:
            declared = frame.crs.to_epsg()
            warning = f"--crs {tag} overrides the file's declared CRS EPSG:{declared}"
        return tag, warning
    if frame.crs is None:
        raise InvalidInputError(
            "the file declares no CRS; pass --crs (wgs84, cgcs2000, gcj02, bd09 or EPSG:n)"
        )
    return frame.crs, None


def _to_storage(geoms: np.ndarray, source: str | CRS) -> np.ndarray:
    if isinstance(source, CRS):
        epsg = source.to_epsg()
        if epsg is None:
            return np.asarray(
                gpd.GeoSeries(geoms, crs=source).to_crs(crsmod.STORAGE_SRID).values, dtype=object
            )
        source = f"EPSG:{epsg}"
    return np.asarray(crsmod.to_storage_geometries(geoms, source), dtype=object)


def _extent_problems(geoms: np.ndarray, ok: np.ndarray) -> dict[int, str]:
    """Name features outside China's extent, and those that look like swapped lat/lon."""
    problems: dict[int, str] = {}
    if not ok.any():
        return problems
    idx = np.flatnonzero(ok)
    bounds = shapely.bounds(geoms[idx])
    inside = ~outside_china(bounds[:, 0], bounds[:, 1]) & ~outside_china(bounds[:, 2], bounds[:, 3])
    swapped = looks_swapped(bounds[:, 0], bounds[:, 1]) & looks_swapped(bounds[:, 2], bounds[:, 3])
    for j in np.flatnonzero(~inside):
        b = bounds[j]
        where = f"bounds ({b[0]:.4f}, {b[1]:.4f}, {b[2]:.4f}, {b[3]:.4f})"
        if swapped[j]:
            problems[int(idx[j])] = (
                f"coordinates look like latitude/longitude swapped: {where}; "
                "x must be the longitude"
            )
        else:
            problems[int(idx[j])] = f"coordinates outside China's extent: {where}"
    return problems


def _reference_lines(
    session: Session | None, reference: Path | None, bbox: tuple[float, ...]
) -> np.ndarray:
    """Return reference lines known to be WGS84 (a road network) around ``bbox``."""
    if reference is not None:
        ref = read_vector(reference)
        if ref.crs is not None and ref.crs.to_epsg() not in (4326, 4490):
            ref = ref.to_crs(crsmod.STORAGE_SRID)
        return np.asarray(ref.geometry.values, dtype=object)
    if session is None:
        return np.empty(0, dtype=object)
    envelope = func.ST_MakeEnvelope(*bbox, 4326)
    rows = session.execute(
        select(func.ST_AsBinary(NetworkEdge.geom))
        .where(NetworkEdge.geom.intersects(envelope))
        .limit(200_000)
    ).scalars()
    return np.asarray(shapely.from_wkb(list(rows)), dtype=object)


def gcj02_suspects(
    geoms: np.ndarray, ok: np.ndarray, reference: np.ndarray
) -> dict[int, tuple[float, float]]:
    """Return {index: (median m as given, median m if read as GCJ-02)} of suspect features.

    Vertices are compared with WGS84 reference lines (roads) as given and after converting
    them from GCJ-02 to WGS84. In a dense city network even a 500 m shift leaves vertices
    only ~100 m from some road, so single features are judged with a margin, and the whole
    file by the median over all its vertices: a file that fits the roads better once shifted
    is GCJ-02, and then every feature that also fits better shifted is named.
    """
    if len(reference) == 0 or not ok.any():
        return {}
    idx = np.flatnonzero(ok)
    coords, owner = shapely.get_coordinates(geoms[idx], return_index=True)
    epsg = crsmod.gauss_kruger_epsg(float(np.median(coords[:, 0])))
    to_metric = crsmod.transformer_between(crsmod.STORAGE_SRID, epsg).transform
    tree = shapely.STRtree(
        shapely.transform(reference, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1])))
    )

    def distances(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        x, y = to_metric(lon, lat)
        _, dist = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
        return np.asarray(dist)

    as_given = distances(coords[:, 0], coords[:, 1])
    shifted = distances(*crsmod.gcj02_to_wgs84(coords[:, 0], coords[:, 1]))
    per_given = pd.Series(as_given).groupby(owner).median().to_numpy()
    per_shifted = pd.Series(shifted).groupby(owner).median().to_numpy()
    file_says_gcj = np.median(shifted) < GCJ_IMPROVEMENT * np.median(as_given)
    suspect = (per_given > GCJ_MIN_OFFSET_M) & (per_shifted < GCJ_IMPROVEMENT * per_given)
    if file_says_gcj:
        suspect |= per_shifted < per_given
    return {
        int(idx[j]): (float(per_given[j]), float(per_shifted[j])) for j in np.flatnonzero(suspect)
    }


def validate_boundaries(
    frame: gpd.GeoDataFrame,
    options: BoundaryImportOptions,
    *,
    source: str,
    session: Session | None = None,
) -> tuple[ImportReport, list[dict[str, Any]]]:
    """Check every feature and build the rows to write; nothing touches the database.

    Returns the report (``report.ok`` False when any feature is bad) and the rows.
    """
    report = ImportReport(source=source, feature_count=len(frame))
    if len(frame) == 0:
        raise InvalidInputError(f"{source}: the file has no features")
    code_col = _pick_field(frame, options.code_field, CODE_FIELDS)
    name_col = _pick_field(frame, options.name_field, NAME_FIELDS)
    pinyin_col = _pick_field(frame, None, PINYIN_FIELDS)
    if code_col is None:
        raise InvalidInputError(
            f"{source}: no code field (looked for {', '.join(CODE_FIELDS)}); use --code-field"
        )
    source_crs, warning = _source_crs(frame, options.crs)
    if warning:
        report.warnings.append(FeatureProblem(index=-1, reason=warning))

    raw_codes = [_code_text(v) for v in frame[code_col].tolist()]
    names = (
        [
            None if n is None or str(n).strip() in {"", "nan"} else str(n).strip()
            for n in frame[name_col].tolist()
        ]
        if name_col
        else [None] * len(frame)
    )
    problems: dict[int, list[str]] = {}

    def add(i: int, reason: str) -> None:
        problems.setdefault(i, []).append(reason)

    codes: list[str | None] = [None] * len(frame)
    levels: list[DivisionLevel | None] = [None] * len(frame)
    for i, raw in enumerate(raw_codes):  # per-feature text checks: boundaries number hundreds
        if raw is None:
            add(i, "missing code")
            continue
        level = options.level or _infer_level(raw)
        if level is None:
            add(i, f"code {raw} has {len(raw)} digits; expected 6, 9 or 12")
            continue
        try:
            codes[i] = normalise_code(raw, level)
            levels[i] = level
        except InvalidInputError as exc:
            add(i, str(exc))
        if names[i] is None:
            add(i, "missing name")
    seen: dict[str, int] = {}
    for i, code in enumerate(codes):
        if code is None:
            continue
        if code in seen:
            add(i, f"duplicate code {code} (also feature {seen[code]})")
            add(seen[code], f"duplicate code {code} (also feature {i})")
        else:
            seen[code] = i
    parents = {parent_code_of(c) for c in codes if c is not None} - {None}
    in_file = {c for c in codes if c is not None}
    known = existing_codes(session, sorted(p for p in parents if p)) if session else set()
    for i, code in enumerate(codes):
        parent = parent_code_of(code) if code else None
        if parent and parent not in in_file and parent not in known:
            add(i, f"parent division {parent} does not exist; import the parent level first")

    checked = check_polygons(np.asarray(frame.geometry.values, dtype=object), repair=options.repair)
    for i, reason in checked.problems.items():
        add(i, reason)
    for i, note in checked.repairs.items():
        report.repairs.append(FeatureProblem(i, note, codes[i] or raw_codes[i], names[i]))
    geom_ok = np.ones(len(frame), dtype=bool)
    geom_ok[list(checked.problems)] = False
    geoms = checked.geoms.copy()
    if geom_ok.any():
        geoms[geom_ok] = _to_storage(checked.geoms[geom_ok], source_crs)
    for i, reason in _extent_problems(geoms, geom_ok).items():
        add(i, reason)
        geom_ok[i] = False
    if geom_ok.any():
        bbox = tuple(float(v) for v in shapely.total_bounds(geoms[geom_ok]))
        declared_wgs = str(source_crs).lower() in {"wgs84", "cgcs2000", "epsg:4326", "epsg:4490"}
        if declared_wgs or (isinstance(source_crs, CRS) and source_crs.to_epsg() in (4326, 4490)):
            reference = _reference_lines(session, options.reference, bbox)
            for i, (given, shifted) in gcj02_suspects(geoms, geom_ok, reference).items():
                add(
                    i,
                    f"likely GCJ-02 coordinates declared as WGS84: median {given:.0f} m from "
                    f"reference roads as given, {shifted:.0f} m if read as GCJ-02 "
                    "(re-import with --crs gcj02)",
                )

    for i in sorted(problems):
        report.problems.append(
            FeatureProblem(i, "; ".join(problems[i]), codes[i] or raw_codes[i], names[i])
        )
    if report.problems:
        return report, []
    wkt = shapely.to_wkt(geoms, rounding_precision=-1)
    rows: list[dict[str, Any]] = [
        {
            "code": codes[i],
            "level": str(levels[i]),
            "name": names[i],
            "parent_code": parent_code_of(codes[i] or ""),
            "stat_code": stat_code(codes[i] or ""),
            "pinyin": str(frame[pinyin_col].iloc[i]) if pinyin_col else None,
            "source": source,
            "synthetic": False,
            "properties": {},
            "geom": f"SRID=4326;{wkt[i]}",
        }
        for i in range(len(frame))
    ]
    return report, rows


def import_boundaries(
    session: Session, path: str | Path, options: BoundaryImportOptions | None = None
) -> ImportReport:
    """Validate a boundary file and upsert its divisions by code, all or nothing.

    Raises
    ------
    ImportValidationError
        When any feature is bad; its ``report`` names each one and nothing is written.
    """
    options = options or BoundaryImportOptions()
    path = Path(path)
    frame = read_vector(path, layer=options.layer)
    report, rows = validate_boundaries(frame, options, source=path.name, session=session)
    if not report.ok:
        raise ImportValidationError(report)
    # Parents first, so the self-referencing foreign key holds within one statement batch.
    rows.sort(key=lambda r: len(r["code"]))
    with session.begin_nested():
        for length in (6, 9, 12):
            batch = [r for r in rows if len(r["code"]) == length]
            inserted, updated = upsert_divisions(session, batch)
            report.inserted += inserted
            report.updated += updated
    return report
