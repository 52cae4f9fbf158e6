"""GeoDataFrames in, `folium.Map` out: the three gridgis maps. No database access.

Every function takes EPSG:4326 GeoDataFrames and refuses any other CRS with `MapInputError`.
Render a map with `maps.assets.offline_html` (served) or `maps.assets.write_map` (exported) so
that its scripts and stylesheets come from the app, not from a CDN.
"""

from maps.coverage_map import coverage_map
from maps.grid_map import grid_plan_map
from maps.incident_map import incident_map

__all__ = ["coverage_map", "grid_plan_map", "incident_map"]
