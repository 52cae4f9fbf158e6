"""The incident command map: clustered cases by status, overdue ones ringed, heat, live refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import folium
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.plugins import HeatMap, MarkerCluster, Realtime
from folium.template import Template
from folium.utilities import JsCode

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
from maps.elements import EventSourceFeed, Expose, Legend
from maps.styles import (
    CLOSED_STATUSES,
    OSM_ATTRIBUTION,
    OUTLINE_COLOUR,
    OVERDUE_COLOUR,
    SEQUENTIAL_GREENS,
    SEQUENTIAL_REDS,
    STATUS_COLOURS,
    SYNTHETIC_LABEL,
    UNKNOWN_STATUS_COLOUR,
    bin_colours,
    count_edges,
    edge_labels,
)

CellMetric = Literal["open_cases", "on_time_rate"]
INCIDENT_PROPERTIES: Final = (
    "id",
    "status",
    "overdue",
    "urgent",
    "category",
    "minor_code",
    "reported_at",
    "deadline_at",
    "address",
)
ON_TIME_EDGES: Final = (0.6, 0.7, 0.8, 0.9)
NO_DATA_COLOUR: Final = "#d9d9d9"


class IncidentSymbols(MacroElement):
    """Define ``gg_incident``: how a case GeoJSON feature becomes a marker, in one place.

    The static layer and the live (Realtime) layer share it, so a case looks the same whether it
    was in the page or arrived later. A case is overdue if its ``overdue`` property is true, or
    if it is open and its ``deadline_at`` has passed in the browser's clock.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .gg-inc span { display: block; width: 14px; height: 14px; border-radius: 50%;
                       border: 2px solid #fff; box-shadow: 0 0 2px rgba(0,0,0,.6); }
        .gg-inc.gg-overdue span { border: 3px solid {{ this.overdue_colour }};
                                  box-shadow: 0 0 0 3px rgba(227,26,28,.35); }
        .gg-inc.gg-urgent span { outline: 2px dashed #000; }
        .marker-cluster.gg-has-overdue { box-shadow: 0 0 0 4px {{ this.overdue_colour }}; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var gg_incident = (function () {
            var colours = {{ this.colours|tojson }}, closed = {{ this.closed|tojson }};
            function isOverdue(p) {
                if (p.overdue === true) { return true; }
                if (p.overdue === false || closed.indexOf(p.status) >= 0 || !p.deadline_at) {
                    return false;
                }
                return Date.parse(p.deadline_at) < Date.now();
            }
            function esc(v) {
                return String(v).replace(/[&<>"]/g, function (c) {
                    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
                });
            }
            function pointToLayer(feature, latlng) {
                var p = feature.properties || {}, overdue = isOverdue(p);
                var cls = "gg-inc" + (overdue ? " gg-overdue" : "")
                    + (p.urgent ? " gg-urgent" : "");
                var colour = colours[p.status] || {{ this.unknown|tojson }};
                var marker = L.marker(latlng, {
                    icon: L.divIcon({className: cls, iconSize: [18, 18],
                                     html: '<span style="background:' + colour + '"></span>'}),
                    ggOverdue: overdue, ggStatus: p.status
                });
                var rows = [["Case", p.id], ["Status", p.status],
                            ["Category", p.category || p.minor_code],
                            ["Reported", p.reported_at], ["Deadline", p.deadline_at],
                            ["Address", p.address]];
                var text = rows
                    .filter(function (r) { return r[1] !== undefined && r[1] !== null; })
                    .map(function (r) { return "<b>" + r[0] + "</b> " + esc(r[1]); })
                    .join("<br>");
                if (overdue) {
                    text += '<br><b style="color:{{ this.overdue_colour }}">OVERDUE</b>';
                }
                marker.bindTooltip(text);
                return marker;
            }
            function updateFeature(feature, oldLayer) {
                // Redraw when the status or lateness changed; otherwise only move the marker.
                if (!oldLayer) { return null; }
                var p = feature.properties || {};
                if (oldLayer.options.ggStatus !== p.status
                        || oldLayer.options.ggOverdue !== isOverdue(p)) {
                    return null;
                }
                oldLayer.setLatLng(L.GeoJSON.coordsToLatLng(feature.geometry.coordinates));
                return oldLayer;
            }
            function clusterIcon(cluster) {
                var markers = cluster.getAllChildMarkers(), n = markers.length;
                var late = markers.some(function (m) { return m.options.ggOverdue; });
                var size = n < 10 ? "small" : n < 100 ? "medium" : "large";
                return L.divIcon({
                    html: "<div><span>" + n + "</span></div>",
                    className: "marker-cluster marker-cluster-" + size
                        + (late ? " gg-has-overdue" : ""),
                    iconSize: L.point(40, 40)
                });
            }
            return {pointToLayer: pointToLayer, updateFeature: updateFeature,
                    clusterIcon: clusterIcon, isOverdue: isOverdue};
        })();
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "IncidentSymbols"
        self.colours = STATUS_COLOURS
        self.closed = sorted(CLOSED_STATUSES)
        self.unknown = UNKNOWN_STATUS_COLOUR
        self.overdue_colour = OVERDUE_COLOUR


def incident_map(
    incidents: gpd.GeoDataFrame,
    *,
    cells: gpd.GeoDataFrame | None = None,
    cell_metric: CellMetric = "open_cases",
    live_url: str | None = None,
    live_sse_url: str | None = None,
    live_interval_ms: int = 10_000,
    now: datetime | None = None,
    heat: bool = True,
    heat_show: bool = False,
    synthetic: bool = False,
    tiles_url: str | None = None,
    tiles_attribution: str = OSM_ATTRIBUTION,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    prefer_canvas: bool = False,
) -> folium.Map:
    """Return the incident command map.

    Parameters
    ----------
    incidents : GeoDataFrame
        EPSG:4326 points with columns ``id`` and ``status``; optional ``overdue`` (bool, else
        derived from ``deadline_at``), ``urgent``, ``category``/``minor_code``,
        ``reported_at``, ``deadline_at``, ``address``. Embedded as clustered markers unless
        `live_url` is given; always the source of the heat map (open cases only).
    cells : GeoDataFrame, optional
        EPSG:4326 grid cells with ``code``, coloured by `cell_metric`. ``open_cases`` is counted
        from `incidents` when the column is absent; ``on_time_rate`` (0-1) must be a column.
    cell_metric : {"open_cases", "on_time_rate"}
        What colours the cells.
    live_url : str, optional
        GeoJSON FeatureCollection of the current cases, polled every `live_interval_ms`
        (Leaflet Realtime): new cases appear, changed ones are redrawn, closed-out ones vanish.
    live_sse_url : str, optional
        Server-sent-event stream whose events carry GeoJSON Features or FeatureCollections,
        pushed into the live layer as they arrive (polling then only resynchronises).
    live_interval_ms : int
        Polling interval in milliseconds.
    now : datetime, optional
        Reference time for ``overdue`` (default: the current time, UTC).
    heat, heat_show : bool
        Add the heat map layer; switch it on at load.
    synthetic : bool
        The cases are synthetic: the legend says so.
    tiles_url, tiles_attribution : str, optional
        Basemap tile template and its attribution; None for a plain background.
    simplify_m : float
        Simplification tolerance of the cells in metres.
    prefer_canvas : bool
        Draw cells on a canvas instead of SVG.

    Raises
    ------
    MapInputError
        If a frame is not EPSG:4326, lacks a column, or has a missing or wrong geometry.
    """
    require_wgs84(incidents, name="incidents")
    require_columns(incidents, ["id", "status"], name="incidents")
    require_geometries(incidents, name="incidents", kinds=("Point",))
    if live_sse_url and not live_url:
        raise MapInputError("live_sse_url needs live_url: the stream only carries changes")
    open_mask = ~incidents["status"].isin(CLOSED_STATUSES).to_numpy()
    overdue = _overdue(incidents, open_mask, now=now)

    frames = [incidents] if cells is None else [cells, incidents]
    fmap = new_map(
        frames,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
        prefer_canvas=prefer_canvas,
    )
    exposed: dict[str, folium.Element] = {}
    if cells is not None:
        cell_layer, legend = _cell_layer(
            cells, cell_metric, incidents=incidents, open_mask=open_mask, simplify_m=simplify_m
        )
        cell_layer.add_to(fmap)
        fmap.add_child(legend)
        exposed["cells"] = cell_layer
    if heat and open_mask.any():
        points = incidents.geometry.to_numpy()[open_mask]
        weights = np.where(overdue[open_mask], 2.0, 1.0)
        data = np.column_stack(
            [np.round(shapely.get_y(points), 6), np.round(shapely.get_x(points), 6), weights]
        )
        heat_layer = HeatMap(  # type: ignore[no-untyped-call]
            data.tolist(), name="Heat map (open cases)", show=heat_show, radius=18, blur=15
        )
        heat_layer.add_to(fmap)
        exposed["heat"] = heat_layer

    fmap.add_child(IncidentSymbols())
    cluster = MarkerCluster(  # type: ignore[no-untyped-call]
        name="Cases" + (f" ({SYNTHETIC_LABEL})" if synthetic else ""),
        icon_create_function="gg_incident.clusterIcon",
        options={"disableClusteringAtZoom": 18, "chunkedLoading": True},
    )
    cluster.add_to(fmap)
    exposed["incidents"] = cluster
    if live_url:
        live = Realtime(
            live_url,
            interval=live_interval_ms,
            get_feature_id=JsCode("function (f) { return f.properties.id; }"),
            update_feature=JsCode("gg_incident.updateFeature"),
            remove_missing=True,
            container=cluster,  # type: ignore[arg-type]
            point_to_layer=JsCode("gg_incident.pointToLayer"),
        )
        live.control = False  # the cluster is the layer the user switches
        live.add_to(fmap)
        exposed["live"] = live
        if live_sse_url:
            fmap.add_child(EventSourceFeed(live, live_sse_url))
    else:
        props = _incident_properties(incidents, overdue)
        folium.GeoJson(
            feature_collection(prepared_geometries(incidents, simplify_m=0), props),
            name="cases",
            control=False,
            point_to_layer=JsCode("gg_incident.pointToLayer"),
        ).add_to(cluster)
    status_entries = [
        (colour, status.replace("_", " ")) for status, colour in STATUS_COLOURS.items()
    ]
    fmap.add_child(
        Legend(
            "Cases by status",
            [*status_entries, (OVERDUE_COLOUR, "overdue (red ring)")],
            note=SYNTHETIC_LABEL if synthetic else None,
            position="bottomleft",
            shape="circle",
        )
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.add_child(Expose(exposed))
    return fmap


def _overdue(
    incidents: gpd.GeoDataFrame, open_mask: npt.NDArray[np.bool_], *, now: datetime | None
) -> npt.NDArray[np.bool_]:
    if "overdue" in incidents:
        flagged = np.asarray(incidents["overdue"].fillna(False), dtype=bool)
        result: npt.NDArray[np.bool_] = np.logical_and(flagged, open_mask)
        return result
    if "deadline_at" not in incidents:
        return np.zeros(len(incidents), dtype=bool)
    deadline = pd.to_datetime(incidents["deadline_at"], utc=True)
    reference = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    if reference.tzinfo is None:
        reference = reference.tz_localize("UTC")
    late = (deadline < reference).fillna(False).to_numpy(dtype=bool)
    late_open: npt.NDArray[np.bool_] = np.logical_and(late, open_mask)
    return late_open


def _incident_properties(incidents: gpd.GeoDataFrame, overdue: np.ndarray) -> pd.DataFrame:
    columns = [c for c in INCIDENT_PROPERTIES if c in incidents and c != "overdue"]
    props = pd.DataFrame(incidents[columns]).reset_index(drop=True)
    props["overdue"] = overdue
    return props


def _cell_layer(
    cells: gpd.GeoDataFrame,
    metric: CellMetric,
    *,
    incidents: gpd.GeoDataFrame,
    open_mask: np.ndarray,
    simplify_m: float,
) -> tuple[folium.GeoJson, Legend]:
    require_wgs84(cells, name="cells")
    require_columns(cells, ["code"], name="cells")
    require_geometries(cells, name="cells", kinds=("Polygon", "MultiPolygon"))
    if metric == "open_cases":
        values = (
            cells[metric].to_numpy(dtype=np.float64)
            if metric in cells
            else open_cases_per_cell(cells, incidents[open_mask])
        )
        edges = count_edges(values)
        colours = bin_colours(values, edges, SEQUENTIAL_REDS, missing=NO_DATA_COLOUR)
        labels = edge_labels(edges, integer=True)
        title, palette, alias = "Open cases per cell", SEQUENTIAL_REDS, "Open cases"
    elif metric == "on_time_rate":
        require_columns(cells, [metric], name="cells")
        values = cells[metric].to_numpy(dtype=np.float64)
        if np.nanmin(values, initial=0.0) < 0 or np.nanmax(values, initial=1.0) > 1:
            raise MapInputError("cells: on_time_rate must lie between 0 and 1")
        colours = bin_colours(values, ON_TIME_EDGES, SEQUENTIAL_GREENS, missing=NO_DATA_COLOUR)
        labels = edge_labels(ON_TIME_EDGES, integer=False, percent=True)
        title, palette, alias = "On-time rate per cell", SEQUENTIAL_GREENS, "On-time rate"
    else:
        raise MapInputError(f"unknown cell metric {metric!r}: use open_cases or on_time_rate")
    props = pd.DataFrame(
        {"code": cells["code"].astype(str).to_numpy(), metric: np.round(values, 3)}
    )
    props["style"] = style_column(colours, color=OUTLINE_COLOUR, weight=1, fillOpacity=0.55)
    layer = folium.GeoJson(
        feature_collection(prepared_geometries(cells, simplify_m=simplify_m, coverage=True), props),
        name=title,
        tooltip=folium.GeoJsonTooltip(fields=["code", metric], aliases=["Grid code", alias]),
    )
    entries = [*zip(palette, labels, strict=True), (NO_DATA_COLOUR, "no data")]
    return layer, Legend(title, entries, position="bottomright")


def open_cases_per_cell(cells: gpd.GeoDataFrame, open_incidents: gpd.GeoDataFrame) -> np.ndarray:
    """Return the number of `open_incidents` points covered by each cell (STRtree query).

    A point on a shared edge counts in both cells, as ``ST_Covers`` does in the database.
    """
    tree_hits = cells.sindex.query(open_incidents.geometry.to_numpy(), predicate="covered_by")
    return np.bincount(np.asarray(tree_hits[1]), minlength=len(cells)).astype(np.float64)
