"""Open311 GeoReport v2 at ``/open311/v2/…`` (XML and JSON, chosen by the path extension).

- ``discovery``, ``services`` and ``services/{code}`` are public: the services are the event
  minor classes of `gis.layers.classes` (service_code = the 4-digit class code).
- ``POST requests`` needs ``api_key`` (a gridgis API key or token of a user who may report
  incidents) and creates a real incident through `gis.layers.incident_service`, so it is
  located, assigned to its grid and worker, de-duplicated and announced on the live stream.
  The body is form-encoded as the spec says (a JSON object is accepted too).
- ``GET requests``, ``requests/{id}`` and ``tokens/{token}`` read incidents in the caller's
  scope: send ``api_key`` (query) or a bearer token; without one they answer only when the
  server allows anonymous reads (``ANONYMOUS_READ``), and then show every incident.

Extensions, declared as attributes in every service definition (the spec's own mechanism):

- ``attribute[coordinate_system]``: ``wgs84`` (default, the spec's), ``cgcs2000``, ``gcj02``
  (Amap, Tencent, WeChat) or ``bd09`` (Baidu). A phone app's GCJ-02 point read as WGS84 lands
  300-700 m off, usually in another grid; this lets the client say what it sends.
- ``attribute[urgent]``: ``true`` uses the class's urgent time limit.
- ``attribute[client_key]``: an idempotency key; posting again with it returns the first
  request instead of a second one. The response then also carries a ``token`` usable with
  ``tokens/{token}``.

Status is ``open`` for every state but ``closed`` and ``cancelled`` (``status_notes`` gives
the workflow state); errors are GeoReport v2 error arrays (`api.open311_format`). The OpenAPI
document declares both formats of every answer (`api.open311_schema`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from api.auth import principal_of
from api.deps import SessionDep, SettingsDep
from api.open311_format import Fmt, Open311Route, render
from api.open311_schema import (
    Attribute,
    AttributeValue,
    Discovery,
    PostedRequest,
    RequestToken,
    Service,
    ServiceDefinition,
    ServiceRequest,
    document,
    responses,
)
from gis.auth import AuthenticationError, Permission, Principal, Role, authenticate
from gis.errors import InvalidInputError, NotFoundError
from gis.layers.classes import CaseClass, default_classes, get_class
from gis.layers.incident_filter import IncidentFilter, incident_rows
from gis.layers.incident_service import IntakeOptions, report_incident
from gis.layers.workflow import TERMINAL_STATES, State

router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)
_bearer = HTTPBearer(auto_error=False)

SPEC_URL: Final = "http://wiki.open311.org/GeoReport_v2"
CHANGESET: Final = "2026-11-23T00:00:00Z"
MAX_DESCRIPTION: Final = 4000
MAX_RANGE: Final = timedelta(days=90)
MAX_REQUESTS: Final = 1000
MAX_ID: Final = 2**31 - 1
COORDINATE_SYSTEMS: Final = ("wgs84", "cgcs2000", "gcj02", "bd09")
CLOSED_STATES: Final = tuple(s.value for s in TERMINAL_STATES)
OPEN_STATES: Final = tuple(s.value for s in State if s not in TERMINAL_STATES)
PUBLIC_READER: Final = Principal(
    username="open311-public",
    role=Role.ANALYST,
    permissions=frozenset({Permission.READ_INCIDENTS}),
)
# PostgreSQL text holds neither NUL nor unpaired surrogates (a JSON body can carry both).
UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
CLIENT_KEY: Final = re.compile(r"[^/\s]+")
FmtPath = Annotated[Fmt, Path(description="Response format: json, or xml (the spec's own)")]
RequestId = Annotated[int, Path(ge=1, le=MAX_ID, description="The service request id")]


# ------------------------------------------------------------------------------ services
def _service(cls: CaseClass) -> Service:
    return {
        "service_code": cls.code,
        "service_name": cls.name,
        "description": f"{cls.name_en} ({cls.major_name} / {cls.major_name_en}); "
        f"handled by {cls.department} within {cls.normal_limit}",
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(k for k in (cls.major_name, cls.name_en) if k),
        "group": cls.major_name,
    }


def _attributes() -> list[Attribute]:
    def choice(key: str) -> AttributeValue:
        return {"key": key, "name": key}

    return [
        {
            "variable": True,
            "code": "coordinate_system",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "the system of lat/long; default wgs84",
            "order": 1,
            "description": "Coordinate system of lat/long (gcj02: Amap/Tencent/WeChat, "
            "bd09: Baidu)",
            "values": [choice(c) for c in COORDINATE_SYSTEMS],
        },
        {
            "variable": True,
            "code": "urgent",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "true for the urgent time limit",
            "order": 2,
            "description": "Urgent case",
            "values": [choice("false"), choice("true")],
        },
        {
            "variable": True,
            "code": "client_key",
            "datatype": "string",
            "required": False,
            "datatype_description": "up to 60 characters, unique per client",
            "order": 3,
            "description": "Idempotency key: a retry with the same key makes no second request",
            "values": [],
        },
    ]


@router.get(
    "/discovery.{fmt}",
    summary="Open311 service discovery",
    responses=responses({200: document(Discovery, "This endpoint")}, 400),
)
def discovery(fmt: FmtPath, request: Request) -> Response:
    """Describe this endpoint (http://wiki.open311.org/Service_Discovery)."""
    base = str(request.url_for("service_list", fmt="json")).removesuffix("/services.json")
    found: Discovery = {
        "changeset": CHANGESET,
        "contact": "gridgis command centre",
        "key_service": "API keys are issued by the administrator: gridgis users apikey",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(fmt, "discovery", found)


@router.get(
    "/services.{fmt}",
    summary="Open311 service list (the event classes)",
    responses=responses({200: document(list[Service], "Every service")}, 400),
)
def service_list(fmt: FmtPath) -> Response:
    """Return every event minor class as a service."""
    classes = sorted(default_classes().events.values(), key=lambda c: c.code)
    return render(fmt, "services", [_service(c) for c in classes])


@router.get(
    "/services/{service_code}.{fmt}",
    summary="Open311 service definition",
    responses=responses({200: document(ServiceDefinition, "The service's attributes")}, 400, 404),
)
def service_definition(
    service_code: Annotated[str, Path(description="A service_code from the service list")],
    fmt: FmtPath,
) -> Response:
    """Return the attributes a request of this service may carry (our extensions)."""
    if service_code not in default_classes().events:
        raise NotFoundError("service_code", service_code)
    definition: ServiceDefinition = {"service_code": service_code, "attributes": _attributes()}
    return render(fmt, "service_definition", definition)


# ------------------------------------------------------------------------------ requests
def _string(description: str, max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "description": description}


# The fields `post_request` reads. Other GeoReport v2 fields (jurisdiction_id, address_id,
# email, device_id, account_id, first_name, last_name, phone) are accepted and ignored.
_PLAIN_FIELDS: Final = {
    "api_key": _string("A gridgis API key or token of a user who may report incidents", 200),
    "service_code": _string("A service_code of the service list", 10),
    "lat": {
        "type": "number",
        "minimum": -90,
        "maximum": 90,
        "description": "Latitude in attribute[coordinate_system]; inside China. Required: "
        "this server does not geocode address_string or address_id",
    },
    "long": {
        "type": "number",
        "minimum": -180,
        "maximum": 180,
        "description": "Longitude in attribute[coordinate_system]; inside China",
    },
    "description": _string("What is wrong", MAX_DESCRIPTION),
    "address_string": _string("Kept with the incident, not geocoded", 300),
    "media_url": _string("A photo of it, kept with the report", 500),
}
# The service definitions' attributes (`_attributes`), sent as attribute[code].
_ATTRIBUTE_FIELDS: Final = {
    "coordinate_system": {"type": "string", "enum": list(COORDINATE_SYSTEMS), "default": "wgs84"},
    "urgent": {"type": "string", "enum": ["false", "true"], "default": "false"},
    "client_key": _string("Idempotency key: a retry with it makes no second request", 60)
    | {"pattern": "^[^/\\s]+$"},
}
_REQUIRED_FIELDS: Final = ["api_key", "service_code", "lat", "long"]
_FORM_FIELDS: Final = {
    "type": "object",
    "properties": {
        **_PLAIN_FIELDS,
        **{f"attribute[{code}]": schema for code, schema in _ATTRIBUTE_FIELDS.items()},
    },
    "required": _REQUIRED_FIELDS,
}
# `_form` does not declare the body to FastAPI (it reads either encoding), so it is given here.
REQUEST_BODY: Final = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {"schema": _FORM_FIELDS},
        "multipart/form-data": {"schema": _FORM_FIELDS},
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    **_PLAIN_FIELDS,
                    "attribute": {"type": "object", "properties": _ATTRIBUTE_FIELDS},
                },
                "required": _REQUIRED_FIELDS,
            }
        },
    },
}


async def _form(request: Request) -> dict[str, Any]:
    """Return the POST body fields (form-encoded per the spec, or a JSON object)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:  # not JSON, or not UTF-8
            raise InvalidInputError("the request body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("attribute") or {}, dict):
            raise InvalidInputError(
                "the request body must be a JSON object of fields (attribute: an object)"
            )
        attributes = body.get("attribute") or {}
        fields = {k: v for k, v in body.items() if k != "attribute"}
        for code, value in attributes.items():
            fields[f"attribute[{code}]"] = value
        return fields
    try:
        form = await request.form()
    except HTTPException as exc:  # Starlette's 400 for a malformed multipart body
        raise InvalidInputError(f"the form cannot be read: {exc.detail}") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _storable(text: str, name: str) -> str:
    if UNSTORABLE.search(text):
        raise InvalidInputError(f"{name}: contains NUL or an unpaired surrogate")
    return text


def _text(fields: dict[str, Any], name: str, *, limit: int = 300) -> str | None:
    value = fields.get(name)
    if value is None or str(value).strip() == "":
        return None
    text = _storable(str(value).strip(), name)
    if len(text) > limit:
        raise InvalidInputError(f"{name}: longer than {limit} characters")
    return text


def _number(fields: dict[str, Any], name: str) -> float:
    raw = _text(fields, name, limit=40)
    if raw is None:
        raise InvalidInputError(
            f"{name}: required (this server needs lat and long; it does not geocode "
            "address_string or address_id)"
        )
    try:
        return float(raw)
    except ValueError:
        raise InvalidInputError(f"{name}: {raw!r} is not a number") from None


def _urgent(fields: dict[str, Any]) -> bool:
    raw = (_text(fields, "attribute[urgent]", limit=5) or "false").lower()
    if raw not in {"true", "false"}:
        raise InvalidInputError(f"attribute[urgent]: must be true or false, got {raw!r}")
    return raw == "true"


def _coordinate_system(fields: dict[str, Any]) -> str:
    crs = (_text(fields, "attribute[coordinate_system]", limit=20) or "wgs84").lower()
    if crs not in COORDINATE_SYSTEMS:
        raise InvalidInputError(
            f"attribute[coordinate_system]: {crs!r} is not one of {', '.join(COORDINATE_SYSTEMS)}"
        )
    return crs


def _reporter(session: SessionDep, fields: dict[str, Any]) -> Principal:
    key = _text(fields, "api_key", limit=200)
    if key is None:
        raise AuthenticationError("api_key: required to post a service request")
    principal = authenticate(session, key)
    principal.require(Permission.REPORT_INCIDENTS)
    return principal


@router.post(
    "/requests.{fmt}",
    summary="Open311: post a service request (creates an incident)",
    status_code=201,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses=responses(
        {
            201: document(list[PostedRequest], "The new request"),
            200: document(list[PostedRequest], "A retry: the request first made with its key"),
        },
        400,
        403,
    ),
)
def post_request(
    fmt: FmtPath,
    session: SessionDep,
    settings: SettingsDep,
    fields: Annotated[dict[str, Any], Depends(_form)],
) -> Response:
    """Create an incident from a GeoReport v2 request and return its id (and token)."""
    principal = _reporter(session, fields)
    code = _text(fields, "service_code", limit=10)
    if code is None:
        raise InvalidInputError("service_code: required")
    try:
        get_class(code)
    except InvalidInputError as exc:
        raise InvalidInputError(f"service_code: {exc}") from None
    key = _text(fields, "attribute[client_key]", limit=60)
    if key is not None and not CLIENT_KEY.fullmatch(key):
        # It comes back as the token of tokens/{token}: it must stay one URL path segment.
        raise InvalidInputError("attribute[client_key]: no '/' and no spaces")
    result = report_incident(
        session,
        principal=principal,
        minor_code=code,
        lon=_number(fields, "long"),
        lat=_number(fields, "lat"),
        crs=_coordinate_system(fields),
        urgent=_urgent(fields),
        description=_text(fields, "description", limit=MAX_DESCRIPTION),
        client_key=None if key is None else f"open311:{principal.user_id}-{key}",
        reporter=principal.username,
        channel="open311",
        photo_ref=_text(fields, "media_url", limit=500),
        address=_text(fields, "address_string"),
        options=IntakeOptions.from_settings(settings),
    )
    notice = (
        f"duplicate of request {result.duplicate_of}, which is followed instead"
        if result.duplicate_of is not None
        else ""
    )
    item: PostedRequest = {
        "service_request_id": str(result.incident.id),
        "service_notice": notice,
        "account_id": None,
    }
    if key is not None:
        item["token"] = f"{principal.user_id}-{key}"
    return render(fmt, "service_requests", [item], status_code=201 if result.created else 200)


async def _reader(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[
        str | None, Query(description="A gridgis API key or token (or send it as a bearer token)")
    ] = None,
) -> Principal:
    credential = header.credentials if header is not None else api_key
    if credential:
        principal = await principal_of(request, session, credential)
        principal.require(Permission.READ_INCIDENTS)
        return principal
    if settings.anonymous_read:
        return PUBLIC_READER
    raise AuthenticationError("api_key: required to read service requests on this server")


ReaderDep = Annotated[Principal, Depends(_reader)]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _request_item(row: dict[str, Any]) -> ServiceRequest:
    closed = row["status"] in CLOSED_STATES
    notes = f"workflow state: {row['status']}"
    if row["duplicate_of"] is not None:
        notes += f"; duplicate of request {row['duplicate_of']}"
    return {
        "service_request_id": str(row["id"]),
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": _class_name(row["class_code"]),
        "service_code": row["class_code"],
        "description": row["description"],
        "agency_responsible": row["department"],
        "service_notice": None,
        "requested_datetime": row["reported_at"].isoformat(),
        "updated_datetime": _iso(row["closed_at"] if closed else row["updated_at"]),
        "expected_datetime": _iso(row["deadline_at"]),
        "address": row["address"],
        "address_id": None,
        "zipcode": None,
        "lat": row["lat"],
        "long": row["lon"],
        "media_url": None,
    }


def _class_name(code: str) -> str | None:
    found = default_classes().events.get(code)
    return None if found is None else found.name


def _csv(value: str | None, name: str) -> list[str] | None:
    if value is None or value.strip() == "":
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise InvalidInputError(f"{name}: empty list")
    return items


def _date(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{name}: {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise InvalidInputError(f"{name}: {value!r} needs a time zone (Z or +08:00)")
    return parsed


def _request_filter(
    ids: str | None, codes: str | None, start: str | None, end: str | None, status: str | None
) -> IncidentFilter:
    """Build the spec's filter: ids override the rest; dates default to the last 90 days."""
    id_list = _csv(ids, "service_request_id")
    if id_list is not None:
        # isascii: str.isdigit also passes digits such as "²" that int() refuses.
        if not all(i.isascii() and i.isdigit() and 0 < int(i) <= MAX_ID for i in id_list):
            raise InvalidInputError(
                f"service_request_id: a comma-separated list of numbers from 1 to {MAX_ID}"
            )
        return IncidentFilter(ids=[int(i) for i in id_list])
    until = _date(end, "end_date") or datetime.now(UTC)
    try:
        since = _date(start, "start_date") or until - MAX_RANGE
    except OverflowError:  # an end_date in the first 90 days of year 1
        raise InvalidInputError("end_date: too early to count 90 days back from") from None
    if since > until:
        raise InvalidInputError("start_date: after end_date")
    if until - since > MAX_RANGE:
        raise InvalidInputError("start_date: the range may span at most 90 days")
    states: list[str] | None = None
    for wanted in _csv(status, "status") or []:
        if wanted not in {"open", "closed"}:
            raise InvalidInputError(f"status: {wanted!r} is not open or closed")
        states = (states or []) + list(OPEN_STATES if wanted == "open" else CLOSED_STATES)
    return IncidentFilter(
        class_codes=_csv(codes, "service_code"),
        status=states,
        reported_from=since,
        reported_to=until,
    )


_REQUESTS: Final = document(list[ServiceRequest], "The requests, newest first")


@router.get(
    "/requests.{fmt}",
    summary="Open311: service requests (incidents)",
    responses=responses({200: _REQUESTS}, 400, 403),
)
def get_requests(
    fmt: FmtPath,
    session: SessionDep,
    reader: ReaderDep,
    service_request_id: Annotated[
        str | None,
        Query(max_length=2000, description="Comma-separated ids; the other filters then ignored"),
    ] = None,
    service_code: Annotated[
        str | None, Query(max_length=500, description="Comma-separated service codes")
    ] = None,
    start_date: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Requested at or after (ISO 8601 with a time zone); "
            "default end_date minus 90 days, the longest range allowed",
        ),
    ] = None,
    end_date: Annotated[
        str | None,
        Query(max_length=40, description="Requested at or before (ISO 8601 with a time zone)"),
    ] = None,
    status: Annotated[
        str | None, Query(max_length=20, description="open, closed, or both comma-separated")
    ] = None,
    jurisdiction_id: Annotated[
        str | None, Query(max_length=100, description="Ignored: this server is one jurisdiction")
    ] = None,
) -> Response:
    """Return up to 1000 requests, newest first, matching the spec's filters."""
    where = _request_filter(service_request_id, service_code, start_date, end_date, status)
    rows = incident_rows(session, principal=reader, where=where, limit=MAX_REQUESTS, order="newest")
    return render(fmt, "service_requests", [_request_item(r) for r in rows])


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="Open311: one service request",
    responses=responses({200: _REQUESTS}, 400, 403, 404),
)
def get_request(
    service_request_id: RequestId, fmt: FmtPath, session: SessionDep, reader: ReaderDep
) -> Response:
    """Return one request as a one-element list (404 when unknown or out of scope)."""
    rows = incident_rows(session, principal=reader, where=IncidentFilter(ids=[service_request_id]))
    if not rows:
        raise NotFoundError("service_request_id", service_request_id)
    return render(fmt, "service_requests", [_request_item(rows[0])])


@router.get(
    "/tokens/{token}.{fmt}",
    summary="Open311: request id of a token",
    responses=responses({200: document(list[RequestToken], "The token's request")}, 400, 403, 404),
)
def get_token(
    token: Annotated[str, Path(description="The token a POST with attribute[client_key] gave")],
    fmt: FmtPath,
    session: SessionDep,
    reader: ReaderDep,
) -> Response:
    """Return the request id the token (a client key given at POST) was assigned."""
    key = f"open311:{_storable(token, 'token')}"
    rows = incident_rows(session, principal=reader, where=IncidentFilter(client_keys=[key]))
    if not rows:
        raise NotFoundError("token", token)
    found: RequestToken = {"service_request_id": str(rows[0]["id"]), "token": token}
    return render(fmt, "service_requests", [found])
