"""gridgis domain core: no web code; imports nothing from ``api`` or ``maps``."""

__version__ = "0.1.0"
