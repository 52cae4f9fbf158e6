"""CRS URIs of OGC API Features Part 2 (CRS by reference) that we serve.

Storage is EPSG:4326 in longitude/latitude order, which is CRS84; we advertise CRS84 as the
``storageCrs`` so that GDAL >= 3.7 keeps asking in lon/lat. EPSG:4326 and EPSG:4490 (CGCS2000)
are served in their authority axis order, latitude first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import QueryableAttribute

from gis.errors import InvalidParameterError

SqlColumn = ColumnElement[Any] | QueryableAttribute[Any]
CRS84_URI: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True, slots=True)
class OutputCrs:
    """A CRS a geometry or bbox may be expressed in."""

    uri: str
    srid: int
    lat_first: bool

    def to_storage(self, geom: SqlColumn) -> SqlColumn:
        """Return an expression that turns a geometry in this CRS into storage (CRS84)."""
        if self.lat_first:
            geom = func.ST_FlipCoordinates(geom)
        if self.srid != 4326:
            geom = func.ST_Transform(func.ST_SetSRID(geom, self.srid), 4326)
        return geom

    def from_storage(self, geom: SqlColumn) -> SqlColumn:
        """Return an expression that turns a stored geometry into this CRS and axis order."""
        if self.srid != 4326:
            geom = func.ST_Transform(geom, self.srid)
        return func.ST_FlipCoordinates(geom) if self.lat_first else geom

    def bbox_to_crs84(self, bbox: tuple[float, float, float, float]) -> ColumnElement[Any]:
        """Return the EPSG:4326 polygon of a bbox given in this CRS's axis order."""
        a, b, c, d = bbox
        minx, miny, maxx, maxy = (b, a, d, c) if self.lat_first else (a, b, c, d)
        envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, self.srid)
        return envelope if self.srid == 4326 else func.ST_Transform(envelope, 4326)

    def check_bbox(self, bbox: tuple[float, float, float, float]) -> None:
        """Raise InvalidParameterError when a bbox's corners are swapped or out of range."""
        a, b, c, d = bbox
        lon = (b, d) if self.lat_first else (a, c)
        lat = (a, c) if self.lat_first else (b, d)
        if not (-90 <= lat[0] <= lat[1] <= 90 and -180 <= lon[0] <= 180 and -180 <= lon[1] <= 180):
            raise InvalidParameterError(f"bbox {list(bbox)} is outside {self.uri}'s ranges")


CRS84: Final = OutputCrs(CRS84_URI, 4326, lat_first=False)
EPSG4326: Final = OutputCrs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, lat_first=True)
EPSG4490: Final = OutputCrs("http://www.opengis.net/def/crs/EPSG/0/4490", 4490, lat_first=True)

#: Every CRS a collection offers, CRS84 (the default and storage CRS) first.
SUPPORTED: Final = (CRS84, EPSG4326, EPSG4490)
SUPPORTED_URIS: Final = tuple(c.uri for c in SUPPORTED)
_ALIASES: Final = {
    "urn:ogc:def:crs:ogc:1.3:crs84": CRS84,
    "urn:ogc:def:crs:epsg::4326": EPSG4326,
    "urn:ogc:def:crs:epsg::4490": EPSG4490,
    "[ogc:crs84]": CRS84,
    "[epsg:4326]": EPSG4326,
    "[epsg:4490]": EPSG4490,
}


def parse_crs_uri(value: str | None, *, parameter: str = "crs") -> OutputCrs:
    """Return the CRS named by ``value`` (an OGC URI, URN or safe CURIE); CRS84 when None.

    Examples
    --------
    >>> parse_crs_uri("http://www.opengis.net/def/crs/EPSG/0/4490").srid
    4490
    >>> parse_crs_uri(None).lat_first
    False
    """
    if value is None or value == "":
        return CRS84
    for crs in SUPPORTED:
        if value == crs.uri:
            return crs
    found = _ALIASES.get(value.strip().lower())
    if found is None:
        raise InvalidParameterError(
            f"{parameter} {value!r} is not supported; use one of {', '.join(SUPPORTED_URIS)}"
        )
    return found
