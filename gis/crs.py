"""Coordinate reference systems: input tags, storage, and Gauss-Krüger metric CRSs.

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
from gis.gcj02 import (
    GCJ02_EXTENT,
    as_float_pair,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

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
    "InputCrs",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_metric",
    "gauss_kruger_epsg",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs_for",
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

GK_CM_EPSG_WEST: Final = 4534
"""EPSG code of "CGCS2000 / 3-degree Gauss-Kruger CM 75E" (false easting 500000, no zone prefix)."""
GK_CM_EPSG_EAST: Final = 4554
"""EPSG code of "CGCS2000 / 3-degree Gauss-Kruger CM 135E"."""
_GK_CM_WEST_DEG: Final = 75
_GK_CM_EAST_DEG: Final = 135


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


@lru_cache(maxsize=64)
def _transformer_wkt(source_wkt: str, target_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS(source_wkt), CRS(target_wkt), always_xy=True)


def transformer_between(source: object, target: object) -> Transformer:
    """Return a cached lon/lat-ordered transformer between any two pyproj CRS inputs.

    Building one costs ~50 ms (PROJ searches the operations CGCS2000 ↔ WGS 84), so code that
    converts many arrays between the same pair must not build it per call.
    """
    return _transformer_wkt(
        CRS.from_user_input(source).to_wkt(), CRS.from_user_input(target).to_wkt()
    )


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
        return as_float_pair(x, y)
    if source.kind is CrsKind.GCJ02:
        return gcj02_to_wgs84(x, y)
    if source.kind is CrsKind.BD09:
        return bd09_to_wgs84(x, y)
    assert source.epsg is not None  # an EPSG kind always carries its code
    return _project(x, y, source.epsg, STORAGE_SRID)


def _project(
    x: npt.ArrayLike, y: npt.ArrayLike, source_epsg: int, target_epsg: int
) -> tuple[FloatArray, FloatArray]:
    xs, ys = as_float_pair(x, y)
    tx, ty = _project_unchecked(xs, ys, source_epsg, target_epsg)
    failed = (_finite_xy(xs, ys) & ~_finite_xy(tx, ty)).ravel()
    if failed.any():
        first = int(np.flatnonzero(failed)[0])
        raise CoordinateTransformError(
            f"{int(failed.sum())} coordinate(s) cannot be transformed from EPSG:{source_epsg} "
            f"to EPSG:{target_epsg} (outside its area of validity); first at position {first}: "
            f"x={float(xs.ravel()[first])!r}, y={float(ys.ravel()[first])!r}"
        )
    return tx, ty


def _project_unchecked(
    xs: FloatArray, ys: FloatArray, source_epsg: int, target_epsg: int
) -> tuple[FloatArray, FloatArray]:
    """Transform with PROJ; coordinates it cannot transform come back as inf."""
    tx, ty = _transformer(source_epsg, target_epsg).transform(xs, ys)
    return np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)


def _finite_xy(x: FloatArray, y: FloatArray) -> BoolArray:
    finite: BoolArray = np.isfinite(x) & np.isfinite(y)
    return finite


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


def _project_geometries(
    geoms: GeometryArray | shapely.Geometry, source_epsg: int, target_epsg: int
) -> GeometryArray:
    source = np.asarray(geoms, dtype=object)
    out = _transform_geometries(
        source, lambda x, y: _project_unchecked(x, y, source_epsg, target_epsg)
    )
    # Checked afterwards, per geometry, so that the error names the geometry, not a vertex.
    before, owner = shapely.get_coordinates(source, return_index=True)
    after = shapely.get_coordinates(out)
    failed = _finite_xy(before[:, 0], before[:, 1]) & ~_finite_xy(after[:, 0], after[:, 1])
    if failed.any():
        bad = np.unique(owner[failed])
        raise CoordinateTransformError(
            f"{bad.size} geometr{'y' if bad.size == 1 else 'ies'} cannot be transformed from "
            f"EPSG:{source_epsg} to EPSG:{target_epsg} (outside its area of validity); the "
            f"first is geometry {int(bad[0])} (flat index), at x={float(before[failed][0, 0])!r}, "
            f"y={float(before[failed][0, 1])!r}"
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
        2D geometries in EPSG:4326 (Z is dropped: storage columns are 2D), same shape as `geoms`
        (0-d for one geometry).

    Raises
    ------
    UnknownCrsError
        If `crs` is an unknown tag.
    CoordinateTransformError
        If PROJ cannot transform a finite coordinate; the message names the first such geometry.
    """
    source = _as_crs(crs)
    if source.kind is CrsKind.EPSG:
        assert source.epsg is not None  # an EPSG kind always carries its code
        return _project_geometries(geoms, source.epsg, STORAGE_SRID)
    return _transform_geometries(geoms, lambda x, y: to_storage_xy(x, y, source))


# --------------------------------------------------------------------------------------------
# Gauss-Krüger metric CRS


def gauss_kruger_epsg(lon: float) -> int:
    """Return the EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM form) for `lon`.

    Zones are 3° wide round central meridians 75°E, 78°E, ..., 135°E (EPSG:4534-4554, false
    easting 500000 m, no zone prefix). A longitude exactly half-way goes to the eastern zone.
    Longitudes 73.0-73.5°E (inside `CHINA_EXTENT`, west of the CM 75°E zone) use that zone.

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
        geoms = np.asarray(data, dtype=object)
        if geoms.size == 0:
            raise InvalidInputError("cannot choose a metric CRS for empty data")
        lon_min, _, lon_max, _ = (float(v) for v in shapely.total_bounds(geoms))
    if math.isnan(lon_min) or math.isnan(lon_max):
        raise InvalidInputError("cannot choose a metric CRS for empty data")
    return _crs(gauss_kruger_epsg((lon_min + lon_max) / 2.0))


def to_metric(geoms: GeometryArray | shapely.Geometry, *, epsg: int) -> GeometryArray:
    """Project EPSG:4326 geometries to a metric CRS, x = easting and y = northing in metres.

    Parameters
    ----------
    geoms : ndarray of shapely.Geometry, or one geometry
        Longitude/latitude in EPSG:4326.
    epsg : int
        The target CRS, normally ``metric_crs_for(geoms).to_epsg()``.

    Returns
    -------
    ndarray of shapely.Geometry
        2D geometries, same shape as `geoms`.

    Raises
    ------
    CoordinateTransformError
        If a finite coordinate cannot be projected (e.g. latitude beyond 90°).
    """
    return _project_geometries(geoms, STORAGE_SRID, epsg)


def from_metric(geoms: GeometryArray | shapely.Geometry, *, epsg: int) -> GeometryArray:
    """Unproject geometries from metric CRS `epsg` (x = easting, metres) to EPSG:4326.

    The inverse of `to_metric`; same shapes, same errors.
    """
    return _project_geometries(geoms, epsg, STORAGE_SRID)
