"""The three maps as pages: the data of `gis.mapdata` in, a titled `folium.Map` out.

The API routes and ``gridgis map`` both build their maps here, so a served map and an exported
one look the same; they differ only in where the big layers come from (URLs on the server,
embedded in an exported file). No database access: the caller fetches the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import folium
import geopandas as gpd
import pandas as pd
from folium.plugins import Realtime
from shapely.geometry import Point

from maps.base import feature_collection, new_map, prepared_geometries
from maps.coverage_map import coverage_map
from maps.elements import Attribution, EventSourceRefresh, Expose, MapTitle
from maps.grid_map import grid_plan_map
from maps.incident_map import INCIDENT_PROPERTIES, incident_map
from maps.styles import OSM_ATTRIBUTION, OUTLINE_COLOUR, SYNTHETIC_LABEL

if TYPE_CHECKING:
    from gis.coverage.sites import SitingReport
    from gis.mapdata import CoverageMapData, GridMapData, IncidentMapData

NO_CELLS: Final = "No active grid plan here (or none in your scope): generate and activate one."
NO_CASES: Final = "No open or recently closed cases in your scope."
NO_RUN: Final = "No coverage results yet: run the coverage computation first."


def _note(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return " · ".join(kept) if kept else None


def grid_page(
    data: GridMapData,
    *,
    buildings_url: str | None = None,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
) -> folium.Map:
    """Return the grid plan map of `data` with its title.

    Parameters
    ----------
    data : GridMapData
        From `gis.mapdata.grid_map_data`.
    buildings_url : str, optional
        GeoJSON URL of the buildings (``{bbox}`` is replaced by the view), fetched on demand;
        when they are OSM-derived (``data.buildings_osm``) the layer carries the OSM credit.
    tiles_url, tiles_attribution : str, optional
        Basemap tile template and its attribution; None draws on a plain background.
    """
    if not len(data.cells):
        return _empty_page(data.streets, data.title, NO_CELLS, tiles_url, tiles_attribution)
    fmap = grid_plan_map(
        data.cells,
        streets=data.streets if len(data.streets) else None,
        communities=data.communities if len(data.communities) else None,
        buildings_url=buildings_url,
        buildings_osm=data.buildings_osm,
        band=data.band,
        synthetic=data.synthetic,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
    )
    summary = f"{len(data.cells)} cells"
    fmap.add_child(MapTitle(data.title, note=_note(summary, _synthetic(data.synthetic))))
    return fmap


def incident_page(
    data: IncidentMapData,
    *,
    live_url: str | None = None,
    events_url: str | None = None,
    events: Sequence[str] = (),
    live_interval_ms: int = 30_000,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
) -> folium.Map:
    """Return the incident command map of `data` with its title.

    Parameters
    ----------
    data : IncidentMapData
        From `gis.mapdata.incident_map_data`.
    live_url : str, optional
        GeoJSON of the current cases (as `incident_features` gives it), polled every
        `live_interval_ms`; the markers then come from it, not from the page.
    events_url : str, optional
        Server-sent-event stream of incident changes; each event re-fetches `live_url` at
        once, so a new case appears within a second instead of at the next poll.
    events : sequence of str
        The stream's event names (the workflow actions).
    live_interval_ms : int
        Polling interval of `live_url`, milliseconds.
    tiles_url, tiles_attribution : str, optional
        Basemap tile template and its attribution.
    """
    fmap = incident_map(
        data.incidents,
        cells=data.cells if len(data.cells) else None,
        live_url=live_url,
        live_interval_ms=live_interval_ms,
        now=data.now,
        synthetic=data.synthetic,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
    )
    if live_url and events_url:
        live = next(c for c in fmap._children.values() if isinstance(c, Realtime))
        fmap.add_child(EventSourceRefresh(live, events_url, events=events))
    incidents = data.incidents
    if len(incidents):
        open_cases = int((~incidents["status"].isin(["closed", "cancelled"])).sum())
        summary = f"{open_cases} open cases, {int(incidents['overdue'].sum())} overdue"
    else:
        summary = NO_CASES
    live_note = "live" if live_url else f"as of {data.now:%Y-%m-%d %H:%M} UTC"
    fmap.add_child(MapTitle(data.title, note=_note(summary, live_note, _synthetic(data.synthetic))))
    return fmap


def incident_features(incidents: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the cases as the GeoJSON FeatureCollection the live layer polls.

    The properties are those the page's static layer embeds, so a case looks the same
    whether it came with the page or arrived later.
    """
    columns = [c for c in INCIDENT_PROPERTIES if c in incidents]
    props = pd.DataFrame(incidents[columns]).reset_index(drop=True)
    return feature_collection(prepared_geometries(incidents, simplify_m=0), props)


def siting_frame(reports: list[SitingReport], labels: dict[str, str]) -> gpd.GeoDataFrame:
    """Return the picks of greedy siting reports as points for `coverage_page` (EPSG:4326)."""
    rows = [
        {
            "category": labels.get(r.category, r.category),
            "name": f"{labels.get(r.category, r.category)} #{p.rank}",
            "gain": round(p.gain_residents),
            "rank": p.rank,
            "geometry": Point(p.lon, p.lat),
        }
        for r in reports
        for p in r.picks
    ]
    columns = ["category", "name", "gain", "rank", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=4326)


def coverage_page(
    data: CoverageMapData,
    *,
    sites: list[SitingReport] | None = None,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
) -> folium.Map:
    """Return the coverage map of `data` (one base layer per category) with its title.

    ``sites``: greedy siting reports of the same run, drawn as suggested sites per category.
    """
    if not data.categories:
        return _empty_page(data.cells, data.title, NO_RUN, tiles_url, tiles_attribution)
    labels = [data.labels[c] for c in data.categories]
    fmap = coverage_map(
        data.cells,
        isochrones_by_category={data.labels[c]: data.isochrones[c] for c in data.categories},
        gaps_by_category={
            data.labels[c]: data.gaps[c] for c in data.categories if len(data.gaps.get(c, ()))
        },
        categories=labels,
        sites=siting_frame(sites, data.labels) if sites else None,
        synthetic=data.synthetic,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
    )
    if data.network_osm:
        fmap.add_child(Attribution(f"walking network {OSM_ATTRIBUTION}"))
    # Per category: a resident missing several categories is in several gaps, so no total.
    uncovered = [float(g["residents"].sum()) for g in data.gaps.values() if len(g)]
    summary = f"{len(data.categories)} categories"
    if uncovered:
        summary += (
            f", residents outside the circle: {min(uncovered):,.0f}–{max(uncovered):,.0f}"
            " per category"
        )
    fmap.add_child(MapTitle(data.title, note=_note(summary, _synthetic(data.synthetic))))
    return fmap


def _empty_page(
    outline: gpd.GeoDataFrame, title: str, note: str, tiles_url: str | None, tiles_attribution: str
) -> folium.Map:
    """Return a map of `outline` (plain outlines, may be empty) that says why it is empty."""
    fmap = new_map([outline], tiles_url=tiles_url, tiles_attribution=tiles_attribution)
    if len(outline):
        folium.GeoJson(
            feature_collection(prepared_geometries(outline)),
            name="outline",
            style_function=lambda _: {"color": OUTLINE_COLOUR, "weight": 2, "fill": False},
        ).add_to(fmap)
    fmap.add_child(MapTitle(title, note=note))
    fmap.add_child(Expose({}))
    return fmap


def _synthetic(flag: bool) -> str | None:
    return SYNTHETIC_LABEL if flag else None
