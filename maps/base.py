"""What every map needs: input checks, light GeoJSON, and the map with its basemap.

Inputs are EPSG:4326 GeoDataFrames; anything else is refused (`require_wgs84`), never silently
reprojected. Geometries are simplified in the CGCS2000 Gauss-Krüger CRS of the data (tolerances
are metres) and rounded to 6 decimals (about 0.1 m), which roughly halves the embedded GeoJSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final, cast

import folium
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from branca.element import Figure

from gis.crs import STORAGE_SRID, from_metric, metric_crs_for, to_metric
from gis.errors import MapInputError
from maps.styles import BACKGROUND_COLOUR, OSM_ATTRIBUTION, SYNTHETIC_LABEL

COORD_DECIMALS: Final = 6
DEFAULT_SIMPLIFY_M: Final = 1.0
BEIJING_CENTRE: Final = (39.904, 116.397)  # lat, lon: only when a map has no data at all

GeometryArray = npt.NDArray[np.object_]


def require_wgs84(frame: gpd.GeoDataFrame, *, name: str) -> None:
    """Raise `MapInputError` unless `frame` is a GeoDataFrame in EPSG:4326."""
    if not isinstance(frame, gpd.GeoDataFrame):
        raise MapInputError(f"{name}: expected a GeoDataFrame, got {type(frame).__name__}")
    crs = frame.crs
    if crs is None:
        raise MapInputError(f"{name}: the GeoDataFrame has no CRS; maps take EPSG:4326 only")
    if crs.to_epsg() != STORAGE_SRID:
        raise MapInputError(
            f"{name}: CRS is {crs.to_string()}, but maps take EPSG:4326 only "
            "(reproject with .to_crs(4326) first)"
        )


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, name: str) -> None:
    """Raise `MapInputError` naming every column of `columns` missing from `frame`."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise MapInputError(
            f"{name}: missing column(s) {', '.join(missing)}; "
            f"has {', '.join(map(str, frame.columns))}"
        )


def require_geometries(frame: gpd.GeoDataFrame, *, name: str, kinds: Sequence[str]) -> None:
    """Raise `MapInputError` naming rows whose geometry is missing, empty or of another kind."""
    geoms = frame.geometry.to_numpy()
    types = shapely.get_type_id(geoms)  # -1 for None
    allowed = [shapely.GeometryType[kind.upper()].value for kind in kinds]
    bad = (types == -1) | shapely.is_empty(geoms) | ~np.isin(types, allowed)
    if bad.any():
        rows = frame.index[bad]
        shown = ", ".join(map(str, rows[:10])) + (
            f" and {rows.size - 10} more" if rows.size > 10 else ""
        )
        raise MapInputError(
            f"{name}: row(s) {shown} have a missing, empty or non-{'/'.join(kinds)} geometry"
        )


def prepared_geometries(
    frame: gpd.GeoDataFrame, *, simplify_m: float = DEFAULT_SIMPLIFY_M, coverage: bool = False
) -> GeometryArray:
    """Return the geometries of `frame` simplified by `simplify_m` metres and rounded.

    Parameters
    ----------
    frame : GeoDataFrame
        EPSG:4326 polygons or lines (points pass through, rounded).
    simplify_m : float
        Douglas-Peucker tolerance in metres, applied in the Gauss-Krüger CRS of the data;
        0 only rounds.
    coverage : bool
        The polygons tile an area (grid cells): simplify shared edges once, with
        `shapely.coverage_simplify`, so neighbours keep meeting without gaps or slivers.
    """
    geoms = frame.geometry.to_numpy()
    if simplify_m > 0 and len(geoms):
        epsg = metric_crs_for(geoms).to_epsg()
        if epsg is None:  # pragma: no cover - metric_crs_for only returns EPSG CRSs
            raise MapInputError("no EPSG code for the metric CRS")
        metric = to_metric(geoms, epsg=epsg)
        if coverage:
            metric = shapely.coverage_simplify(metric, simplify_m, simplify_boundary=True)
        else:
            metric = shapely.simplify(metric, simplify_m, preserve_topology=True)
        geoms = from_metric(metric, epsg=epsg)
    return round_coordinates(geoms)


def round_coordinates(geoms: GeometryArray) -> GeometryArray:
    """Round every coordinate to `COORD_DECIMALS` decimals (about 0.1 m)."""
    rounded: GeometryArray = shapely.transform(geoms, lambda xy: np.round(xy, COORD_DECIMALS))
    return rounded


def feature_collection(
    geoms: GeometryArray, properties: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of `geoms` with one property row each.

    Geometries and properties are serialised column-wise (shapely and pandas, in C) and joined
    as text: no Python object is built per feature until the final parse.
    """
    geometry_json = shapely.to_geojson(geoms)
    if properties is None or properties.shape[1] == 0:
        property_json = np.full(len(geoms), "{}", dtype=object)
    else:
        lines = properties.to_json(
            orient="records",
            lines=True,
            force_ascii=False,
            date_format="iso",
            double_precision=COORD_DECIMALS,
        )
        property_json = np.array(lines.split("\n")[: len(geoms)], dtype=object)
    if len(geoms) == 0:
        return {"type": "FeatureCollection", "features": []}
    features = (
        '{"type":"Feature","geometry":' + geometry_json + ',"properties":' + property_json + "}"
    )
    parsed: dict[str, Any] = json.loads(
        '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
    )
    return parsed


def style_column(fill_colours: npt.ArrayLike, **common: object) -> npt.NDArray[np.object_]:
    """Return one Leaflet style dict per feature: `common` plus its ``fillColor``.

    Features of one colour share one dict, so the work is per colour, not per feature.
    """
    uniques, inverse = np.unique(np.asarray(fill_colours, dtype=str), return_inverse=True)
    styles = np.empty(len(uniques), dtype=object)
    styles[:] = [{**common, "fillColor": str(colour)} for colour in uniques]
    column: npt.NDArray[np.object_] = styles[inverse.reshape(-1)]
    return column


def label_points(geoms: GeometryArray) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return (lon, lat) of a point inside each polygon, rounded, for labels."""
    points = shapely.point_on_surface(geoms)
    return (
        np.round(shapely.get_x(points), COORD_DECIMALS),
        np.round(shapely.get_y(points), COORD_DECIMALS),
    )


def attribution(*, osm: bool, synthetic: bool) -> str:
    """Return the attribution text of a layer built from OSM and/or synthetic data."""
    parts = [OSM_ATTRIBUTION] if osm else []
    if synthetic:
        parts.append(SYNTHETIC_LABEL)
    return "; ".join(parts)


def new_map(
    frames: Sequence[gpd.GeoDataFrame],
    *,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
    max_zoom: int = 19,
    prefer_canvas: bool = False,
) -> folium.Map:
    """Return an empty map fitted to `frames`, on a tile basemap or a plain background.

    Parameters
    ----------
    frames : sequence of GeoDataFrame
        EPSG:4326 data the view must show (empty ones are ignored).
    tiles_url : str, optional
        Basemap tile URL template (``.../{z}/{x}/{y}.png``), e.g. the project's own tile server.
        None draws the map's own layers on a plain background, which works on any network.
    tiles_attribution : str
        Attribution of the tiles (OSM-derived tiles must keep "© OpenStreetMap contributors").
    max_zoom : int
        Deepest zoom level.
    prefer_canvas : bool
        Draw vectors on one canvas instead of SVG elements (faster for many thousands).
    """
    bounds = _total_bounds(frames)
    fmap = folium.Map(
        location=BEIJING_CENTRE if bounds is None else None,
        zoom_start=12,
        tiles=None,
        prefer_canvas=prefer_canvas,
        control_scale=True,
        # A map option, not only the tiles': clustering needs it even without a basemap.
        maxZoom=max_zoom,
    )
    if tiles_url:
        # Not in the layer control: base layers there are the coverage map's category switch.
        folium.TileLayer(
            tiles=tiles_url,
            attr=tiles_attribution,
            name="basemap",
            max_zoom=max_zoom,
            control=False,
        ).add_to(fmap)
    else:
        cast(Figure, fmap.get_root()).header.add_child(
            folium.Element(
                f"<style>.leaflet-container {{ background: {BACKGROUND_COLOUR}; }}</style>"
            ),
            name="gridgis_background",
        )
    if bounds is not None:
        fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return fmap


def _total_bounds(frames: Sequence[gpd.GeoDataFrame]) -> tuple[float, float, float, float] | None:
    boxes = np.array([frame.total_bounds for frame in frames if len(frame)], dtype=np.float64)
    boxes = boxes[np.isfinite(boxes).all(axis=1)] if boxes.size else boxes
    if boxes.size == 0:
        return None
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )
