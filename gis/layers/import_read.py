"""Stream a layer file (GeoJSON, GeoPackage, Shapefile, CSV) in chunks of rows.

Each chunk is a GeoDataFrame in the file's own coordinates, indexed by **row number**: the
0-based feature index for vector files, the line number in the file for CSV (the header is
line 1, so the first data row is line 2) — what a user sees in QGIS or a text editor. Chunks
never hold the whole file: vector files are read with pyogrio's ``skip_features`` /
``max_features``, CSV with pandas' ``chunksize``.

A geometry that cannot be built (empty lon/lat, text that is not a number, unparseable WKT) is
None in the chunk, and column `GEOMETRY_NOTE` says why.
"""

from __future__ import annotations

import codecs
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gis.errors import InvalidInputError
from gis.readers import check_input_file, detect_dbf_encoding

GEOMETRY_NOTE: Final = "__geometry_note__"
CSV_FIRST_LINE: Final = 2
_LON_NAMES: Final = ("lon", "lng", "longitude", "x", "经度")
_LAT_NAMES: Final = ("lat", "latitude", "y", "纬度")
_WKT_NAMES: Final = ("wkt", "geometry", "geom", "the_geom")
_SNIFF_BYTES: Final = 1 << 20


@dataclass(frozen=True)
class LayerFile:
    """What is known about a file before its rows are read."""

    path: Path
    kind: str  # "vector" or "csv"
    feature_count: int
    crs: CRS | None
    layer: str | None = None
    encoding: str | None = None
    lon_column: str | None = None
    lat_column: str | None = None
    wkt_column: str | None = None


def _json_problem(path: Path) -> str | None:
    """Return a precise message for a malformed GeoJSON file, or None when it parses."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        return f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except UnicodeDecodeError as exc:
        return f"GeoJSON must be UTF-8 ({exc.reason})"
    if not isinstance(data, dict) or data.get("type") not in {"FeatureCollection", "Feature"}:
        return "not a GeoJSON FeatureCollection or Feature"
    return None


def _csv_encoding(path: Path) -> str:
    """Return ``utf-8-sig`` when the file decodes as UTF-8, else GB18030 (a superset of GBK)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_SNIFF_BYTES):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _count_lines(path: Path) -> int:
    """Return the number of lines (a last line without a newline counts), block by block."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(_SNIFF_BYTES):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _open_csv(path: Path) -> LayerFile:
    encoding = _csv_encoding(path)
    try:
        header = pd.read_csv(path, dtype=str, nrows=0, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise InvalidInputError(f"{path.name}: the file is empty") from None
    columns = [str(c) for c in header.columns]
    lon, lat = _pick(columns, _LON_NAMES), _pick(columns, _LAT_NAMES)
    wkt = _pick(columns, _WKT_NAMES)
    if not (lon and lat) and not wkt:
        raise InvalidInputError(
            f"{path.name}: a CSV needs lon/lat columns ({'/'.join(_LON_NAMES)} and "
            f"{'/'.join(_LAT_NAMES)}) or a WKT column ({'/'.join(_WKT_NAMES)}); found {columns}"
        )
    rows = _count_lines(path) - 1
    if rows <= 0:
        raise InvalidInputError(f"{path.name}: the file has a header but no rows")
    if lon and lat:
        wkt = None
    return LayerFile(path, "csv", rows, None, None, encoding, lon, lat, wkt)


def open_layer_file(path: str | Path, *, layer: str | None = None) -> LayerFile:
    """Check that ``path`` is a readable layer file and describe it, reading no rows.

    Raises
    ------
    InvalidInputError
        Missing, empty or malformed file, unsupported format, a GeoPackage with several
        layers and none chosen, a CSV without coordinate columns.
    """
    path = Path(path)
    suffix = check_input_file(path, layer=layer)
    if suffix == ".csv":
        return _open_csv(path)
    encoding = detect_dbf_encoding(path) if suffix == ".shp" else None
    try:
        info = pyogrio.read_info(path, layer=layer, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        detail = _json_problem(path) if suffix in {".geojson", ".json"} else None
        raise InvalidInputError(f"{path.name}: {detail or f'cannot read: {exc}'}") from exc
    if info.get("geometry_type") is None:
        raise InvalidInputError(f"{path.name}: the layer has no geometry column")
    count = int(info.get("features") or 0)
    if count <= 0:
        raise InvalidInputError(f"{path.name}: the file has no features")
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    return LayerFile(path, "vector", count, crs, layer, encoding)


def _vector_chunks(source: LayerFile, chunk_rows: int) -> Iterator[gpd.GeoDataFrame]:
    for start in range(0, source.feature_count, chunk_rows):
        with warnings.catch_warnings():
            # A column of mixed types (floors 6 and "abc") stays text; the checks name the rows.
            warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
            frame = pyogrio.read_dataframe(
                source.path,
                layer=source.layer,
                encoding=source.encoding,
                skip_features=start,
                max_features=chunk_rows,
            )
        frame.index = pd.RangeIndex(start, start + len(frame))
        frame[GEOMETRY_NOTE] = None
        yield frame


def _csv_geometries(source: LayerFile, frame: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    note = pd.Series(None, index=frame.index, dtype=object)
    if source.lon_column and source.lat_column:
        lon = pd.to_numeric(frame[source.lon_column], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(frame[source.lat_column], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(lon) & np.isfinite(lat))
        geoms = np.asarray(shapely.points(lon, lat), dtype=object)
        geoms[bad] = None
        note[bad] = (
            f"{source.lon_column}/{source.lat_column} are empty or not numbers: "
            + frame.loc[bad, source.lon_column].astype(str)
            + ", "
            + frame.loc[bad, source.lat_column].astype(str)
        )
        return geoms, note
    assert source.wkt_column is not None
    text = frame[source.wkt_column].replace("", None).to_numpy(dtype=object)
    geoms = np.asarray(shapely.from_wkt(text, on_invalid="ignore"), dtype=object)
    bad = shapely.is_missing(geoms)
    note[bad] = f"{source.wkt_column} is empty or not valid WKT"
    return geoms, note


def _csv_chunks(source: LayerFile, chunk_rows: int) -> Iterator[gpd.GeoDataFrame]:
    reader = pd.read_csv(
        source.path,
        dtype=str,
        keep_default_na=False,
        encoding=source.encoding,
        chunksize=chunk_rows,
    )
    drop = [c for c in (source.lon_column, source.lat_column, source.wkt_column) if c]
    with reader:
        for chunk in reader:
            chunk.index = chunk.index + CSV_FIRST_LINE
            geoms, note = _csv_geometries(source, chunk)
            frame = gpd.GeoDataFrame(
                chunk.drop(columns=drop), geometry=gpd.GeoSeries(geoms, index=chunk.index)
            )
            frame[GEOMETRY_NOTE] = note
            yield frame


def iter_chunks(source: LayerFile, *, chunk_rows: int) -> Iterator[gpd.GeoDataFrame]:
    """Yield the rows of ``source`` in chunks of at most ``chunk_rows`` (see module docstring)."""
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk size must be at least 1 row, got {chunk_rows}")
    if source.kind == "csv":
        return _csv_chunks(source, chunk_rows)
    return _vector_chunks(source, chunk_rows)
