"""Folium maps rendered from GeoDataFrames, with locally served Leaflet assets."""
