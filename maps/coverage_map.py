"""The coverage map: per category, isochrones, gaps and suggested sites; cells by completeness."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import folium
import geopandas as gpd
import pandas as pd

from gis.errors import MapInputError
from maps.base import (
    DEFAULT_SIMPLIFY_M,
    feature_collection,
    new_map,
    prepared_geometries,
    require_columns,
    require_geometries,
    require_wgs84,
    style_column,
)
from maps.elements import Expose, Legend
from maps.styles import (
    GAP_COLOUR,
    OSM_ATTRIBUTION,
    OUTLINE_COLOUR,
    SEQUENTIAL_GREENS,
    SYNTHETIC_LABEL,
    bin_colours,
    category_colour,
    edge_labels,
)

POLYGONS: Final = ("Polygon", "MultiPolygon")
COMPLETENESS_EDGES: Final = (0.2, 0.4, 0.6, 0.8)
NO_DATA_COLOUR: Final = "#d9d9d9"
SITE_COLOUR: Final = "#000000"
ISOCHRONE_TOOLTIP: Final = (
    ("name", "Facility"),
    ("minutes", "Minutes"),
    ("radius_m", "Walk (m)"),
    ("residents", "Residents reached"),
)
GAP_TOOLTIP: Final = (("residents", "Uncovered residents"), ("households", "Households"))
SITE_TOOLTIP: Final = (("name", "Suggested site"), ("gain", "Residents gained"), ("rank", "Rank"))


def coverage_map(
    cells: gpd.GeoDataFrame,
    *,
    isochrones_by_category: Mapping[str, gpd.GeoDataFrame],
    gaps_by_category: Mapping[str, gpd.GeoDataFrame] | None = None,
    sites: gpd.GeoDataFrame | None = None,
    categories: Sequence[str] | None = None,
    completeness_column: str = "completeness",
    synthetic: bool = False,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    prefer_canvas: bool = False,
) -> folium.Map:
    """Return the coverage map with a switch between facility categories.

    Each category is one base layer of the layer control (radio buttons): its isochrones,
    its gaps (where residents are not covered) and its suggested sites. The cells, coloured by
    completeness, are an overlay that stays on across categories.

    Parameters
    ----------
    cells : GeoDataFrame
        EPSG:4326 grid cells with ``code`` and `completeness_column` (share 0-1).
    isochrones_by_category : mapping of str to GeoDataFrame
        EPSG:4326 isochrone polygons per category; optional ``name``, ``minutes``,
        ``radius_m``, ``residents`` columns go into the tooltip.
    gaps_by_category : mapping of str to GeoDataFrame, optional
        EPSG:4326 gap polygons per category; optional ``residents``/``households``.
        A category without an entry has no gaps.
    sites : GeoDataFrame, optional
        EPSG:4326 suggested sites (points) with a ``category`` column; optional ``name``,
        ``gain``, ``rank``.
    categories : sequence of str, optional
        Categories in switch order (default: the keys of `isochrones_by_category`); the first
        is shown at load.
    completeness_column : str
        Cell column with the completeness share.
    synthetic : bool
        Residents/facilities are synthetic: the legend says so.
    tiles_url, tiles_attribution : str, optional
        Basemap tile template and its attribution; None for a plain background.
    simplify_m : float
        Simplification tolerance in metres.
    prefer_canvas : bool
        Draw on a canvas instead of SVG.

    Raises
    ------
    MapInputError
        If a frame is not EPSG:4326, lacks a column or has a bad geometry, a completeness lies
        outside 0-1, or a category has no isochrones.
    """
    gaps_by_category = gaps_by_category or {}
    order = list(categories) if categories is not None else list(isochrones_by_category)
    if not order:
        raise MapInputError("coverage map: no categories to show")
    unknown = sorted(set(isochrones_by_category) - set(order))
    if unknown:
        raise MapInputError(f"isochrones for categories not in `categories`: {unknown}")
    require_wgs84(cells, name="cells")
    require_columns(cells, ["code", completeness_column], name="cells")
    require_geometries(cells, name="cells", kinds=POLYGONS)
    for category in order:
        if category not in isochrones_by_category:
            raise MapInputError(f"category {category!r} has no isochrones")
        _check(isochrones_by_category[category], f"isochrones[{category!r}]", POLYGONS)
        if category in gaps_by_category:
            _check(gaps_by_category[category], f"gaps[{category!r}]", POLYGONS)
    if sites is not None:
        _check(sites, "sites", ("Point",))
        require_columns(sites, ["category"], name="sites")

    fmap = new_map(
        [cells, *isochrones_by_category.values()],
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
        prefer_canvas=prefer_canvas,
    )
    exposed: dict[str, folium.Element] = {}
    # Cells first: below the isochrones, so the category layers keep their tooltips.
    cell_layer = _cells(cells, completeness_column, simplify_m=simplify_m)
    cell_layer.add_to(fmap)
    exposed["cells"] = cell_layer
    for index, category in enumerate(order):
        group = folium.FeatureGroup(name=category, overlay=False, show=index == 0)
        colour = category_colour(index)
        _polygons(
            isochrones_by_category[category],
            style={"color": colour, "weight": 1, "fillOpacity": 0.25},
            fill=colour,
            tooltip=ISOCHRONE_TOOLTIP,
            simplify_m=simplify_m,
        ).add_to(group)
        gaps = gaps_by_category.get(category)
        if gaps is not None and len(gaps):
            _polygons(
                gaps,
                style={"color": GAP_COLOUR, "weight": 1.5, "dashArray": "4 3", "fillOpacity": 0.45},
                fill=GAP_COLOUR,
                tooltip=GAP_TOOLTIP,
                simplify_m=simplify_m,
            ).add_to(group)
        if sites is not None:
            chosen = sites[sites["category"] == category]
            if len(chosen):
                _sites(chosen, colour=colour).add_to(group)
        group.add_to(fmap)
        exposed[f"category:{category}"] = group

    entries = [
        *zip(
            SEQUENTIAL_GREENS,
            edge_labels(COMPLETENESS_EDGES, integer=False, percent=True),
            strict=True,
        ),
        (NO_DATA_COLOUR, "no data"),
        (GAP_COLOUR, "gap: residents not covered"),
        *([(SITE_COLOUR, "suggested site")] if sites is not None and len(sites) else []),
    ]
    fmap.add_child(
        Legend(
            "Cell completeness",
            entries,
            note=SYNTHETIC_LABEL if synthetic else None,
        )
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.add_child(Expose(exposed))
    return fmap


def _check(frame: gpd.GeoDataFrame, name: str, kinds: Sequence[str]) -> None:
    require_wgs84(frame, name=name)
    require_geometries(frame, name=name, kinds=kinds)


def _properties(frame: gpd.GeoDataFrame, tooltip: Sequence[tuple[str, str]]) -> pd.DataFrame:
    columns = [c for c, _ in tooltip if c in frame]
    return pd.DataFrame(frame[columns]).reset_index(drop=True)


def _tooltip(
    props: pd.DataFrame, tooltip: Sequence[tuple[str, str]]
) -> folium.GeoJsonTooltip | None:
    fields = [(c, alias) for c, alias in tooltip if c in props]
    if not fields:
        return None
    return folium.GeoJsonTooltip(fields=[c for c, _ in fields], aliases=[a for _, a in fields])


def _polygons(
    frame: gpd.GeoDataFrame,
    *,
    style: dict[str, object],
    fill: str,
    tooltip: Sequence[tuple[str, str]],
    simplify_m: float,
) -> folium.GeoJson:
    props = _properties(frame, tooltip)
    props["style"] = style_column([fill] * len(frame), **style)
    return folium.GeoJson(
        feature_collection(prepared_geometries(frame, simplify_m=simplify_m), props),
        control=False,
        tooltip=_tooltip(props, tooltip),
    )


def _sites(sites: gpd.GeoDataFrame, *, colour: str) -> folium.GeoJson:
    props = _properties(sites, SITE_TOOLTIP)
    props["style"] = style_column(
        [colour] * len(sites), color=SITE_COLOUR, weight=3, radius=8, fillOpacity=1.0
    )
    return folium.GeoJson(
        feature_collection(prepared_geometries(sites, simplify_m=0), props),
        control=False,
        marker=folium.CircleMarker(radius=8),
        tooltip=_tooltip(props, SITE_TOOLTIP),
    )


def _cells(cells: gpd.GeoDataFrame, column: str, *, simplify_m: float) -> folium.GeoJson:
    values = cells[column].to_numpy(dtype=float)
    finite = values[~pd.isna(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise MapInputError(f"cells: {column} must lie between 0 and 1")
    colours = bin_colours(values, COMPLETENESS_EDGES, SEQUENTIAL_GREENS, missing=NO_DATA_COLOUR)
    props = pd.DataFrame({"code": cells["code"].astype(str).to_numpy(), column: values.round(3)})
    props["style"] = style_column(colours, color=OUTLINE_COLOUR, weight=1, fillOpacity=0.35)
    return folium.GeoJson(
        feature_collection(prepared_geometries(cells, simplify_m=simplify_m, coverage=True), props),
        name="Cell completeness",
        tooltip=folium.GeoJsonTooltip(
            fields=["code", column], aliases=["Grid code", "Completeness"]
        ),
    )
