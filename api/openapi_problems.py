"""Document problem+json in the OpenAPI: every error response of every operation.

FastAPI declares its 422 as ``application/json`` with its own schema, but every error here
leaves as RFC 9457 ``application/problem+json`` (api/problems.py). Clients generated from the
document, and checkers such as schemathesis, must see what is actually sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details (with OGC API's code/description).",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "description": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "422: each invalid field with the reason",
            "items": {"type": "object"},
        },
        "report": {"type": "object", "description": "import errors, one per bad row/feature"},
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
_FASTAPI_422_CONTENT = {
    "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
}
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _is_error(status: str) -> bool:
    return status == "default" or status[:1] in {"4", "5"}


def _has_own_format(response: dict[str, Any]) -> bool:
    """Whether an error response declares a body other than problem+json (Open311's errors)."""
    content = response.get("content", {})
    return content != _FASTAPI_422_CONTENT and any(t != PROBLEM_MEDIA_TYPE for t in content)


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """Return the app's OpenAPI with every error response declared as problem+json.

    Error responses that declare a format of their own (Open311's errors) keep it.
    """
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        license_info=app.license_info,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for schema_name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(schema_name, None)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if _is_error(status) and not _has_own_format(response):
                    response["content"] = dict(_PROBLEM_CONTENT)
            responses.setdefault(
                "default",
                {"description": "Error (RFC 9457 problem details)", "content": _PROBLEM_CONTENT},
            )
    app.openapi_schema = document
    return document


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and /openapi.json, /docs) use `problem_openapi`."""

    def openapi() -> dict[str, Any]:
        return problem_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
