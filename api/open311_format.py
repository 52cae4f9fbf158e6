"""Open311 GeoReport v2 wire formats: XML and JSON bodies, and errors in Open311's own shape.

GeoReport v2 chooses the format by the path's extension (``/services.xml``,
``/requests/12.json``). JSON is the mechanical "Spark" mapping of the XML: the root element
becomes a JSON array of its children. Errors are not problem+json but an array of
``{code, description}`` (XML ``<errors><error>…``) with the HTTP status 400, 403 or 404
(http://wiki.open311.org/GeoReport_v2#errors). `Open311Route` applies that to every route of
the Open311 router, so domain errors never leave it as problem+json.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from gis.auth import AuthenticationError, PermissionDeniedError
from gis.errors import GisError, NotFoundError

XML_MEDIA_TYPE: Final = "text/xml; charset=utf-8"
# Characters XML 1.0 cannot hold even escaped (most C0 controls); stored text may have them.
NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
JSON_MEDIA_TYPE: Final = "application/json; charset=utf-8"
# Plural element -> the element of each of its items, as in the spec's XML examples.
ITEM_TAGS: Final = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "keywords": "keyword",
    "errors": "error",
}


class Fmt(StrEnum):
    """Response format, from the path extension."""

    JSON = "json"
    XML = "xml"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else NOT_XML_CHAR.sub("\ufffd", str(value))


def _append(parent: ET.Element, tag: str, value: object) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, Mapping):
        for key, child in value.items():
            _append(node, str(key), child)
    elif isinstance(value, list | tuple):
        item_tag = ITEM_TAGS.get(tag, "item")
        for child in value:
            _append(node, item_tag, child)
    else:
        node.text = _text(value)


def to_xml(root: str, items: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """Serialise a GeoReport v2 document: ``root`` holds the items (or the mapping's fields).

    Examples
    --------
    >>> to_xml("services", [{"service_code": "0102", "metadata": True}]).decode()[38:]
    '<services><service><service_code>0102</service_code><metadata>true</metadata></service></services>'
    """
    element = ET.Element(root)
    if isinstance(items, Mapping):
        for key, value in items.items():
            _append(element, str(key), value)
    else:
        item_tag = ITEM_TAGS.get(root, "item")
        for item in items:
            _append(element, item_tag, item)
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>' + body


def render(
    fmt: Fmt,
    root: str,
    items: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """Return the document as XML or as its JSON mapping (a mapping stays an object)."""
    if fmt is Fmt.XML:
        return Response(to_xml(root, items), status_code=status_code, media_type=XML_MEDIA_TYPE)
    return JSONResponse(
        items if isinstance(items, Mapping) else list(items),
        status_code=status_code,
        media_type=JSON_MEDIA_TYPE,
    )


def fmt_of(request: Request) -> Fmt:
    """Return the format the path asks for (XML, the spec's required one, by default)."""
    return Fmt.JSON if request.url.path.endswith(".json") else Fmt.XML


def error_status(exc: Exception) -> int:
    """Return the spec's status for an error: 404 unknown resource, 403 key, 400 the rest."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return 403
    return 400


def _describe(exc: Exception) -> str:
    if isinstance(exc, RequestValidationError):
        parts = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in {"body", "query", "path"}]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return "; ".join(parts) or "invalid request"
    return str(exc)


def error_response(fmt: Fmt, exc: Exception) -> Response:
    """Return ``exc`` as a GeoReport v2 error array with the spec's HTTP status."""
    status = error_status(exc)
    return render(
        fmt, "errors", [{"code": status, "description": _describe(exc)}], status_code=status
    )


class Open311Route(APIRoute):
    """A route whose domain and validation errors leave in GeoReport v2's error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler so GisError and validation errors become Open311 errors."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (GisError, RequestValidationError) as exc:
                # Raised, not returned: the request's session must see the error and roll
                # back; `open311_failure` then sends the Open311 body.
                raise Open311Failure(error_response(fmt_of(request), exc)) from exc

        return route


class Open311Failure(Exception):
    """An error already rendered in GeoReport v2's format, on its way out of the route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def open311_failure(request: Request, exc: Exception) -> Response:
    """Exception handler: send the Open311 error body that `Open311Route` rendered."""
    assert isinstance(exc, Open311Failure)
    return exc.response
