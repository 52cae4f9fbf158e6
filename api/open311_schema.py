"""The Open311 GeoReport v2 documents as typed dicts, and how the OpenAPI declares them.

The handlers of `api.routes.open311` build these dicts, so mypy holds them to the shapes that
FastAPI derives the OpenAPI's JSON Schemas from. Each document is sent as JSON from a
``.json`` path and as the same data in XML (`api.open311_format`) from an ``.xml`` path; the
OpenAPI cannot tie the media type to the path's extension, so every response lists both.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired

# pydantic reads TypedDicts only from typing_extensions before Python 3.12.
from typing_extensions import TypedDict

XML: Final = "text/xml"
_XML_CONTENT: Final = {
    XML: {"schema": {"type": "string", "description": "The same document in GeoReport v2 XML"}}
}


class Endpoint(TypedDict):
    """One GeoReport v2 endpoint of this server."""

    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(TypedDict):
    """Service discovery (http://wiki.open311.org/Service_Discovery)."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(TypedDict):
    """A service: one event minor class; ``service_code`` is its 4-digit class code."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class AttributeValue(TypedDict):
    """One choice of a ``singlevaluelist`` attribute."""

    key: str
    name: str


class Attribute(TypedDict):
    """An attribute a request may carry as ``attribute[code]``."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(TypedDict):
    """The attributes of one service."""

    service_code: str
    attributes: list[Attribute]


class PostedRequest(TypedDict):
    """The answer to a POST; ``token`` only when ``attribute[client_key]`` was sent."""

    service_request_id: str
    service_notice: str
    account_id: None
    token: NotRequired[str]


class ServiceRequest(TypedDict):
    """A service request: one incident; ``status_notes`` gives its workflow state."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: None
    zipcode: None
    lat: float
    long: float
    media_url: None


class RequestToken(TypedDict):
    """The request id a token was assigned."""

    service_request_id: str
    token: str


class Open311Error(TypedDict):
    """A GeoReport v2 error; ``code`` repeats the HTTP status."""

    code: int
    description: str


_ERROR_DESCRIPTIONS: Final = {
    400: "Invalid request (an unknown format extension too), as GeoReport v2 errors",
    403: "No usable api_key (or bearer token): missing, unknown, or not allowed to do this",
    404: "No such service, request or token (or not in the caller's scope)",
}


def document(model: Any, description: str) -> dict[str, Any]:
    """Declare a response: ``model`` as JSON, or the same document as XML."""
    return {"description": description, "model": model, "content": _XML_CONTENT}


def responses(
    success: dict[int | str, dict[str, Any]], *error_statuses: Literal[400, 403, 404]
) -> dict[int | str, dict[str, Any]]:
    """Return an operation's responses: ``success``, its GeoReport v2 errors and the rest.

    The rest (413 body too large, 503 database unavailable, 500) leave the app's error
    handlers as RFC 9457 problem+json; declaring them as ``default`` also keeps FastAPI from
    listing a 422, which Open311 routes never send (validation errors are 400s here).
    """
    errors: dict[int | str, dict[str, Any]] = {
        status: document(list[Open311Error], _ERROR_DESCRIPTIONS[status])
        for status in error_statuses
    }
    other = {"description": "Any other error, as RFC 9457 problem details"}
    return {**success, **errors, "default": other}
