"""What each gridgis map shows, read from PostGIS as EPSG:4326 GeoDataFrames.

One function per map (`grid_map_data`, `incident_map_data`, `coverage_map_data`), plus
`live_incidents` for the command map's polling endpoint. Each takes the asking `Principal`,
checks its permission and applies its scope in SQL, so a grid worker's map holds only their
grids. Figures are aggregated in the database where the map needs a number per cell (open cases,
completeness) and gaps are merged per category into one polygon, so the map stays small whatever
the number of buildings. Empty tables give empty frames (never an error): a map of nothing still
renders, with a note saying why it is empty.
"""

from gis.mapdata.common import Area, resolve_area
from gis.mapdata.coverage import CoverageMapData, coverage_map_data, latest_run
from gis.mapdata.grid import GridMapData, grid_map_data
from gis.mapdata.incidents import IncidentMapData, incident_map_data, live_incidents

__all__ = [
    "Area",
    "CoverageMapData",
    "GridMapData",
    "IncidentMapData",
    "coverage_map_data",
    "grid_map_data",
    "incident_map_data",
    "latest_run",
    "live_incidents",
    "resolve_area",
]
