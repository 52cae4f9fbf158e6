"""OGC API Tiles for collections: vector tilesets (MVT) on WebMercatorQuad, plus TileJSON.

Tile path order is the OGC one, ``{tileMatrix}/{tileRow}/{tileCol}`` = ``{z}/{y}/{x}`` (tipg
uses ``{z}/{x}/{y}``). An empty tile is 204; a tile below the collection's minimum zoom, or
outside the matrix, is 404 — the tileset description gives ``minzoom`` so clients never ask.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request, Response

from api.auth import ReaderDep
from api.deps import ReadSessionDep, SessionDep
from api.routes.ogc import (
    _ERRORS,
    JSON,
    JsonBytes,
    OgcRoute,
    ReadableCollection,
    _api_key_param,
    _json,
    base_url,
    link,
)
from gis.ogc.features import collection_extent
from gis.ogc.tiles import (
    MAX_ZOOM,
    MVT_MEDIA_TYPE,
    TILE_MATRIX_SET,
    TILE_MATRIX_SET_URI,
    TileAddress,
    vector_tile,
)

router = APIRouter(
    tags=["OGC API Tiles"], route_class=OgcRoute, dependencies=[Depends(_api_key_param)]
)

_WORLD_CRS84: Final = [-180.0, -85.0511287798066, 180.0, 85.0511287798066]
_TILE_TEMPLATE: Final = "{tileMatrix}/{tileRow}/{tileCol}"


class MvtResponse(Response):
    """A Mapbox vector tile."""

    media_type = MVT_MEDIA_TYPE


def _tileset_url(request: Request, collection_id: str) -> str:
    return f"{base_url(request)}/collections/{collection_id}/tiles/{TILE_MATRIX_SET}"


@router.get(
    "/collections/{collectionId}/tiles",
    summary="Vector tilesets of a collection",
    response_class=JsonBytes,
    responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **_ERRORS},
)
def tilesets(request: Request, collection: ReadableCollection) -> Response:
    """List the collection's tilesets (one: WebMercatorQuad, MVT)."""
    url = _tileset_url(request, collection.id)
    return _json(
        {
            "links": [link(f"{base_url(request)}/collections/{collection.id}", "collection", JSON)],
            "tilesets": [
                {
                    "title": f"{collection.title} (vector, {TILE_MATRIX_SET})",
                    "dataType": "vector",
                    "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
                    "tileMatrixSetURI": TILE_MATRIX_SET_URI,
                    "links": [
                        link(url, "self", JSON, "Tileset"),
                        link(
                            f"{url}/{_TILE_TEMPLATE}",
                            "item",
                            MVT_MEDIA_TYPE,
                            "Tile URL template",
                        )
                        | {"templated": True},
                    ],
                }
            ],
        }
    )


@router.get(
    f"/collections/{{collectionId}}/tiles/{TILE_MATRIX_SET}",
    summary="Tileset metadata (OGC tileset + TileJSON 3.0)",
    response_class=JsonBytes,
    responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **_ERRORS},
)
def tileset(
    request: Request, collection: ReadableCollection, session: SessionDep, principal: ReaderDep
) -> Response:
    """Describe the tileset; the TileJSON members let MapLibre/Leaflet use it directly."""
    url = _tileset_url(request, collection.id)
    extent = collection_extent(session, collection, principal)
    bounds = list(extent.bbox) if extent.bbox else _WORLD_CRS84
    fields = {
        name: "String" if kind.value in ("string", "date-time", "date") else kind.value.title()
        for name, kind in collection.kinds().items()
        if name not in collection.tile_exclude
    }
    doc: dict[str, Any] = {
        # OGC API Tiles tileset
        "title": collection.title,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TILE_MATRIX_SET_URI,
        "tileMatrixSetLimits": [
            {
                "tileMatrix": str(z),
                "minTileRow": 0,
                "maxTileRow": (1 << z) - 1,
                "minTileCol": 0,
                "maxTileCol": (1 << z) - 1,
            }
            for z in range(collection.min_zoom, collection.max_zoom + 1)
        ],
        "layers": [
            {
                "id": collection.id,
                "dataType": "vector",
                "geometryType": collection.geometry_type.lower(),
                "minTileMatrix": str(collection.min_zoom),
                "maxTileMatrix": str(collection.max_zoom),
            }
        ],
        "links": [
            link(url, "self", JSON, "This tileset"),
            link(f"{url}/{_TILE_TEMPLATE}", "item", MVT_MEDIA_TYPE, "Tiles") | {"templated": True},
            link(f"{base_url(request)}/collections/{collection.id}", "collection", JSON),
        ],
        # TileJSON 3.0.0
        "tilejson": "3.0.0",
        "name": collection.id,
        "tiles": [f"{url}/{{z}}/{{y}}/{{x}}"],
        "minzoom": collection.min_zoom,
        "maxzoom": collection.max_zoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, collection.min_zoom],
        "vector_layers": [
            {
                "id": collection.id,
                "fields": fields,
                "minzoom": collection.min_zoom,
                "maxzoom": collection.max_zoom,
                "description": collection.description,
            }
        ],
    }
    return _json(doc)


@router.get(
    f"/collections/{{collectionId}}/tiles/{TILE_MATRIX_SET}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
    summary="One vector tile (MVT); 204 when empty",
    response_class=MvtResponse,
    responses={
        200: {"content": {MVT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        204: {"description": "No feature in this tile"},
        **_ERRORS,
    },
)
def tile(
    collection: ReadableCollection,
    session: ReadSessionDep,
    principal: ReaderDep,
    z: Annotated[int, Path(alias="tileMatrix", ge=0, le=MAX_ZOOM)],
    y: Annotated[int, Path(alias="tileRow", ge=0)],
    x: Annotated[int, Path(alias="tileCol", ge=0)],
) -> Response:
    """Return the features of one tile as MVT (layer name = collection id)."""
    data = vector_tile(session, collection, principal, TileAddress(z=z, y=y, x=x))
    if not data:
        return Response(status_code=204)
    return MvtResponse(data)
