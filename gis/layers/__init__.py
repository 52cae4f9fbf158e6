"""Spatial layers: buildings, people, facilities, components, incidents."""
