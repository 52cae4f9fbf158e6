"""Mapbox vector tiles of a collection on the WebMercatorQuad tile matrix set, made by PostGIS.

One query per tile: rows whose geometry meets the tile envelope (plus a buffer) in EPSG:4326,
clipped and quantised by ``ST_AsMVTGeom`` and encoded by ``ST_AsMVT``. The row filter uses the
EPSG:4326 GiST index; only the rows kept are transformed to EPSG:3857.

Guard rails: no tiles below a collection's ``min_zoom`` (404, the tileset metadata says where
data starts, so clients never ask) and at most ``tile_feature_cap`` features per tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Integer, Text, and_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session

from gis.auth import Principal, Role
from gis.errors import TileOutOfRangeError
from gis.ogc.collections import Collection, PropertyKind, SqlColumn, per_collection

TILE_MATRIX_SET: Final = "WebMercatorQuad"
TILE_MATRIX_SET_URI: Final = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MAX_ZOOM: Final = 24
EXTENT: Final = 4096
BUFFER: Final = 64
MVT_MEDIA_TYPE: Final = "application/vnd.mapbox-vector-tile"
_DIALECT: Final = PGDialect_psycopg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class TileAddress:
    """A WebMercatorQuad tile: ``z`` = tileMatrix, ``y`` = tileRow, ``x`` = tileCol."""

    z: int
    y: int
    x: int

    def check(self) -> None:
        """Raise TileOutOfRangeError when the address is not in the tile matrix set."""
        if not 0 <= self.z <= MAX_ZOOM:
            raise TileOutOfRangeError(f"tileMatrix {self.z} is not in 0..{MAX_ZOOM}")
        size = 1 << self.z
        if not (0 <= self.x < size and 0 <= self.y < size):
            raise TileOutOfRangeError(
                f"tile {self.z}/{self.y}/{self.x}: row and column must be in 0..{size - 1}"
            )


def _tile_value(column: SqlColumn, kind: PropertyKind) -> SqlColumn:
    # MVT values are strings, numbers and booleans; dates travel as ISO text.
    if kind in (PropertyKind.DATETIME, PropertyKind.DATE):
        return func.btrim(func.to_json(column).cast(Text), '"')
    return column


def vector_tile(
    session: Session,
    collection: Collection,
    principal: Principal,
    address: TileAddress,
    *,
    feature_cap: int | None = None,
) -> bytes:
    """Return the MVT bytes of one tile (empty bytes when no feature falls in it).

    Parameters
    ----------
    session : Session
        Database session.
    collection : Collection
        The layer; its id is the MVT layer name.
    principal : Principal
        Whose scope limits the features (applied in SQL).
    address : TileAddress
        WebMercatorQuad tile; checked against the matrix and the collection's zoom range.
    feature_cap : int, optional
        Most features in one tile; defaults to the collection's ``tile_feature_cap``.
    """
    address.check()
    if address.z < collection.min_zoom:
        raise TileOutOfRangeError(
            f"collection {collection.id!r} has tiles from zoom {collection.min_zoom};"
            f" tileMatrix {address.z} is below it"
        )
    if address.z > collection.max_zoom:
        raise TileOutOfRangeError(
            f"collection {collection.id!r} has tiles up to zoom {collection.max_zoom}"
        )
    cap = feature_cap if feature_cap is not None else collection.tile_feature_cap
    sql, params = _tile_sql(collection, principal.divisions, principal.grid_codes, cap)
    data = (
        session.connection()
        .exec_driver_sql(
            sql, {**params, "tile_z": address.z, "tile_x": address.x, "tile_y": address.y}
        )
        .scalar()
    )
    return bytes(data) if data else b""


@per_collection
def _tile_sql(
    collection: Collection, divisions: tuple[str, ...], grid_codes: tuple[str, ...], cap: int
) -> tuple[str, dict[str, Any]]:
    """Return the tile query of a collection and scope as driver SQL (``%(name)s``) + params.

    Built once per (collection, scope, cap) and reused (`per_collection`); the same SQL text
    also lets psycopg prepare it.
    """
    scope = Principal(
        username="tile scope", role=Role.ANALYST, divisions=divisions, grid_codes=grid_codes
    )
    z, x, y = (bindparam(f"tile_{n}", 0, type_=Integer) for n in "zxy")
    envelope = func.ST_TileEnvelope(z, x, y)
    margin = func.ST_TileEnvelope(z, x, y, literal_column(f"margin => {BUFFER / EXTENT!r}"))
    kinds = collection.kinds()
    columns: list[SqlColumn] = [
        func.ST_AsMVTGeom(
            func.ST_Transform(collection.geom, 3857), envelope, EXTENT, BUFFER, True
        ).label("geom"),
        collection.id_column.label("id"),
    ]
    columns += [
        _tile_value(column, kinds[name]).label(name)
        for name, column in collection.properties.items()
        if name not in collection.tile_exclude
    ]
    conditions = [
        *collection.conditions(scope),
        collection.geom.op("&&")(func.ST_Transform(margin, 4326)),
    ]
    if collection.geometry_type == "Geometry":
        # ST_AsMVT cannot encode geometry collections.
        conditions.append(func.GeometryType(collection.geom) != "GEOMETRYCOLLECTION")
    rows = (
        select(*columns)
        .select_from(collection.source)
        .where(and_(*conditions))
        .limit(cap)
        .subquery("mvt_rows")
    )
    stmt = select(
        func.ST_AsMVT(literal_column("mvt_rows"), collection.id, EXTENT, "geom", "id")
    ).where(rows.c.geom.is_not(None))
    compiled = stmt.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    params = {k: v for k, v in compiled.params.items() if not k.startswith("tile_")}
    return str(compiled), params
