"""GCJ-02 (Mars coordinates) and BD-09 (Baidu): the public forward formulas and exact inverses.

Residents and grid workers report from AMap/Tencent/WeChat (GCJ-02) or Baidu (BD-09) apps; read
as WGS84, such a point lands 300-700 m off, in another grid. The inverses iterate the forward
formula until they agree with it to better than 1e-9 degree (about 0.1 mm). Like the public
implementations, no offset is applied outside the rough box `GCJ02_EXTENT`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Bounds = tuple[float, float, float, float]

GCJ02_EXTENT: Final[Bounds] = (72.004, 0.8293, 137.8347, 55.8271)
"""The rough box inside which the public GCJ-02/BD-09 formulas apply an offset (edges included)."""

# Krasovsky 1940 ellipsoid as used by the public GCJ-02 formula; not a real datum change.
_GCJ_A: Final = 6378245.0
_GCJ_EE: Final = 0.00669342162296594323
_BD_X_PI: Final = math.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG: Final = 1e-10
_INVERSE_MAX_ITER: Final = 20


def in_box(lon: FloatArray, lat: FloatArray, box: Bounds) -> BoolArray:
    """Return True where (lon, lat) lies inside ``box`` (edges included)."""
    lon_min, lat_min, lon_max, lat_max = box
    inside: BoolArray = (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)
    return inside


def as_float_pair(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return broadcast float64 copies of ``lon`` and ``lat`` (inputs are never modified)."""
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
    x, y = as_float_pair(lon, lat)
    # Index only the inside points so that NaN/inf elsewhere never reach the trigonometry.
    inside = in_box(x, y, GCJ02_EXTENT)
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
    # Fixed point of w = g - shift(w). The shift's derivative is below 0.01 everywhere in the
    # box, so each step gains two decimal digits: 5 steps from a 700 m offset to 1e-10 degree.
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
