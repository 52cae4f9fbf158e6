"""Heuristics that catch coordinates in the wrong system: outside China, swapped axes, GCJ-02."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from gis.crs import CHINA_EXTENT, Bounds, GeometryArray, gauss_kruger_epsg, to_metric
from gis.errors import InvalidInputError
from gis.gcj02 import BoolArray, FloatArray, as_float_pair, gcj02_to_wgs84, in_box


def outside_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Return True where (lon, lat) in degrees lies outside `CHINA_EXTENT` (NaN counts as outside).

    Examples
    --------
    >>> outside_china([116.4, 2.35], [39.9, 48.86]).tolist()
    [False, True]
    """
    x, y = as_float_pair(lon, lat)
    return ~in_box(x, y, CHINA_EXTENT)


def looks_swapped(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Return True where a point is outside China as (lon, lat) but inside it as (lat, lon).

    This is the signature of a file or client that wrote latitude first (EPSG:4326's official
    axis order). China's latitudes and longitudes do not overlap, so the test is unambiguous.

    Examples
    --------
    >>> looks_swapped([39.9, 116.4], [116.4, 39.9]).tolist()
    [True, False]
    """
    x, y = as_float_pair(lon, lat)
    return ~in_box(x, y, CHINA_EXTENT) & in_box(y, x, CHINA_EXTENT)


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
        If `reference` holds no non-empty geometry or lies outside China, or an option is out
        of range.

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
    x, y = (a.ravel() for a in as_float_pair(lon, lat))
    cx, cy = gcj02_to_wgs84(x, y)
    usable = np.flatnonzero(in_box(x, y, box) & in_box(cx, cy, box))
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
