"""RFC 9457 problem+json: the only place where exceptions become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis.auth import AuthenticationError, PermissionDeniedError
from gis.errors import (
    ConflictError,
    DatabaseUnavailableError,
    GisError,
    ImportValidationError,
    InvalidInputError,
    InvalidParameterError,
    MapAssetsError,
    NotFoundError,
)

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Most specific first: the first class in an exception's MRO found here wins.
DOMAIN_PROBLEMS: dict[type[GisError], tuple[int, str, str]] = {
    AuthenticationError: (401, "unauthenticated", "Authentication required"),
    PermissionDeniedError: (403, "forbidden", "Not allowed"),
    NotFoundError: (404, "not-found", "Resource not found"),
    ImportValidationError: (
        422,
        "invalid-features",
        "Some features are invalid; nothing was written",
    ),
    # OGC API Features wants 400 for unknown or invalid query parameters (and CQL2 filters).
    InvalidParameterError: (400, "invalid-parameter", "Invalid query parameter"),
    InvalidInputError: (422, "invalid-input", "Input is not usable"),
    ConflictError: (409, "conflict", "Conflicts with the current state"),
    DatabaseUnavailableError: (503, "database-unavailable", "Database unavailable"),
    # The server's Leaflet copies are missing or stale: an install step, not the caller's fault.
    MapAssetsError: (503, "map-assets-missing", "Map assets are not installed on the server"),
}


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    slug: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Return a problem+json response (``code``/``description`` too, for OGC API clients)."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body["code"] = slug or title
    body["description"] = detail or title
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_PROBLEMS:
            status, slug, title = DOMAIN_PROBLEMS[cls]
            extra: dict[str, Any] = {}
            if isinstance(exc, ImportValidationError):
                extra["report"] = exc.report.to_dict()
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return problem(
                status, title, str(exc), slug, instance=request.url.path, headers=headers, **extra
            )
    log.exception("unmapped domain error", exc_info=exc)
    return problem(500, "Internal Server Error", "unexpected domain error")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
    return problem(
        422, "Invalid request", detail, "validation", instance=request.url.path, errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(
        exc.status_code,
        str(exc.detail) if exc.status_code != 404 else "Not Found",
        None if exc.status_code == 404 else str(exc.detail),
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    timed_out = "statement timeout" in str(exc) or "canceling statement" in str(exc)
    log.warning("database error on %s: %s", request.url.path, exc)
    return problem(
        503,
        "Database unavailable",
        "the database took too long to answer" if timed_out else "the database cannot be reached",
        "database-unavailable",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A constraint the request broke (duplicate key, missing parent): the client's to fix.
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    detail = getattr(diag, "message_detail", None) or getattr(diag, "message_primary", None)
    return problem(409, "Conflicts with stored data", detail, "conflict", instance=request.url.path)


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot hold (number out of range, malformed literal): the
    # client's to fix. Routes validate what they can; this is the net under them.
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    detail = getattr(diag, "message_primary", None)
    return problem(400, "Invalid value", detail, "invalid-value", instance=request.url.path)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem(500, "Internal Server Error", None, instance=request.url.path)


def add_problem_handlers(app: FastAPI) -> None:
    """Register every handler so all errors leave as problem+json."""
    app.add_exception_handler(GisError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected_error)
