"""Read vector files (GeoJSON, GeoPackage, Shapefile, CSV) into GeoDataFrames.

Chinese shapefiles often come GBK/GB18030-encoded without a ``.cpg`` file; the encoding is
detected from the ``.dbf`` bytes so names are not mojibake.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gis.errors import InvalidInputError

SUPPORTED_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".csv", ".zip"}
_LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")


def detect_dbf_encoding(shp_path: Path) -> str | None:
    """Return the encoding of a shapefile's attributes, or None to let GDAL decide.

    A ``.cpg`` file wins. Otherwise the record bytes are tried as UTF-8, then GB18030 (a
    superset of GBK and GB2312): bytes that are not valid UTF-8 but decode as GB18030 are
    taken as Chinese legacy encoding.
    """
    cpg = shp_path.with_suffix(".cpg")
    if cpg.exists():
        return cpg.read_text(errors="replace").strip() or None
    dbf = next(
        (p for p in (shp_path.with_suffix(".dbf"), shp_path.with_suffix(".DBF")) if p.exists()),
        None,
    )
    if dbf is None:
        return None
    raw = dbf.read_bytes()
    if len(raw) < 32:
        return None
    header_len = int.from_bytes(raw[8:10], "little")
    body = raw[header_len:]
    if body.isascii():
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        try:
            body.decode("gb18030")
        except UnicodeDecodeError:
            return None
        return "GB18030"
    return "UTF-8"


def list_layers(path: Path) -> list[str]:
    """Return the layer names of a multi-layer file (GeoPackage)."""
    return [str(name) for name, _ in pyogrio.list_layers(path)]


def check_input_file(path: Path, *, layer: str | None = None) -> str:
    """Check what can be checked before reading: the file exists, its format, not empty.

    A GeoPackage with several layers needs ``layer``. Returns the lower-case suffix.

    Raises
    ------
    InvalidInputError
        With the file named and the reason.
    """
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InvalidInputError(
            f"{path.name}: unsupported format {suffix!r}; use GeoJSON, GeoPackage, Shapefile or CSV"
        )
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path.name}: the file is empty")
    if suffix == ".gpkg" and layer is None:
        layers = list_layers(path)
        if len(layers) > 1:
            raise InvalidInputError(
                f"{path.name}: several layers {layers}; choose one with --layer"
            )
    return suffix


def read_vector(path: str | Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a GeoJSON, GeoPackage, Shapefile or CSV file.

    Parameters
    ----------
    path
        The file. A CSV needs lon/lat columns (any of lon/lng/longitude/x and lat/latitude/y)
        or a WKT column (wkt/geometry/geom); it has no CRS of its own.
    layer
        Layer of a GeoPackage; required when it has more than one.

    Returns
    -------
    GeoDataFrame in the file's own CRS (``crs`` is None when the file declares none).
    """
    path = Path(path)
    suffix = check_input_file(path, layer=layer)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in {".geojson", ".json"}:
        _check_json(path)
    encoding = detect_dbf_encoding(path) if suffix == ".shp" else None
    try:
        frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInputError(f"{path}: the layer has no geometry column")
    return frame


def _check_json(path: Path) -> None:
    """Give a precise message for malformed JSON instead of GDAL's generic one."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: GeoJSON must be UTF-8 ({exc.reason})") from exc
    if not isinstance(data, dict) or data.get("type") not in {
        "FeatureCollection",
        "Feature",
    }:
        raise InvalidInputError(f"{path}: not a GeoJSON FeatureCollection or Feature")


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{path}: the file is empty") from exc
    lower = {c.lower().strip(): c for c in frame.columns}
    lon_col = next((lower[n] for n in _LON_NAMES if n in lower), None)
    lat_col = next((lower[n] for n in _LAT_NAMES if n in lower), None)
    wkt_col = next((lower[n] for n in _WKT_NAMES if n in lower), None)
    if lon_col and lat_col:
        lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy()
        lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy()
        geoms = shapely.points(lon, lat)
        frame = frame.drop(columns=[lon_col, lat_col])
    elif wkt_col:
        text = frame[wkt_col].replace("", None).to_numpy()
        geoms = shapely.from_wkt(text, on_invalid="ignore")
        frame = frame.drop(columns=[wkt_col])
    else:
        raise InvalidInputError(
            f"{path}: a CSV needs lon/lat columns ({'/'.join(_LON_NAMES)} and "
            f"{'/'.join(_LAT_NAMES)}) or a WKT column ({'/'.join(_WKT_NAMES)}); "
            f"found {list(frame.columns)}"
        )
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=None)
