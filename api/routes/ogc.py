"""OGC API Features (Part 1 Core + GeoJSON, Part 2 CRS, Part 3 CQL2 filtering).

Spec rules this module keeps (see ecosystem.md §1): every link has ``rel`` and ``type``; an
unknown query parameter or an invalid value is a 400 problem; ``limit`` above the maximum is
clamped, never refused; features are ``application/geo+json`` with integer ids; the storage
CRS is CRS84 and every feature response carries ``Content-Crs``. Paging follows ``next`` links
(keyset on the feature id, parameter ``after``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, InternalError

from api.auth import ReaderDep
from api.deps import ReadSessionDep, SessionDep, SettingsDep
from gis.errors import CqlFilterError, InvalidParameterError, NotFoundError
from gis.ogc import collections as registry
from gis.ogc.collections import COLLECTIONS, Collection
from gis.ogc.cql import FILTER_LANGS, GEOMETRY_PROPERTY, filter_condition
from gis.ogc.crs import CRS84, CRS84_URI, SUPPORTED_URIS, OutputCrs, parse_crs_uri
from gis.ogc.features import (
    ItemsQuery,
    collection_extent,
    feature_json,
    items_page,
    parse_datetime_interval,
)

GEOJSON: Final = "application/geo+json"
JSON: Final = "application/json"
SCHEMA_JSON: Final = "application/schema+json"
PROBLEM_JSON: Final = "application/problem+json"
OPENAPI_JSON: Final = "application/vnd.oai.openapi+json;version=3.1"
REL_QUERYABLES: Final = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_TILESETS_VECTOR: Final = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
TRS_GREGORIAN: Final = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
COLLECTION_ID_PATTERN: Final = "^(" + "|".join(COLLECTIONS) + ")$"
MAX_FEATURE_ID: Final = 2**63 - 1

CONFORMANCE: Final = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
)


def _query_aliases(dependant: Dependant) -> set[str]:
    """Return the names of every query parameter a route and its dependencies declare."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_aliases(sub)
    return names


class OgcRoute(APIRoute):
    """A route that refuses undeclared query parameters and reports bad values as 400.

    OGC API Features /req/core/query-param-unknown and /query-param-invalid want 400 where
    FastAPI would say 422; a malformed path parameter means "no such resource" (404).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler with the parameter checks."""
        handler = super().get_route_handler()
        declared = _query_aliases(self.dependant)

        async def checked(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - declared)
            if unknown:
                raise InvalidParameterError(
                    f"unknown query parameter(s) {', '.join(unknown)}; "
                    f"this operation takes {', '.join(sorted(declared)) or 'none'}"
                )
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = exc.errors()
                if any(e.get("loc", ("",))[0] == "path" for e in errors):
                    raise NotFoundError("resource", request.url.path) from None
                detail = "; ".join(
                    f"{e['loc'][-1]}: {e.get('msg', 'invalid')}" for e in errors if e.get("loc")
                )
                raise InvalidParameterError(detail or "invalid query parameter") from None

        return checked


async def _api_key_param(
    api_key: Annotated[
        str | None,
        Query(
            description="Machine API key (ggk_…), for clients that cannot send headers; "
            "prefer Authorization: Bearer",
        ),
    ] = None,
) -> None:
    """Declare ``api_key`` (read by api.auth) so that it is a known parameter."""


router = APIRouter(tags=["OGC API"], route_class=OgcRoute, dependencies=[Depends(_api_key_param)])

_PROBLEM: Final = {
    "content": {PROBLEM_JSON: {"schema": {"type": "object"}}},
}
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"description": "Unknown or invalid query parameter", **_PROBLEM},
    401: {"description": "No valid credentials", **_PROBLEM},
    403: {"description": "Not allowed to read this collection", **_PROBLEM},
    404: {"description": "No such collection or feature", **_PROBLEM},
    503: {"description": "Database unavailable", **_PROBLEM},
}


class JsonBytes(Response):
    """Pre-serialised ``application/json``."""

    media_type = JSON


class GeoJsonBytes(Response):
    """Pre-serialised ``application/geo+json``."""

    media_type = GEOJSON


class SchemaJsonBytes(Response):
    """Pre-serialised ``application/schema+json``."""

    media_type = SCHEMA_JSON


def _json(body: object, response_class: type[Response] = JsonBytes) -> Response:
    return response_class(orjson.dumps(body))


def base_url(request: Request) -> str:
    """Return the absolute URL of the API root, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    """Return an OGC link object (rel and type always present)."""
    out = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out


CollectionIdPath = Annotated[
    str, Path(alias="collectionId", pattern=COLLECTION_ID_PATTERN, description="Collection id")
]


async def _readable(
    session: SessionDep, principal: ReaderDep, collection_id: CollectionIdPath
) -> Any:
    collection = registry.get_collection(collection_id)
    if not collection.hide_when_empty:  # no query to make: no thread hop
        collection.require_readable(principal)
        return collection
    await run_in_threadpool(registry.require_listed, session, collection, principal)
    return collection


ReadableCollection = Annotated[Collection, Depends(_readable)]


@router.get(
    "/",
    summary="Landing page",
    response_class=JsonBytes,
    responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}},
)
def landing(request: Request) -> Response:
    """Return the links to the API definition, conformance and collections."""
    root = base_url(request)
    return _json(
        {
            "title": "gridgis",
            "description": "Urban grid management (网格化管理): OGC API Features and Tiles,"
            " Open311 GeoReport v2",
            "links": [
                link(f"{root}/", "self", JSON, "This document"),
                link(f"{root}/openapi.json", "service-desc", OPENAPI_JSON, "API definition"),
                link(f"{root}/docs", "service-doc", "text/html", "API documentation"),
                link(f"{root}/conformance", "conformance", JSON, "Conformance classes"),
                link(f"{root}/collections", "data", JSON, "Collections"),
                link(f"{root}/open311/v2/discovery.json", "related", JSON, "Open311 discovery"),
            ],
        }
    )


@router.get(
    "/conformance",
    summary="Conformance classes implemented",
    response_class=JsonBytes,
    responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}},
)
def conformance() -> Response:
    """Return the conformance classes this server implements (and only those)."""
    return _json({"conformsTo": list(CONFORMANCE)})


def _collection_doc(
    request: Request, collection: Collection, session: SessionDep, principal: ReaderDep
) -> dict[str, Any]:
    root = base_url(request)
    here = f"{root}/collections/{collection.id}"
    extent = collection_extent(session, collection, principal)
    doc: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "keywords": list(collection.keywords),
        "itemType": "feature",
        "crs": list(SUPPORTED_URIS),
        "storageCrs": CRS84_URI,
        "links": [
            link(here, "self", JSON, collection.title),
            link(f"{here}/items", "items", GEOJSON, "Features"),
            link(f"{here}/queryables", REL_QUERYABLES, SCHEMA_JSON, "Queryables"),
            link(f"{here}/tiles", REL_TILESETS_VECTOR, JSON, "Vector tilesets"),
        ],
    }
    extent_doc: dict[str, Any] = {}
    if extent.bbox is not None:
        extent_doc["spatial"] = {"bbox": [list(extent.bbox)], "crs": CRS84_URI}
    if extent.interval is not None:
        extent_doc["temporal"] = {"interval": [list(extent.interval)], "trs": TRS_GREGORIAN}
    if extent_doc:
        doc["extent"] = extent_doc
    return doc


@router.get(
    "/collections",
    summary="The collections this caller may read",
    response_class=JsonBytes,
    responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **_ERRORS},
)
def list_collections(request: Request, session: SessionDep, principal: ReaderDep) -> Response:
    """Return every collection the caller may read, with extents in CRS84."""
    root = base_url(request)
    docs = [
        _collection_doc(request, c, session, principal)
        for c in registry.visible_collections(session, principal)
    ]
    return _json(
        {
            "links": [link(f"{root}/collections", "self", JSON, "Collections")],
            "crs": list(SUPPORTED_URIS),
            "collections": docs,
        }
    )


@router.get(
    "/collections/{collectionId}",
    summary="One collection's metadata",
    response_class=JsonBytes,
    responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **_ERRORS},
)
def read_collection(
    request: Request, collection: ReadableCollection, session: SessionDep, principal: ReaderDep
) -> Response:
    """Return the collection's metadata and links."""
    return _json(_collection_doc(request, collection, session, principal))


_GEOMETRY_FORMATS: Final = {
    "Point": "geometry-point",
    "Polygon": "geometry-polygon",
    "MultiPolygon": "geometry-multipolygon",
    "Geometry": "geometry-any",
}


@router.get(
    "/collections/{collectionId}/queryables",
    summary="Properties usable in CQL2 filters (JSON Schema)",
    response_class=SchemaJsonBytes,
    responses={200: {"content": {SCHEMA_JSON: {"schema": {"type": "object"}}}}, **_ERRORS},
)
def queryables(request: Request, collection: ReadableCollection) -> Response:
    """Return the queryables as a JSON Schema (2020-12); others make a filter fail with 400."""
    properties: dict[str, Any] = {
        GEOMETRY_PROPERTY: {
            "title": "Geometry",
            "format": _GEOMETRY_FORMATS[collection.geometry_type],
            "x-ogc-role": "primary-geometry",
        }
    }
    for name, kind in collection.kinds().items():
        if kind in ("date-time", "date"):
            properties[name] = {"title": name, "type": "string", "format": kind.value}
        else:
            properties[name] = {"title": name, "type": kind.value}
    if collection.datetime_property:
        properties[collection.datetime_property]["x-ogc-role"] = "primary-instant"
    return _json(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base_url(request)}/collections/{collection.id}/queryables",
            "type": "object",
            "title": collection.title,
            "properties": properties,
            "additionalProperties": False,
        },
        SchemaJsonBytes,
    )


_FEATURE_COLLECTION_SCHEMA: Final = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"type": "object"}},
        "numberReturned": {"type": "integer", "minimum": 0},
        "numberMatched": {"type": "integer", "minimum": 0},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}
_FEATURE_SCHEMA: Final = {
    "type": "object",
    "required": ["type", "id", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": "integer"},
        "geometry": {"type": ["object", "null"]},
        "properties": {"type": ["object", "null"]},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}
_CRS_DESCRIPTION: Final = "Output CRS: " + ", ".join(SUPPORTED_URIS) + " (default CRS84)"


def _crs(value: str | None, parameter: str) -> OutputCrs:
    return parse_crs_uri(value, parameter=parameter)


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameterError(f"bbox needs 4 or 6 comma-separated numbers, got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameterError(f"bbox has a value that is not a number: {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise InvalidParameterError(f"bbox values must be finite: {text!r}")
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    return values[0], values[1], values[2], values[3]


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection (GeoJSON, keyset paging)",
    response_class=GeoJsonBytes,
    responses={
        200: {
            "description": "A page of features",
            "content": {GEOJSON: {"schema": _FEATURE_COLLECTION_SCHEMA}},
        },
        **_ERRORS,
    },
)
def items(
    request: Request,
    collection: ReadableCollection,
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: ReaderDep,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Page size; values above the server maximum are clamped"),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_FEATURE_ID, description="Keyset: features with id above this"),
    ] = None,
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy (or 6 numbers) in bbox-crs, default CRS84"),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (Part 2)")
    ] = None,
    crs: Annotated[str | None, Query(description=_CRS_DESCRIPTION)] = None,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="RFC 3339 instant or interval (.. = open end)"),
    ] = None,
    filter_: Annotated[
        str | None,
        Query(alias="filter", description="CQL2 filter over the collection's queryables"),
    ] = None,
    filter_lang: Annotated[
        str | None,
        Query(
            alias="filter-lang",
            json_schema_extra={"enum": list(FILTER_LANGS)},
            description="cql2-text (default) or cql2-json",
        ),
    ] = None,
    filter_crs: Annotated[
        str | None,
        Query(
            alias="filter-crs",
            json_schema_extra={"enum": [CRS84_URI]},
            description="CRS of filter geometries (CRS84 only)",
        ),
    ] = None,
) -> Response:
    """Return a page of features the caller may see; follow ``next`` for the following page."""
    max_items = settings.page_max_items
    page_size = min(limit or settings.page_default_items, max_items)
    out_crs = _crs(crs, "crs")
    condition = None
    if filter_ is not None:
        condition = filter_condition(
            filter_, collection, lang=filter_lang or "cql2-text", filter_crs=filter_crs
        )
    elif filter_lang is not None and filter_lang not in FILTER_LANGS:
        raise InvalidParameterError(f"filter-lang {filter_lang!r} is not supported")
    query = ItemsQuery(
        limit=page_size,
        after=after,
        bbox=_parse_bbox(bbox) if bbox else None,
        bbox_crs=_crs(bbox_crs, "bbox-crs"),
        datetime=parse_datetime_interval(datetime_),
        condition=condition,
        crs=out_crs,
        exact_count_max=settings.ogc_exact_count_max,
    )
    try:
        page = items_page(session, collection, principal, query)
    except (DataError, InternalError) as exc:
        if condition is None:
            raise
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise CqlFilterError(f"the filter cannot be evaluated: {reason}") from None
    self_url = request.url.include_query_params(limit=page_size)
    root = base_url(request)
    links = [
        link(str(self_url), "self", GEOJSON, "This page"),
        link(f"{root}/collections/{collection.id}", "collection", JSON, collection.title),
    ]
    if page.next_after is not None:
        next_url = request.url.include_query_params(limit=page_size, after=page.next_after)
        links.append(link(str(next_url), "next", GEOJSON, "Next page"))
    envelope: dict[str, Any] = {
        "numberReturned": page.number_returned,
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    if page.number_matched is not None:
        envelope["numberMatched"] = page.number_matched
    elif page.matched_estimate is not None:
        # Too many to count on every page; OGC wants numberMatched exact or absent.
        envelope["numberMatchedEstimate"] = page.matched_estimate
    tail = orjson.dumps(envelope)
    body = b'{"type":"FeatureCollection","features":[' + page.features + b"]," + tail[1:]
    return GeoJsonBytes(body, headers={"Content-Crs": f"<{out_crs.uri}>"})


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature (GeoJSON)",
    response_class=GeoJsonBytes,
    responses={
        200: {"description": "The feature", "content": {GEOJSON: {"schema": _FEATURE_SCHEMA}}},
        **_ERRORS,
    },
)
def item(
    request: Request,
    collection: ReadableCollection,
    session: SessionDep,
    principal: ReaderDep,
    feature_id: Annotated[int, Path(alias="featureId", ge=0, le=MAX_FEATURE_ID)],
    crs: Annotated[str | None, Query(description=_CRS_DESCRIPTION)] = None,
) -> Response:
    """Return the feature; 404 when it does not exist or is outside the caller's scope."""
    out_crs = _crs(crs, "crs")
    feature = feature_json(session, collection, principal, feature_id, crs=out_crs)
    root = base_url(request)
    here = f"{root}/collections/{collection.id}"
    links = [
        link(str(request.url), "self", GEOJSON, "This feature"),
        link(here, "collection", JSON, collection.title),
    ]
    body = feature[:-1] + b',"links":' + orjson.dumps(links) + b"}"
    return GeoJsonBytes(body, headers={"Content-Crs": f"<{out_crs.uri}>"})


__all__ = ["CRS84", "OgcRoute", "ReadableCollection", "base_url", "link", "router"]
