"""Small Folium elements the gridgis maps need and Folium lacks.

- `Legend`: a categorical legend as a Leaflet control (no d3, unlike branca's colormap legend);
- `UrlGeoJson`: a GeoJSON layer fetched from a URL when it is switched on (optionally for the
  current view only), so big layers such as buildings never sit in the HTML;
- `ZoomLabels`: cell labels drawn only from a zoom level on and only inside the view;
- `Expose`: publishes layers as ``window.gridgis.layers[key]`` for page scripts and tests;
- `EventSourceFeed`: pushes the features of a server-sent-event stream into a Realtime layer;
- `EventSourceRefresh`: makes a Realtime layer re-fetch its URL whenever a stream event arrives;
- `Attribution`: a credit in the attribution control for data layers (OSM-derived, synthetic);
- `MapTitle`: a title bar with an optional note (e.g. why the map is empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from branca.element import Element, MacroElement
from folium.map import Layer
from folium.template import Template

_REGISTRY_JS = "window.gridgis = window.gridgis || {layers: {}};"


class Legend(MacroElement):
    """A legend control: a title, colour swatches with labels, and an optional note.

    Parameters
    ----------
    title : str
        Heading.
    entries : sequence of (colour, label)
        Swatches, top to bottom.
    note : str, optional
        Small print under the swatches (e.g. "synthetic data").
    position : str
        Leaflet control position.
    shape : {"square", "circle", "line"}
        Swatch shape (areas, points, outlines).
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .gg-legend { background: rgba(255,255,255,.92); padding: 6px 8px;
                     font: 12px/1.35 sans-serif; border-radius: 4px; max-width: 240px;
                     box-shadow: 0 1px 4px rgba(0,0,0,.3); }
        .gg-legend h4 { font-size: 13px; margin: 0 0 4px; }
        .gg-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
                       vertical-align: -2px; border: 1px solid #555; }
        .gg-legend i.circle { border-radius: 50%; }
        .gg-legend i.line { height: 0; border-width: 2px 0 0; vertical-align: 4px; }
        .gg-legend small { display: block; color: #555; margin-top: 4px; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: {{ this.position|tojson }}});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "gg-legend");
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        title: str,
        entries: Sequence[tuple[str, str]],
        *,
        note: str | None = None,
        position: str = "bottomright",
        shape: str = "square",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Legend"
        self.position = position
        rows = "".join(
            f'<div><i class="{_escape(shape)}" style="background:{_escape(colour)};'
            f'border-color:{_escape(colour) if shape == "line" else "#555"}"></i>'
            f"{_escape(label)}</div>"
            for colour, label in entries
        )
        small = f"<small>{_escape(note)}</small>" if note else ""
        self.html = f"<h4>{_escape(title)}</h4>{rows}{small}"


class UrlGeoJson(Layer):
    """A GeoJSON layer fetched from `url` when switched on, never embedded in the page.

    Parameters
    ----------
    url : str
        GeoJSON URL. ``{bbox}`` in it becomes the view's ``west,south,east,north`` (EPSG:4326)
        and the layer reloads after each pan or zoom, so only the visible features travel.
    name : str
        Name in the layer control.
    style : dict
        Leaflet path style for every feature.
    tooltip_fields : sequence of (property, label)
        Properties shown in the hover tooltip.
    min_zoom : int
        Below this zoom level nothing is fetched (the layer stays empty).
    canvas : bool
        Draw on a canvas renderer (tens of thousands of polygons stay fluid).
    attribution : str, optional
        Attribution shown while the layer is on.
    show : bool
        Switched on at load.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson(null, {
            {%- if this.canvas %}renderer: L.canvas({padding: 0.2}),{% endif %}
            {%- if this.attribution %}attribution: {{ this.attribution|tojson }},{% endif %}
            style: function () { return {{ this.style|tojson }}; },
            onEachFeature: function (feature, layer) {
                var fields = {{ this.tooltip_fields|tojson }};
                if (!fields.length) { return; }
                var rows = fields.map(function (f) {
                    var v = feature.properties[f[0]];
                    return "<b>" + f[1] + "</b> " + (v === null || v === undefined ? "–" : v);
                });
                layer.bindTooltip(rows.join("<br>"), {sticky: true});
            }
        });
        (function (layer, map) {
            var template = {{ this.url|tojson }}, byView = template.indexOf("{bbox}") >= 0;
            var controller = null, loadedOnce = false;
            layer.ggFeatureCount = 0;
            function load() {
                if (!map.hasLayer(layer) || map.getZoom() < {{ this.min_zoom }}) {
                    if (byView) { layer.clearLayers(); layer.ggFeatureCount = 0; }
                    return;
                }
                if (loadedOnce && !byView) { return; }
                if (controller) { controller.abort(); }
                controller = new AbortController();
                var b = map.getBounds(), url = template.replace("{bbox}", [
                    b.getWest().toFixed(6), b.getSouth().toFixed(6),
                    b.getEast().toFixed(6), b.getNorth().toFixed(6)].join(","));
                fetch(url, {signal: controller.signal, credentials: "same-origin"})
                    .then(function (r) {
                        if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
                        return r.json();
                    })
                    .then(function (data) {
                        layer.clearLayers();
                        layer.addData(data);
                        loadedOnce = true;
                        layer.ggFeatureCount = layer.getLayers().length;
                        layer.fire("gg:loaded", {count: layer.ggFeatureCount});
                    })
                    .catch(function (err) {
                        if (err.name !== "AbortError") { console.error("layer load failed", err); }
                    });
            }
            layer.on("add", load);
            if (byView) { map.on("moveend", load); }
        })({{ this.get_name() }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        url: str,
        *,
        name: str,
        style: dict[str, Any],
        tooltip_fields: Sequence[tuple[str, str]] = (),
        min_zoom: int = 0,
        canvas: bool = True,
        attribution: str | None = None,
        show: bool = False,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "UrlGeoJson"
        self.url = url
        self.style = style
        self.tooltip_fields = [list(pair) for pair in tooltip_fields]
        self.min_zoom = int(min_zoom)
        self.canvas = canvas
        self.attribution = attribution


class ZoomLabels(MacroElement):
    """Text labels at given points, drawn only from `min_zoom` on and only inside the view.

    The points come from the `source` GeoJSON layer's features: properties `label_field`
    (the text), ``label_lon`` and ``label_lat``. At most `max_labels` are drawn at once.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .gg-label { background: none; border: none; }
        .gg-label span { display: inline-block; transform: translate(-50%, -50%);
                         white-space: nowrap; font: 600 11px/1 sans-serif; color: #111;
                         text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (source, map) {
            var labels = L.layerGroup().addTo(map);
            {{ this.registry_js }}
            window.gridgis.layers[{{ (this.key ~ "_labels")|tojson }}] = labels;
            function draw() {
                labels.clearLayers();
                if (map.getZoom() < {{ this.min_zoom }} || !map.hasLayer(source)) { return; }
                var view = map.getBounds(), n = 0;
                source.eachLayer(function (layer) {
                    var p = layer.feature && layer.feature.properties;
                    if (!p || n >= {{ this.max_labels }}) { return; }
                    var at = L.latLng(p.label_lat, p.label_lon);
                    if (!view.contains(at)) { return; }
                    n += 1;
                    var text = String(p[{{ this.label_field|tojson }}]).replace(
                        /[&<>"]/g,
                        function (c) {
                            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
                        });
                    L.marker(at, {
                        icon: L.divIcon({className: "gg-label", html: "<span>" + text + "</span>",
                                         iconSize: null}),
                        interactive: false, keyboard: false
                    }).addTo(labels);
                });
            }
            map.on("moveend zoomend overlayadd overlayremove", draw);
            map.whenReady(draw);
        })({{ this.source.get_name() }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        source: Element,
        *,
        label_field: str,
        key: str,
        min_zoom: int = 15,
        max_labels: int = 400,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "ZoomLabels"
        self.source = source
        self.label_field = label_field
        self.key = key
        self.min_zoom = int(min_zoom)
        self.max_labels = int(max_labels)
        self.registry_js = _REGISTRY_JS


class Expose(MacroElement):
    """Publish the map and `layers` as ``window.gridgis.map`` and ``window.gridgis.layers``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.registry_js }}
        window.gridgis.map = {{ this._parent.get_name() }};
        {%- for key, layer in this.layers.items() %}
        window.gridgis.layers[{{ key|tojson }}] = {{ layer.get_name() }};
        {%- endfor %}
        {% endmacro %}
        """
    )

    def __init__(self, layers: dict[str, Element]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Expose"
        self.layers = layers
        self.registry_js = _REGISTRY_JS


class EventSourceFeed(MacroElement):
    """Feed a Realtime layer from a server-sent-event stream instead of polling.

    Each event's ``data`` is a GeoJSON Feature or FeatureCollection, passed to the layer's
    ``update``; the browser's EventSource reconnects by itself after a dropped connection.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (live) {
            var source = new EventSource({{ this.url|tojson }});
            source.addEventListener({{ this.event|tojson }}, function (e) {
                try { live.update(JSON.parse(e.data)); }
                catch (err) { console.error("bad live event", err); }
            });
            {{ this.registry_js }}
            window.gridgis.eventSource = source;
        })({{ this.realtime.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, realtime: Element, url: str, *, event: str = "message") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "EventSourceFeed"
        self.realtime = realtime
        self.url = url
        self.event = event
        self.registry_js = _REGISTRY_JS


class EventSourceRefresh(MacroElement):
    """Re-fetch a Realtime layer's URL as soon as a server-sent event arrives.

    For streams whose events name what changed but carry no geometry (gridgis's
    ``/incidents/events``): each event triggers one ``update()`` of the layer, debounced so a
    burst of events costs one request. The layer's own polling stays on as a resynchronisation.

    Parameters
    ----------
    realtime : Element
        The Realtime layer.
    url : str
        The stream URL.
    events : sequence of str
        SSE event names to listen to (unnamed ``message`` events are always listened to).
    debounce_ms : int
        Quiet time after the last event before the layer is refreshed.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (live) {
            {{ this.registry_js }}
            var source = new EventSource({{ this.url|tojson }}), timer = null;
            window.gridgis.eventSource = source;
            window.gridgis.liveEvents = 0;
            function refresh() {
                window.gridgis.liveEvents += 1;
                if (timer) { clearTimeout(timer); }
                timer = setTimeout(function () { timer = null; live.update(); },
                                   {{ this.debounce_ms }});
            }
            ["message"].concat({{ this.events|tojson }}).forEach(function (name) {
                source.addEventListener(name, refresh);
            });
        })({{ this.realtime.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self, realtime: Element, url: str, *, events: Sequence[str], debounce_ms: int = 250
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "EventSourceRefresh"
        self.realtime = realtime
        self.url = url
        self.events = [e for e in events if e != "message"]
        self.debounce_ms = int(debounce_ms)
        self.registry_js = _REGISTRY_JS


class Attribution(MacroElement):
    """Add `text` to the map's attribution control, e.g. "© OpenStreetMap contributors".

    For data layers drawn from OSM (buildings, the walking network behind isochrones) when no
    OSM basemap already carries the credit.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Attribution"
        self.text = text


class MapTitle(MacroElement):
    """A title bar at the top centre of the map, with an optional note under it.

    It also gives the page an empty icon, so browsers do not ask the server for a favicon.

    Parameters
    ----------
    title : str
        The map's title.
    note : str, optional
        A line of small print, e.g. why the map is empty or where its data comes from.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <link rel="icon" href="data:,">
        <style>
        .gg-title { position: absolute; top: 10px; left: 50%; transform: translateX(-50%);
                    z-index: 1000; background: rgba(255,255,255,.92); padding: 5px 12px;
                    border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3);
                    font: 600 14px/1.3 sans-serif; text-align: center; max-width: 60%;
                    pointer-events: none; }
        .gg-title small { display: block; font-weight: 400; font-size: 12px; color: #a33; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="gg-title">{{ this.content }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map) {
            var box = document.querySelector(".gg-title");
            if (box) { map.getContainer().appendChild(box); }
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, title: str, *, note: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MapTitle"
        small = f"<small>{_escape(note)}</small>" if note else ""
        self.content = f"{_escape(title)}{small}"


def _escape(text: str) -> str:
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )
