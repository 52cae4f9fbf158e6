"""Coordinate reference systems: input tags, GCJ-02/BD-09, storage and Gauss-Krüger metric CRSs.

Everything is stored as longitude/latitude in EPSG:4326 (`STORAGE_SRID`). Inputs say their
system with a tag (`parse_crs_tag`): ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:n``.
Metric work happens in the CGCS2000 3-degree Gauss-Krüger zone of the data (EPSG:4534-4554).

Axis order: every function here takes ``x`` = easting/longitude and ``y`` = northing/latitude,
whatever axis order the EPSG registry gives the CRS (EPSG:4326 and EPSG:4490 are officially
latitude first, the Gauss-Krüger CRSs northing first). pyproj is always called with
``always_xy=True``.

CGCS2000 (EPSG:4490) is treated as identical to WGS84: the two differ by less than 1 m, and PROJ
itself only knows a null "ballpark" transformation between them.

GCJ-02 and BD-09 use the public (reverse-engineered) forward formulas; the inverses iterate the
forward formula until they agree with it to better than 1e-9 degree (about 0.1 mm). Like the
public implementations, no offset is applied outside the rough box `GCJ02_EXTENT`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from numbers import Real
from typing import Final, TypeGuard

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gis.errors import CoordinateTransformError, InvalidInputError, UnknownCrsError

__all__ = [
    "BD09",
    "CGCS2000",
    "CHINA_EXTENT",
    "GCJ02",
    "GCJ02_EXTENT",
    "GK_CM_EPSG_EAST",
    "GK_CM_EPSG_WEST",
    "STORAGE_SRID",
    "WGS84",
    "CrsKind",
    "Gcj02Score",
    "InputCrs",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_metric",
    "gauss_kruger_epsg",
    "gcj02_offset_score",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "looks_swapped",
    "metric_crs_for",
    "outside_china",
    "parse_crs_tag",
    "to_metric",
    "to_storage_geometries",
    "to_storage_xy",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
GeometryArray = npt.NDArray[np.object_]
Bounds = tuple[float, float, float, float]

STORAGE_SRID: Final = 4326
"""SRID of every stored geometry: WGS84 longitude/latitude."""

CHINA_EXTENT: Final[Bounds] = (73.0, 3.0, 135.5, 54.0)
"""(lon_min, lat_min, lon_max, lat_max) in degrees: a generous box round China and its seas."""

GCJ02_EXTENT: Final[Bounds] = (72.004, 0.8293, 137.8347, 55.8271)
"""The rough box inside which the public GCJ-02/BD-09 formulas apply an offset (edges included)."""

GK_CM_EPSG_WEST: Final = 4534
"""EPSG code of "CGCS2000 / 3-degree Gauss-Kruger CM 75E" (false easting 500000, no zone prefix)."""
GK_CM_EPSG_EAST: Final = 4554
"""EPSG code of "CGCS2000 / 3-degree Gauss-Kruger CM 135E"."""
_GK_CM_WEST_DEG: Final = 75
_GK_CM_EAST_DEG: Final = 135

# Krasovsky 1940 ellipsoid as used by the public GCJ-02 formula; not a real datum change.
_GCJ_A: Final = 6378245.0
_GCJ_EE: Final = 0.00669342162296594323
_BD_X_PI: Final = math.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG: Final = 1e-10
_INVERSE_MAX_ITER: Final = 20


class CrsKind(StrEnum):
    """The coordinate systems an input may declare."""

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"
    EPSG = "epsg"


@dataclass(frozen=True, slots=True)
class InputCrs:
    """A parsed input CRS tag.

    ``epsg`` is 4326 for WGS84, 4490 for CGCS2000, the code for any other EPSG CRS and ``None``
    for GCJ-02 and BD-09, which have no EPSG code. Build one with `parse_crs_tag`.
    """

    kind: CrsKind
    epsg: int | None = None

    @property
    def tag(self) -> str:
        """Return the canonical tag: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:n``."""
        return f"EPSG:{self.epsg}" if self.kind is CrsKind.EPSG else self.kind.value

    def __str__(self) -> str:
        return self.tag


WGS84: Final = InputCrs(CrsKind.WGS84, 4326)
CGCS2000: Final = InputCrs(CrsKind.CGCS2000, 4490)
GCJ02: Final = InputCrs(CrsKind.GCJ02)
BD09: Final = InputCrs(CrsKind.BD09)

_NAMED_TAGS: Final[dict[str, InputCrs]] = {
    "wgs84": WGS84,
    "crs84": WGS84,
    "ogc:crs84": WGS84,
    "cgcs2000": CGCS2000,
    "gcj02": GCJ02,
    "bd09": BD09,
    "bd09ll": BD09,
}
_ACCEPTED_FORMS: Final = (
    "wgs84, cgcs2000, gcj02, bd09 (bd09ll), EPSG:n, urn:ogc:def:crs:EPSG::n, "
    "http://www.opengis.net/def/crs/EPSG/0/n, CRS84 or OGC:CRS84"
)
_EPSG_PATTERNS: Final = (
    re.compile(r"epsg:(\d+)"),
    re.compile(r"urn:ogc:def:crs:epsg:[\d.]*:(\d+)"),
    re.compile(r"https?://www\.opengis\.net/def/crs/epsg/[\d.]+/(\d+)"),
)
_CRS84_PATTERNS: Final = (
    re.compile(r"urn:ogc:def:crs:ogc:[\d.]*:crs84"),
    re.compile(r"https?://www\.opengis\.net/def/crs/ogc/[\d.]+/crs84"),
)


def parse_crs_tag(tag: str) -> InputCrs:
    """Parse the CRS tag that comes with every coordinate input.

    Parameters
    ----------
    tag : str
        Case-insensitive: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` (or ``bd09ll``), ``EPSG:n``,
        ``urn:ogc:def:crs:EPSG::n``, ``http://www.opengis.net/def/crs/EPSG/0/n``, or CRS84 in its
        plain, ``OGC:``, URN or URI form. EPSG:4326 and CRS84 both mean `WGS84`, EPSG:4490 means
        `CGCS2000`; axis order is never taken from the tag (x is always longitude/easting).

    Returns
    -------
    InputCrs

    Raises
    ------
    UnknownCrsError
        If the tag is none of the above, or names an EPSG code that PROJ does not know or that is
        neither geographic nor projected (geocentric, vertical, engineering...).

    Examples
    --------
    >>> parse_crs_tag("urn:ogc:def:crs:EPSG::4490")
    InputCrs(kind=<CrsKind.CGCS2000: 'cgcs2000'>, epsg=4490)
    >>> str(parse_crs_tag("epsg:4548"))
    'EPSG:4548'
    """
    key = tag.strip().lower()
    if key in _NAMED_TAGS:
        return _NAMED_TAGS[key]
    if any(p.fullmatch(key) for p in _CRS84_PATTERNS):
        return WGS84
    for pattern in _EPSG_PATTERNS:
        match = pattern.fullmatch(key)
        if match:
            return _epsg_input(tag, int(match.group(1)))
    raise UnknownCrsError(f"unknown CRS tag {tag!r}; accepted forms: {_ACCEPTED_FORMS}")


def _epsg_input(tag: str, code: int) -> InputCrs:
    if code == WGS84.epsg:
        return WGS84
    if code == CGCS2000.epsg:
        return CGCS2000
    try:
        crs = _crs(code)
    except CRSError:
        raise UnknownCrsError(f"CRS tag {tag!r}: EPSG:{code} is not a known EPSG code") from None
    if not (crs.is_projected or crs.is_geographic):
        raise UnknownCrsError(
            f"CRS tag {tag!r}: EPSG:{code} ({crs.name}) is not a geographic or projected CRS"
        )
    return InputCrs(CrsKind.EPSG, code)


def _as_crs(crs: InputCrs | str) -> InputCrs:
    return crs if isinstance(crs, InputCrs) else parse_crs_tag(crs)


@lru_cache(maxsize=64)
def _crs(epsg: int) -> CRS:
    return CRS.from_epsg(epsg)


@lru_cache(maxsize=64)
def _transformer(source_epsg: int, target_epsg: int) -> Transformer:
    # pyproj >= 3.1 transformers are thread-safe, so one cached instance serves all requests.
    return Transformer.from_crs(_crs(source_epsg), _crs(target_epsg), always_xy=True)


# --------------------------------------------------------------------------------------------
# GCJ-02 and BD-09


def _in_box(lon: FloatArray, lat: FloatArray, box: Bounds) -> BoolArray:
    lon_min, lat_min, lon_max, lat_max = box
    inside: BoolArray = (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)
    return inside


def _float_pair(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x.copy(), y.copy()


def _gcj02_shift(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS84 positions (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    # The periodic terms shared by both components.
    common = (20.0 * np.sin(6.0 * np.pi * x) + 20.0 * np.sin(2.0 * np.pi * x)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(np.pi * y) + 40.0 * np.sin(np.pi * y / 3.0)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(np.pi * y / 12.0) + 320.0 * np.sin(np.pi * y / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(np.pi * x) + 40.0 * np.sin(np.pi * x / 3.0)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(np.pi * x / 12.0) + 300.0 * np.sin(np.pi * x / 30.0)) * 2.0 / 3.0
    # The terms above are metres on the Krasovsky ellipsoid; turn them into degrees.
    phi = np.radians(lat)
    w2 = 1.0 - _GCJ_EE * np.sin(phi) ** 2
    w = np.sqrt(w2)
    meridian_radius = _GCJ_A * (1.0 - _GCJ_EE) / (w2 * w)
    parallel_radius = _GCJ_A / w * np.cos(phi)
    return np.degrees(dlon / parallel_radius), np.degrees(dlat / meridian_radius)


def _apply_inside(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    convert: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
) -> tuple[FloatArray, FloatArray]:
    """Apply `convert` to the points inside `GCJ02_EXTENT` only; others pass through unchanged."""
    x, y = _float_pair(lon, lat)
    # Index only the inside points so that NaN/inf elsewhere never reach the trigonometry.
    inside = _in_box(x, y, GCJ02_EXTENT)
    if inside.ndim == 0:
        if not inside:
            return x, y
        cx, cy = convert(x, y)
        return np.asarray(cx, dtype=np.float64), np.asarray(cy, dtype=np.float64)
    if inside.any():
        x[inside], y[inside] = convert(x[inside], y[inside])
    return x, y


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj02_shift(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Fixed point of w = g - shift(w): the shift changes by < 0.3 % per degree, so each step
    # gains more than two decimal digits; 3-4 steps reach 1e-10 degree.
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj02_shift(wlon, wlat)
        nlon, nlat = lon - dlon, lat - dlat
        step = max(float(np.max(np.abs(nlon - wlon))), float(np.max(np.abs(nlat - wlat))))
        wlon, wlat = nlon, nlat
        if step < _INVERSE_TOL_DEG:
            break
    return wlon, wlat


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    radius = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return radius * np.cos(theta) + 0.0065, radius * np.sin(theta) + 0.006


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Start from the usual closed-form approximation (error up to ~0.2 m), then correct it
    # with the forward formula until both agree.
    x, y = lon - 0.0065, lat - 0.006
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    glon, glat = radius * np.cos(theta), radius * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        blon, blat = _gcj_to_bd(glon, glat)
        elon, elat = lon - blon, lat - blat
        glon, glat = glon + elon, glat + elat
        if max(float(np.max(np.abs(elon))), float(np.max(np.abs(elat)))) < _INVERSE_TOL_DEG:
            break
    return glon, glat


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Shift WGS84 longitude/latitude (degrees) to GCJ-02 with the public forward formula.

    Points outside `GCJ02_EXTENT` (and NaN) are returned unchanged. Inputs broadcast against
    each other; the outputs are float64 arrays of the broadcast shape (0-d for scalars).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410244, 39.916404)
    """
    return _apply_inside(lon, lat, _wgs_to_gcj)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitude/latitude (degrees) to WGS84 by iterating the forward formula.

    The result agrees with `wgs84_to_gcj02` to better than 1e-9 degree (about 0.1 mm). The
    China-box test uses the GCJ-02 input, so a point within ~1 km of the box edge may not round
    trip; no Chinese territory is that close to it.
    """
    return _apply_inside(lon, lat, _gcj_to_wgs)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitude/latitude to Baidu BD-09 (``bd09ll``) with the public formula.

    Outside `GCJ02_EXTENT` points are unchanged (Baidu serves WGS84 abroad).
    """
    return _apply_inside(lon, lat, _gcj_to_bd)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitude/latitude to GCJ-02, iterating the forward formula to < 1e-9°."""
    return _apply_inside(lon, lat, _bd_to_gcj)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 longitude/latitude to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitude/latitude to WGS84 (through GCJ-02, both steps iterative)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# --------------------------------------------------------------------------------------------
# Storage (EPSG:4326)


def to_storage_xy(
    x: npt.ArrayLike, y: npt.ArrayLike, crs: InputCrs | str
) -> tuple[FloatArray, FloatArray]:
    """Convert coordinates in any accepted input CRS to storage longitude/latitude (EPSG:4326).

    Parameters
    ----------
    x, y : array_like
        Easting/longitude and northing/latitude in `crs` (degrees or the CRS's unit), in this
        order even where the EPSG axis order is latitude or northing first.
    crs : InputCrs or str
        The input CRS, or a tag for `parse_crs_tag`.

    Returns
    -------
    lon, lat : ndarray of float64
        Degrees in EPSG:4326, broadcast shape of the inputs. CGCS2000 passes through unchanged.

    Raises
    ------
    UnknownCrsError
        If `crs` is an unknown tag.
    CoordinateTransformError
        If PROJ cannot transform a finite input coordinate (outside the CRS's domain).

    Examples
    --------
    >>> lon, lat = to_storage_xy(500000.0, 4419000.0, "EPSG:4548")
    >>> round(float(lon), 6), round(float(lat), 3)
    (117.0, 39.905)
    """
    source = _as_crs(crs)
    if source.kind in (CrsKind.WGS84, CrsKind.CGCS2000):
        return _float_pair(x, y)
    if source.kind is CrsKind.GCJ02:
        return gcj02_to_wgs84(x, y)
    if source.kind is CrsKind.BD09:
        return bd09_to_wgs84(x, y)
    assert source.epsg is not None  # an EPSG kind always carries its code
    return _project(x, y, source.epsg, STORAGE_SRID)


def _project(
    x: npt.ArrayLike, y: npt.ArrayLike, source_epsg: int, target_epsg: int
) -> tuple[FloatArray, FloatArray]:
    xs, ys = _float_pair(x, y)
    tx, ty = _transformer(source_epsg, target_epsg).transform(xs, ys)
    tx, ty = np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)
    failed = (np.isfinite(xs) & np.isfinite(ys) & ~(np.isfinite(tx) & np.isfinite(ty))).ravel()
    if failed.any():
        first = int(np.flatnonzero(failed)[0])
        raise CoordinateTransformError(
            f"{int(failed.sum())} coordinate(s) cannot be transformed from EPSG:{source_epsg} "
            f"to EPSG:{target_epsg}; the first is number {first} (flat index), "
            f"x={float(xs.ravel()[first])!r}, y={float(ys.ravel()[first])!r}"
        )
    return tx, ty


def _transform_geometries(
    geoms: GeometryArray | shapely.Geometry,
    convert: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
) -> GeometryArray:
    def transformation(xy: FloatArray) -> FloatArray:
        x, y = convert(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    # One call for all coordinates of all geometries; storage columns are 2D, so Z is dropped.
    out: GeometryArray = np.asarray(
        shapely.transform(np.asarray(geoms, dtype=object), transformation, include_z=False)
    )
    return out


def to_storage_geometries(
    geoms: GeometryArray | shapely.Geometry, crs: InputCrs | str
) -> GeometryArray:
    """Convert shapely geometries from `crs` to storage longitude/latitude (EPSG:4326).

    Parameters
    ----------
    geoms : ndarray of shapely.Geometry, or one geometry
        Coordinates in `crs`, x = easting/longitude. ``None`` entries stay ``None``.
    crs : InputCrs or str
        The input CRS, or a tag for `parse_crs_tag`.

    Returns
    -------
    ndarray of shapely.Geometry
        2D geometries in EPSG:4326 (Z is dropped: storage columns are 2D), same shape as `geoms`.
    """
    source = _as_crs(crs)
    return _transform_geometries(geoms, lambda x, y: to_storage_xy(x, y, source))


# --------------------------------------------------------------------------------------------
# Gauss-Krüger metric CRS


def gauss_kruger_epsg(lon: float) -> int:
    """Return the EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM form) for `lon`.

    Zones are 3° wide round central meridians 75°E, 78°E, ..., 135°E (EPSG:4534-4554, false
    easting 500000 m, no zone prefix). A longitude exactly half-way goes to the eastern zone.
    Longitudes in `CHINA_EXTENT` west of 73.5°E or east of 136.5°E use the outermost zone.

    Parameters
    ----------
    lon : float
        Longitude in degrees east (WGS84/CGCS2000).

    Raises
    ------
    InvalidInputError
        If `lon` is not finite or lies outside `CHINA_EXTENT`'s longitudes.

    Examples
    --------
    >>> gauss_kruger_epsg(116.4)  # Beijing: CM 117°E
    4548
    """
    lon_min, _, lon_max, _ = CHINA_EXTENT
    if not (math.isfinite(lon) and lon_min <= lon <= lon_max):
        raise InvalidInputError(
            f"longitude {lon!r} is outside China ({lon_min}..{lon_max}°E): "
            "no CGCS2000 Gauss-Krüger zone applies"
        )
    central_meridian = 3 * math.floor(lon / 3.0 + 0.5)
    central_meridian = min(max(central_meridian, _GK_CM_WEST_DEG), _GK_CM_EAST_DEG)
    return GK_CM_EPSG_WEST + (central_meridian - _GK_CM_WEST_DEG) // 3


def _is_bounds(data: object) -> TypeGuard[Sequence[float]]:
    return (
        isinstance(data, tuple | list) and len(data) == 4 and all(isinstance(v, Real) for v in data)
    )


def metric_crs_for(data: GeometryArray | shapely.Geometry | Sequence[float]) -> CRS:
    """Return the Gauss-Krüger CRS (metres) for EPSG:4326 data, chosen by its central longitude.

    Parameters
    ----------
    data : geometries or bounds
        Shapely geometries in EPSG:4326 (one, or an array), or ``(lon_min, lat_min, lon_max,
        lat_max)`` bounds. The zone is that of the middle of the bounds: a city-sized area is far
        narrower than a 3° zone, and the bounds cost nothing to compute.

    Returns
    -------
    pyproj.CRS
        One of EPSG:4534-4554. Use ``always_xy=True`` with it (its official axis order is
        northing, easting); `to_metric` does.

    Raises
    ------
    InvalidInputError
        If the data are empty or their centre is outside China.
    """
    if _is_bounds(data):
        lon_min, lon_max = float(data[0]), float(data[2])
    else:
        lon_min, _, lon_max, _ = (float(v) for v in shapely.total_bounds(np.asarray(data)))
    if math.isnan(lon_min) or math.isnan(lon_max):
        raise InvalidInputError("cannot choose a metric CRS for empty data")
    return _crs(gauss_kruger_epsg((lon_min + lon_max) / 2.0))


def to_metric(geoms: GeometryArray | shapely.Geometry, *, epsg: int) -> GeometryArray:
    """Project EPSG:4326 geometries to the metric CRS `epsg` (x = easting, y = northing, metres)."""
    return _transform_geometries(geoms, lambda x, y: _project(x, y, STORAGE_SRID, epsg))


def from_metric(geoms: GeometryArray | shapely.Geometry, *, epsg: int) -> GeometryArray:
    """Unproject geometries from metric CRS `epsg` (x = easting) back to EPSG:4326."""
    return _transform_geometries(geoms, lambda x, y: _project(x, y, epsg, STORAGE_SRID))


# --------------------------------------------------------------------------------------------
# Validator heuristics


def outside_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Return True where (lon, lat) in degrees lies outside `CHINA_EXTENT` (NaN counts as outside).

    Examples
    --------
    >>> outside_china([116.4, 2.35], [39.9, 48.86]).tolist()
    [False, True]
    """
    x, y = _float_pair(lon, lat)
    return ~_in_box(x, y, CHINA_EXTENT)


def looks_swapped(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Return True where a point is outside China as (lon, lat) but inside it as (lat, lon).

    This is the signature of a file or client that wrote latitude first (EPSG:4326's official
    axis order). China's latitudes and longitudes do not overlap, so the test is unambiguous.

    Examples
    --------
    >>> looks_swapped([39.9, 116.4], [116.4, 39.9]).tolist()
    [True, False]
    """
    x, y = _float_pair(lon, lat)
    return ~_in_box(x, y, CHINA_EXTENT) & _in_box(y, x, CHINA_EXTENT)


@dataclass(frozen=True, slots=True)
class Gcj02Score:
    """How well points match a WGS84 reference as given and after undoing a GCJ-02 offset.

    Distances are metres from each point to the nearest reference geometry; ``*_q_m`` is the
    ``quantile`` of them, ``*_median_m`` the median. ``n_points`` counts the points compared.
    """

    n_points: int
    quantile: float
    as_is_median_m: float
    corrected_median_m: float
    as_is_q_m: float
    corrected_q_m: float
    likely_gcj02: bool


def gcj02_offset_score(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    reference: GeometryArray,
    *,
    quantile: float = 0.25,
    ratio: float = 0.5,
    min_as_is_m: float = 10.0,
    min_points: int = 50,
    max_points: int = 20_000,
) -> Gcj02Score:
    """Tell whether points that claim WGS84 are really GCJ-02, by comparison with a WGS84 layer.

    Each point's distance to the nearest `reference` geometry is measured twice: as given, and
    after `gcj02_to_wgs84`. GCJ-02 data fit the reference much better once corrected.

    The verdict uses a low quantile (the lower quartile by default), not the median: boundaries
    and similar lines follow roads only in part, and in a dense street grid any shifted vertex is
    within half a block of some road, so the median moves little (Dongcheng 街道 against the
    OSM drive network: 25 m aligned, 54 m shifted). The lower quartile measures the share that
    does follow the reference (7 m aligned, 20 m shifted).

    Parameters
    ----------
    lon, lat : array_like
        Candidate points or vertices in degrees, claimed to be WGS84.
    reference : ndarray of shapely.Geometry
        A layer known to be WGS84 (EPSG:4326) that the points should lie on or near, such as an
        OSM road network for boundary vertices.
    quantile : float, optional
        Which distance quantile decides the verdict.
    ratio : float, optional
        ``likely_gcj02`` needs the corrected quantile below ``ratio`` times the as-is one ...
    min_as_is_m : float, optional
        ... and the as-is quantile at least this many metres (aligned data are not flagged).
    min_points : int, optional
        With fewer usable points the verdict is always False.
    max_points : int, optional
        Larger inputs are thinned to this many evenly spaced points.

    Returns
    -------
    Gcj02Score

    Raises
    ------
    InvalidInputError
        If `reference` holds no non-empty geometry, or an option is out of range.

    Notes
    -----
    Only points whose as-is and corrected positions both lie in the reference's bounding box
    are compared, so that data reaching beyond the reference do not dilute the result.
    """
    if not 0.0 < quantile < 1.0 or not 0.0 < ratio < 1.0 or min_points < 1 or max_points < 1:
        raise InvalidInputError(
            f"need 0 < quantile < 1, 0 < ratio < 1, min_points >= 1 and max_points >= 1; got "
            f"quantile={quantile}, ratio={ratio}, min_points={min_points}, max_points={max_points}"
        )
    ref = np.asarray(reference, dtype=object).ravel()
    ref = ref[~shapely.is_missing(ref) & ~shapely.is_empty(ref)]
    if ref.size == 0:
        raise InvalidInputError("the reference layer has no non-empty geometry")
    lon_min, lat_min, lon_max, lat_max = (float(v) for v in shapely.total_bounds(ref))
    box: Bounds = (lon_min, lat_min, lon_max, lat_max)
    x, y = (a.ravel() for a in _float_pair(lon, lat))
    cx, cy = gcj02_to_wgs84(x, y)
    usable = np.flatnonzero(_in_box(x, y, box) & _in_box(cx, cy, box))
    if usable.size > max_points:
        usable = usable[np.linspace(0, usable.size - 1, max_points).astype(np.intp)]
    if usable.size == 0:
        nan = float("nan")
        return Gcj02Score(0, quantile, nan, nan, nan, nan, likely_gcj02=False)

    epsg = gauss_kruger_epsg((lon_min + lon_max) / 2.0)
    tree = shapely.STRtree(to_metric(ref, epsg=epsg))

    def distances_m(px: FloatArray, py: FloatArray) -> FloatArray:
        points = to_metric(shapely.points(px, py), epsg=epsg)
        _, dist = tree.query_nearest(points, return_distance=True, all_matches=False)
        return np.asarray(dist, dtype=np.float64)

    as_is = distances_m(x[usable], y[usable])
    corrected = distances_m(cx[usable], cy[usable])
    as_is_q, corrected_q = np.quantile(as_is, quantile), np.quantile(corrected, quantile)
    likely = bool(
        usable.size >= min_points and as_is_q >= min_as_is_m and corrected_q < ratio * as_is_q
    )
    return Gcj02Score(
        n_points=int(usable.size),
        quantile=quantile,
        as_is_median_m=float(np.median(as_is)),
        corrected_median_m=float(np.median(corrected)),
        as_is_q_m=float(as_is_q),
        corrected_q_m=float(corrected_q),
        likely_gcj02=likely,
    )
