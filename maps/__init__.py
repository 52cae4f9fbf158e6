"""Folium maps rendered from GeoDataFrames, with locally served Leaflet assets."""

from maps.assets import DEFAULT_ASSET_BASE, STATIC_DIR, VENDOR_DIR, offline_html, write_map
from maps.render import coverage_map, grid_plan_map, incident_map

__all__ = [
    "DEFAULT_ASSET_BASE",
    "STATIC_DIR",
    "VENDOR_DIR",
    "coverage_map",
    "grid_plan_map",
    "incident_map",
    "offline_html",
    "write_map",
]
