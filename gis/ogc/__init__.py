"""OGC API building blocks: the exposed collections, their features, filters and vector tiles.

Everything here takes a `gis.auth.Principal` and applies its scope in SQL; personal layers
(residents, households) are never exposed.
"""

from gis.ogc.collections import COLLECTIONS, Collection, get_collection, visible_collections
from gis.ogc.crs import CRS84_URI, OutputCrs, parse_crs_uri
from gis.ogc.features import (
    FeaturePage,
    ItemsQuery,
    collection_extent,
    feature_json,
    items_page,
    parse_datetime_interval,
)
from gis.ogc.tiles import TileAddress, vector_tile

__all__ = [
    "COLLECTIONS",
    "CRS84_URI",
    "Collection",
    "FeaturePage",
    "ItemsQuery",
    "OutputCrs",
    "TileAddress",
    "collection_extent",
    "feature_json",
    "get_collection",
    "items_page",
    "parse_crs_uri",
    "parse_datetime_interval",
    "vector_tile",
    "visible_collections",
]
