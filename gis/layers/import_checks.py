"""Validate one chunk of a layer file and turn its good rows into staging rows, vectorised.

Every check runs on whole columns (numpy, pandas, shapely); Python only walks the rows that
failed, to word their reasons. The staging frame holds storage geometries as hex EWKB, ready
for COPY (`gis.db.copy_rows`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import CRS

from gis import crs as crsmod
from gis.boundaries import gcj02_suspects
from gis.crs_checks import gcj02_offset_score, looks_swapped, outside_china
from gis.db import hex_ewkb
from gis.errors import CoordinateTransformError, FeatureProblem, InvalidInputError
from gis.geometry import check_polygons
from gis.layers.checklist import Checklist
from gis.layers.classes import ClassTable
from gis.layers.import_read import GEOMETRY_NOTE

GeomArray = NDArray[np.object_]
MAX_FLOORS: Final = 200
MAX_COUNT: Final = 100_000


class ImportLayer(StrEnum):
    """The layers a file can be imported into."""

    BUILDING = "building"
    FACILITY = "facility"
    COMPONENT = "component"


# Attribute name -> accepted column names (case-insensitive), in order of preference.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "code": ("code", "building_code", "bldg_code", "编码", "建筑编码", "楼栋编码", "房屋编码"),
    "source_id": ("source_id", "id", "fid", "osm_id", "objectid", "uid"),
    "name": ("name", "名称", "建筑名称", "设施名称", "objname", "部件名称"),
    "address": ("address", "addr", "地址"),
    "floors": ("floors", "levels", "building:levels", "层数", "楼层数"),
    "dwellings": ("dwellings", "dwelling_count", "units", "套数"),
    "households": ("households", "户数"),
    "residents": ("residents", "population", "人口", "人数"),
    "category": ("category", "facility_category", "类别", "设施类别"),
    "obj_id": ("obj_id", "objid", "标识码"),
    "major_code": ("major_code", "大类代码"),
    "minor_code": ("minor_code", "小类代码"),
    "state": ("state", "objstate", "状态"),
    "dept_owner": ("dept_owner", "主管部门"),
    "dept_maintainer": ("dept_maintainer", "养护单位"),
    "dept_supervisor": ("dept_supervisor", "权属单位"),
    "initial_date": ("initial_date", "ordate"),
    "change_date": ("change_date", "chdate"),
}
LAYER_FIELDS: Final[dict[ImportLayer, tuple[str, ...]]] = {
    ImportLayer.BUILDING: (
        "code",
        "source_id",
        "name",
        "address",
        "floors",
        "dwellings",
        "households",
        "residents",
    ),
    ImportLayer.FACILITY: ("source_id", "code", "name", "address", "category"),
    ImportLayer.COMPONENT: (
        "obj_id",
        "major_code",
        "minor_code",
        "name",
        "state",
        "dept_owner",
        "dept_maintainer",
        "dept_supervisor",
        "initial_date",
        "change_date",
    ),
}
MAX_CHARS: Final[dict[str, int]] = {
    "code": 40,
    "source_id": 100,
    "name": 200,
    "address": 300,
    "category": 40,
    "state": 20,
    "dept_owner": 100,
    "dept_maintainer": 100,
    "dept_supervisor": 100,
}
STAGE_COLUMNS: Final[dict[ImportLayer, tuple[str, ...]]] = {
    ImportLayer.BUILDING: (
        "id",
        "source_id",
        "code",
        "name",
        "address",
        "floors",
        "dwellings",
        "households",
        "residents",
        "osm_tags",
        "geom",
        "pt",
    ),
    ImportLayer.FACILITY: ("id", "source_id", "category", "name", "address", "osm_tags", "geom"),
    ImportLayer.COMPONENT: (
        "id",
        "source_id",  # the obj_id
        *LAYER_FIELDS[ImportLayer.COMPONENT][1:],
        "geom",
        "pt",
    ),
}


def resolve_columns(
    columns: list[str], layer: ImportLayer, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """Return {attribute: column of the file} for the attributes of ``layer`` found in it."""
    lower = {str(c).lower().strip(): str(c) for c in columns}
    out: dict[str, str] = {}
    for attribute in LAYER_FIELDS[layer]:
        wanted = (overrides or {}).get(attribute)
        if wanted:
            if wanted not in columns:
                raise InvalidInputError(
                    f"--{attribute.replace('_', '-')}-field {wanted!r} not found; "
                    f"columns are {columns}"
                )
            out[attribute] = wanted
            continue
        found = next((lower[a] for a in ALIASES[attribute] if a in lower), None)
        if found is not None:
            out[attribute] = found
    return out


@dataclass(frozen=True)
class CheckContext:
    """Everything a chunk check needs besides the rows."""

    layer: ImportLayer
    columns: dict[str, str]
    source_crs: crsmod.InputCrs | CRS
    checklist: Checklist
    classes: ClassTable
    repair: bool = False
    reference: GeomArray | None = None  # WGS84 road lines for the GCJ-02 check
    keep_osm_tags: bool = False  # the OSM reader adds an ``osm_tags`` column of JSON text

    @property
    def declared_wgs84(self) -> bool:
        """True when the coordinates claim WGS84/CGCS2000 (the case the GCJ-02 check is for)."""
        if isinstance(self.source_crs, CRS):
            return self.source_crs.to_epsg() in (4326, 4490)
        return self.source_crs.kind in (crsmod.CrsKind.WGS84, crsmod.CrsKind.CGCS2000)


@dataclass
class ChunkResult:
    """Problems of a chunk, repairs made, and the staging rows of its good features."""

    problems: list[FeatureProblem] = field(default_factory=list)
    repairs: list[FeatureProblem] = field(default_factory=list)
    stage: pd.DataFrame = field(default_factory=pd.DataFrame)


class _Problems:
    """Reasons per row position, worded into `FeatureProblem` at the end."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.bad_geometry = np.zeros(n, dtype=bool)
        self.reasons: dict[int, list[tuple[str | None, str]]] = defaultdict(list)

    def add(self, mask: NDArray[np.bool_], reasons: object, field_name: str | None) -> None:
        positions = np.flatnonzero(mask)
        if positions.size == 0:
            return
        self.bad[positions] = True
        if field_name == "geometry":
            self.bad_geometry[positions] = True
        texts = (
            [str(reasons)] * positions.size
            if isinstance(reasons, str)
            else [str(r) for r in np.asarray(reasons, dtype=object)[positions]]
        )
        for pos, text in zip(positions.tolist(), texts, strict=True):
            self.reasons[pos].append((field_name, text))


def _text(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """Return a column as stripped text with None for empty; whole floats lose their ``.0``."""
    if column is None:
        return pd.Series(None, index=frame.index, dtype=object)
    raw = frame[column]
    if pd.api.types.is_float_dtype(raw):
        whole = raw.notna() & (raw % 1 == 0)
        out = raw.astype(object).where(raw.notna(), None)
        out[whole] = raw[whole].astype("int64").astype(str)
        out[raw.notna() & ~whole] = raw[raw.notna() & ~whole].astype(str)
        return out
    text = raw.astype(object).where(raw.notna(), None)
    text = text.map(lambda v: None if v is None else str(v).strip(), na_action="ignore")
    return text.where(~text.isin(["", "nan", "None", "NaN"]), None)


def _integers(
    values: pd.Series, *, name: str, low: int, high: int, problems: _Problems
) -> pd.Series:
    """Parse whole numbers in [low, high]; report the rest; return a nullable Int64 column."""
    present = values.notna().to_numpy()
    number = pd.to_numeric(values, errors="coerce")
    numeric = number.to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(numeric) & (numeric % 1 == 0) & (numeric >= low) & (numeric <= high)
    bad = present & ~ok
    problems.add(
        bad,
        "bad " + name + " " + values.astype(str).map(repr) + f": must be a whole number "
        f"from {low} to {high}",
        name,
    )
    return pd.Series(np.where(ok, numeric, np.nan), index=values.index).astype("Int64")


def _storage(geoms: GeomArray, ok: NDArray[np.bool_], ctx: CheckContext, p: _Problems) -> None:
    """Convert the ``ok`` geometries to EPSG:4326 in place, reporting those that fail."""
    if not ok.any():
        return
    source = ctx.source_crs
    tag: crsmod.InputCrs | str
    if isinstance(source, CRS):
        epsg = source.to_epsg()
        if epsg is None:
            geoms[ok] = np.asarray(
                gpd.GeoSeries(geoms[ok], crs=source).to_crs(crsmod.STORAGE_SRID).values,
                dtype=object,
            )
            return
        tag = f"EPSG:{epsg}"
    else:
        tag = source
    try:
        geoms[ok] = crsmod.to_storage_geometries(geoms[ok], tag)
    except CoordinateTransformError:
        # Rare error path: find the geometries PROJ cannot transform, one by one.
        for pos in np.flatnonzero(ok):
            try:
                geoms[pos] = crsmod.to_storage_geometries(np.array([geoms[pos]]), tag)[0]
            except CoordinateTransformError as exc:
                ok[pos] = False
                p.add(np.arange(len(geoms)) == pos, f"cannot transform coordinates: {exc}", None)


def _extent(geoms: GeomArray, ok: NDArray[np.bool_], p: _Problems) -> None:
    """Report geometries outside China, naming swapped lon/lat as such."""
    if not ok.any():
        return
    idx = np.flatnonzero(ok)
    b = shapely.bounds(geoms[idx])
    outside = outside_china(b[:, 0], b[:, 1]) | outside_china(b[:, 2], b[:, 3])
    swapped = looks_swapped(b[:, 0], b[:, 1]) & looks_swapped(b[:, 2], b[:, 3])
    where = [f"({x:.5f}, {y:.5f})" for x, y in b[outside][:, :2]]
    reasons = np.full(len(idx), "", dtype=object)
    reasons[outside] = [
        (
            f"coordinates look like latitude/longitude swapped: {w}; x must be the longitude"
            if s
            else f"coordinates outside China's extent: {w}"
        )
        for w, s in zip(where, swapped[outside], strict=True)
    ]
    mask = np.zeros(len(geoms), dtype=bool)
    mask[idx[outside]] = True
    full = np.full(len(geoms), "", dtype=object)
    full[idx] = reasons
    p.add(mask, full, "geometry")
    ok &= ~mask


def _gcj02(geoms: GeomArray, ok: NDArray[np.bool_], ctx: CheckContext, p: _Problems) -> None:
    """Report rows that fit the reference roads far better once read as GCJ-02."""
    if ctx.reference is None or len(ctx.reference) == 0 or not ctx.declared_wgs84 or not ok.any():
        return
    coords = shapely.get_coordinates(geoms[ok])
    score = gcj02_offset_score(coords[:, 0], coords[:, 1], ctx.reference)
    if not score.likely_gcj02:
        return
    suspects = gcj02_suspects(geoms, ok, ctx.reference)
    mask = np.zeros(len(geoms), dtype=bool)
    reasons = np.full(len(geoms), "", dtype=object)
    for pos, (given, shifted) in suspects.items():
        mask[pos] = True
        reasons[pos] = (
            f"likely GCJ-02 coordinates declared as WGS84: {given:.0f} m from reference roads "
            f"as given, {shifted:.0f} m if read as GCJ-02 (file: lower quartile "
            f"{score.as_is_q_m:.0f} m vs {score.corrected_q_m:.0f} m); re-import with --crs gcj02"
        )
    p.add(mask, reasons, "geometry")
    ok &= ~mask


def _geometries(
    frame: gpd.GeoDataFrame, ctx: CheckContext, p: _Problems, result: ChunkResult
) -> GeomArray:
    """Check and convert the geometries; return them (None where bad) in EPSG:4326."""
    geoms = np.asarray(frame.geometry.values, dtype=object)
    note = frame[GEOMETRY_NOTE].to_numpy(dtype=object)
    noted = pd.notna(frame[GEOMETRY_NOTE]).to_numpy(dtype=bool)
    p.add(noted, note, "geometry")
    geoms = geoms.copy()
    geoms[noted] = None
    if ctx.layer is ImportLayer.BUILDING:
        checked = check_polygons(geoms, repair=ctx.repair)
        bad = np.zeros(len(geoms), dtype=bool)
        bad[list(checked.problems)] = True
        reasons = np.full(len(geoms), "", dtype=object)
        for pos, reason in checked.problems.items():
            reasons[pos] = reason
        p.add(bad & ~noted, reasons, "geometry")
        p.bad_geometry |= bad
        rows = frame.index.to_numpy()
        for pos, text in checked.repairs.items():
            result.repairs.append(FeatureProblem(int(rows[pos]), text, field="geometry"))
        geoms = checked.geoms.copy()
    else:
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        p.add(missing & ~noted, "missing or empty geometry", "geometry")
        present = ~missing
        finite = np.ones(len(geoms), dtype=bool)
        finite[present] = np.isfinite(shapely.bounds(geoms[present])).all(axis=1)
        p.add(present & ~finite, "coordinates are not finite numbers", "geometry")
        present &= finite
        valid = np.ones(len(geoms), dtype=bool)
        valid[present] = shapely.is_valid(geoms[present])
        reasons = np.full(len(geoms), "", dtype=object)
        for invalid in np.flatnonzero(present & ~valid).tolist():
            reasons[invalid] = f"invalid geometry: {shapely.is_valid_reason(geoms[invalid])}"
        p.add(present & ~valid, reasons, "geometry")
        if ctx.layer is ImportLayer.FACILITY:
            types = np.full(len(geoms), -1)
            types[present] = shapely.get_type_id(geoms[present])
            point_like = np.isin(
                types,
                [
                    shapely.GeometryType.POINT,
                    shapely.GeometryType.POLYGON,
                    shapely.GeometryType.MULTIPOLYGON,
                ],
            )
            single_multi = (types == shapely.GeometryType.MULTIPOINT) & (
                shapely.get_num_geometries(geoms) == 1
            )
            p.add(
                present & ~point_like & ~single_multi,
                "a facility must be a Point (or a polygon, whose point on surface is used)",
                "geometry",
            )
    ok = ~p.bad_geometry  # attribute problems do not stop the geometry checks
    if ctx.layer is ImportLayer.FACILITY and ok.any():
        # Facilities drawn as areas (a school ground) are kept as their point on surface.
        geoms[ok] = shapely.point_on_surface(geoms[ok])
    _storage(geoms, ok, ctx, p)
    _extent(geoms, ok, p)
    _gcj02(geoms, ok, ctx, p)
    geoms[~ok] = None
    return geoms


def _too_long(values: dict[str, pd.Series], p: _Problems) -> None:
    for name, series in values.items():
        limit = MAX_CHARS.get(name)
        if limit is None:
            continue
        length = series.map(len, na_action="ignore").fillna(0).to_numpy(dtype=int)
        p.add(length > limit, f"{name} is longer than {limit} characters", name)


def _category_keys(checklist: Checklist) -> dict[str, str]:
    keys: dict[str, str] = {}
    for category in checklist.categories:
        for label in (category.key, category.name, category.name_en):
            keys[label.lower()] = category.key
    return keys


def _facility(values: dict[str, pd.Series], ctx: CheckContext, p: _Problems) -> pd.DataFrame:
    category = values["category"]
    keys = _category_keys(ctx.checklist)
    mapped = category.str.lower().map(keys)
    p.add(category.isna().to_numpy(), "missing category", "category")
    unknown = (category.notna() & mapped.isna()).to_numpy()
    known = ", ".join(ctx.checklist.keys)
    p.add(
        unknown,
        "unknown category " + category.astype(str).map(repr) + f"; checklist keys: {known}",
        "category",
    )
    return pd.DataFrame(
        {
            "source_id": values["source_id"],
            "category": mapped,
            "name": values["name"],
            "address": values["address"],
        }
    )


def _building(values: dict[str, pd.Series], p: _Problems) -> pd.DataFrame:
    out = pd.DataFrame(
        {"source_id": values["source_id"], "code": values["code"], "name": values["name"]}
    )
    out["address"] = values["address"]
    out["floors"] = _integers(values["floors"], name="floors", low=1, high=MAX_FLOORS, problems=p)
    for name in ("dwellings", "households", "residents"):
        out[name] = _integers(values[name], name=name, low=0, high=MAX_COUNT, problems=p)
    return out


def _dates(values: pd.Series, name: str, p: _Problems) -> pd.Series:
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    p.add(
        (values.notna() & parsed.isna()).to_numpy(),
        f"bad {name} " + values.astype(str).map(repr) + ": expected YYYY-MM-DD",
        name,
    )
    return parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), None)


def _component(values: dict[str, pd.Series], ctx: CheckContext, p: _Problems) -> pd.DataFrame:
    obj_id = values["obj_id"]
    p.add(obj_id.isna().to_numpy(), "missing obj_id (16-digit component identifier)", "obj_id")
    well_formed = obj_id.str.fullmatch(r"\d{16}").fillna(False).astype(bool)
    p.add(
        (obj_id.notna() & ~well_formed).to_numpy(),
        "bad obj_id " + obj_id.astype(str).map(repr) + ": must be 16 digits "
        "(6 county + 2 major + 2 minor + 6 serial)",
        "obj_id",
    )
    major = obj_id.str.slice(6, 8).where(well_formed, None)
    minor = obj_id.str.slice(8, 10).where(well_formed, None)
    for name, part in (("major_code", major), ("minor_code", minor)):
        given = values[name].str.zfill(2)
        clash = (given.notna() & part.notna() & (given != part)).to_numpy()
        p.add(clash, f"{name} " + given.astype(str) + " disagrees with obj_id " + part, name)
    code = (major + minor).where(well_formed, None)
    unknown = (code.notna() & ~code.isin(list(ctx.classes.components))).to_numpy()
    p.add(
        unknown,
        "unknown component class " + code.astype(str) + " (major " + major.astype(str) + ", minor "
        "" + minor.astype(str) + "); see gis/data/classes/components.csv",
        "obj_id",
    )
    out = pd.DataFrame({"source_id": obj_id, "major_code": major, "minor_code": minor})
    for name in ("name", "state", "dept_owner", "dept_maintainer", "dept_supervisor"):
        out[name] = values[name]
    for name in ("initial_date", "change_date"):
        out[name] = _dates(values[name], name, p)
    return out


def row_keys(layer: ImportLayer, values: dict[str, pd.Series], rows: pd.Index) -> pd.Series:
    """Return each row's upsert key: the code/obj_id/id column, else ``row:<n>``."""
    if layer is ImportLayer.COMPONENT:
        return values["obj_id"]
    key = values["source_id"]
    key = key.where(key.notna(), values["code"])
    fallback = pd.Series("row:" + rows.astype(str), index=rows)
    return key.where(key.notna(), fallback)


def check_chunk(frame: gpd.GeoDataFrame, ctx: CheckContext) -> ChunkResult:
    """Validate the rows of one chunk; return their problems and the staging rows of the rest.

    Parameters
    ----------
    frame
        Rows in the file's own CRS, indexed by row number (`gis.layers.import_read`).
    ctx
        Layer, column mapping, source CRS and reference data.
    """
    result = ChunkResult()
    p = _Problems(len(frame))
    values = {name: _text(frame, ctx.columns.get(name)) for name in ALIASES}
    values["source_id"] = row_keys(ctx.layer, values, frame.index)
    _too_long(values, p)
    if ctx.layer is ImportLayer.BUILDING:
        stage = _building(values, p)
    elif ctx.layer is ImportLayer.FACILITY:
        stage = _facility(values, ctx, p)
    else:
        stage = _component(values, ctx, p)
    geoms = _geometries(frame, ctx, p, result)
    rows = frame.index.to_numpy()
    key = values["obj_id" if ctx.layer is ImportLayer.COMPONENT else "source_id"].to_numpy()
    names = values["name"].to_numpy()
    for pos, reasons in sorted(p.reasons.items()):
        fields = sorted({f for f, _ in reasons if f})
        result.problems.append(
            FeatureProblem(
                index=int(rows[pos]),
                reason="; ".join(r for _, r in reasons),
                code=None if pd.isna(key[pos]) else str(key[pos]),
                name=None if pd.isna(names[pos]) else str(names[pos]),
                field=", ".join(fields) or None,
            )
        )
    good = ~p.bad
    stage = stage.loc[good].copy()
    stage.insert(0, "id", rows[good])
    keep = ctx.keep_osm_tags and "osm_tags" in frame
    stage["osm_tags"] = frame["osm_tags"].to_numpy()[good] if keep else None
    stage["geom"] = hex_ewkb(geoms[good])
    if ctx.layer is ImportLayer.BUILDING or ctx.layer is ImportLayer.COMPONENT:
        stage["pt"] = hex_ewkb(shapely.point_on_surface(geoms[good]))
    result.stage = stage.reindex(columns=list(STAGE_COLUMNS[ctx.layer]))
    return result
