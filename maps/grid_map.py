"""The grid plan map: cells coloured by households against the target band."""

from __future__ import annotations

from typing import Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.utilities import JsCode

from gis.crs import metric_crs_for, to_metric
from maps.base import (
    DEFAULT_SIMPLIFY_M,
    attribution,
    feature_collection,
    label_points,
    new_map,
    prepared_geometries,
    require_columns,
    require_geometries,
    require_wgs84,
    style_column,
)
from maps.elements import Expose, Legend, UrlGeoJson, ZoomLabels
from maps.styles import (
    BAND_CLASSES,
    BUILDING_COLOUR,
    COMMUNITY_OUTLINE_COLOUR,
    OSM_ATTRIBUTION,
    OUTLINE_COLOUR,
    STREET_OUTLINE_COLOUR,
    SYNTHETIC_LABEL,
    band_classes,
    band_labels,
)

POLYGONS: Final = ("Polygon", "MultiPolygon")
CELL_TOOLTIP: Final = (
    ("code", "Grid code"),
    ("worker", "Grid worker"),
    ("households", "Households"),
    ("residents", "Residents"),
    ("area_m2", "Area (m²)"),
    ("compactness", "Compactness"),
)
# Thicken the outline under the pointer; resetStyle restores the feature's own style.
HOVER_JS: Final = JsCode(
    """function (feature, layer) {
        layer.on({
            mouseover: function (e) { e.target.setStyle({weight: 3}); },
            mouseout: function (e) { e.target.setStyle({weight: feature.properties.style.weight}); }
        });
    }"""
)


def grid_plan_map(
    cells: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    buildings_url: str | None = None,
    band: tuple[int, int] = (300, 500),
    synthetic: bool = False,
    buildings_osm: bool = False,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
    label_min_zoom: int = 15,
    buildings_min_zoom: int = 16,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    prefer_canvas: bool = False,
) -> folium.Map:
    """Return the grid plan map of a street or district.

    Parameters
    ----------
    cells : GeoDataFrame
        EPSG:4326 cell polygons with columns ``code`` and ``households``; optional ``worker``,
        ``residents``, ``area_m2`` and ``compactness`` (Polsby-Popper). Area and compactness
        are computed in the Gauss-Krüger CRS when absent.
    streets, communities : GeoDataFrame, optional
        EPSG:4326 boundary polygons drawn as outlines; a ``name`` or ``Name`` column becomes
        the tooltip.
    buildings_url : str, optional
        GeoJSON URL of the buildings, fetched when the layer is switched on (``{bbox}`` is
        replaced by the view, see `maps.elements.UrlGeoJson`); never embedded.
    band : (int, int)
        Target households per cell, inclusive.
    synthetic : bool
        The households/residents are synthetic: the legend and attribution say so.
    buildings_osm : bool
        The buildings come from OpenStreetMap (attribution "© OpenStreetMap contributors").
    tiles_url, tiles_attribution : str, optional
        Basemap tile template and its attribution; None for a plain background.
    label_min_zoom : int
        Grid codes are drawn from this zoom level on.
    buildings_min_zoom : int
        Buildings are fetched from this zoom level on.
    simplify_m : float
        Simplification tolerance in metres (shared cell edges stay shared).
    prefer_canvas : bool
        Draw cells on a canvas instead of SVG.

    Returns
    -------
    folium.Map

    Raises
    ------
    MapInputError
        If a frame is not EPSG:4326, lacks a column, or has a missing or non-polygon geometry.
    """
    require_wgs84(cells, name="cells")
    require_columns(cells, ["code", "households"], name="cells")
    require_geometries(cells, name="cells", kinds=POLYGONS)
    outlines = {"streets": streets, "communities": communities}
    for name, frame in outlines.items():
        if frame is not None:
            require_wgs84(frame, name=name)
            require_geometries(frame, name=name, kinds=POLYGONS)

    fmap = new_map(
        [cells, *(f for f in outlines.values() if f is not None)],
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
        prefer_canvas=prefer_canvas,
    )
    exposed: dict[str, folium.Element] = {}
    cell_layer = _cell_layer(cells, band=band, synthetic=synthetic, simplify_m=simplify_m)
    cell_layer.add_to(fmap)
    exposed["cells"] = cell_layer
    for name, frame, colour, weight in (
        ("communities", communities, COMMUNITY_OUTLINE_COLOUR, 1.5),
        ("streets", streets, STREET_OUTLINE_COLOUR, 3.0),
    ):
        if frame is not None:
            layer = _outline_layer(
                frame, name=name.capitalize(), colour=colour, weight=weight, simplify_m=simplify_m
            )
            layer.add_to(fmap)
            exposed[name] = layer
    if buildings_url:
        buildings = UrlGeoJson(
            buildings_url,
            name="Buildings",
            style={"color": BUILDING_COLOUR, "weight": 0.5, "fillOpacity": 0.5},
            tooltip_fields=[("name", "Building"), ("households", "Households")],
            min_zoom=buildings_min_zoom,
            attribution=attribution(osm=buildings_osm, synthetic=synthetic) or None,
        )
        buildings.add_to(fmap)
        exposed["buildings"] = buildings
    fmap.add_child(ZoomLabels(cell_layer, label_field="code", key="cells", min_zoom=label_min_zoom))
    entries = list(zip((c for _, c in BAND_CLASSES), band_labels(band), strict=True))
    fmap.add_child(
        Legend("Households per grid cell", entries, note=SYNTHETIC_LABEL if synthetic else None)
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.add_child(Expose(exposed))
    return fmap


def cell_measures(cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return ``area_m2`` and Polsby-Popper ``compactness`` (4πA/P²) of EPSG:4326 polygons."""
    geoms = cells.geometry.to_numpy()
    epsg = metric_crs_for(geoms).to_epsg()
    metric = to_metric(geoms, epsg=epsg or 0)
    area = shapely.area(metric)
    perimeter = shapely.length(metric)
    with np.errstate(divide="ignore", invalid="ignore"):
        compactness = np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, np.nan)
    return pd.DataFrame({"area_m2": area, "compactness": compactness}, index=cells.index)


def _cell_layer(
    cells: gpd.GeoDataFrame, *, band: tuple[int, int], synthetic: bool, simplify_m: float
) -> folium.GeoJson:
    props = pd.DataFrame(index=cells.index)
    measures = None
    if "area_m2" not in cells or "compactness" not in cells:
        measures = cell_measures(cells)
    for column, _ in CELL_TOOLTIP:
        if column in cells:
            props[column] = cells[column]
        elif measures is not None and column in measures:
            props[column] = measures[column]
    props["code"] = props["code"].astype(str)
    props["area_m2"] = props["area_m2"].round(0)
    props["compactness"] = props["compactness"].round(2)
    classes = band_classes(cells["households"].to_numpy(), band)
    palette = np.array([colour for _, colour in BAND_CLASSES])
    props["band_class"] = np.array([key for key, _ in BAND_CLASSES])[classes]
    props["style"] = style_column(palette[classes], color=OUTLINE_COLOUR, weight=1, fillOpacity=0.7)
    geoms = prepared_geometries(cells, simplify_m=simplify_m, coverage=True)
    props["label_lon"], props["label_lat"] = label_points(geoms)
    fields = [(c, alias) for c, alias in CELL_TOOLTIP if c in props]
    return folium.GeoJson(
        feature_collection(geoms, props.reset_index(drop=True)),
        name="Grid cells" + (f" ({SYNTHETIC_LABEL})" if synthetic else ""),
        tooltip=folium.GeoJsonTooltip(
            fields=[c for c, _ in fields], aliases=[a for _, a in fields], sticky=True
        ),
        on_each_feature=HOVER_JS,
    )


def _outline_layer(
    frame: gpd.GeoDataFrame, *, name: str, colour: str, weight: float, simplify_m: float
) -> folium.GeoJson:
    label = next((c for c in ("name", "Name", "code") if c in frame), None)
    props = pd.DataFrame({"name": frame[label].astype(str)} if label else {}, index=frame.index)
    style = {"color": colour, "weight": weight, "fill": False}
    props["style"] = np.full(len(frame), style, dtype=object)
    geoms = prepared_geometries(frame, simplify_m=simplify_m, coverage=False)
    return folium.GeoJson(
        feature_collection(geoms, props.reset_index(drop=True)),
        name=name,
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False) if label else None,
    )
