"""Who is calling: bearer tokens and API keys become a ``Principal``; routes declare needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from gis.auth import (
    AuthenticationError,
    Permission,
    Principal,
    Role,
    authenticate,
    remembered,
)

_bearer = HTTPBearer(
    auto_error=False,
    description="A token from POST /auth/token, or a machine API key (ggk_…)",
)
ANONYMOUS = Principal(
    username="anonymous",
    role=Role.ANALYST,
    permissions=frozenset(
        {Permission.READ_DIVISIONS, Permission.READ_GRIDS, Permission.READ_LAYERS}
    ),
)


def _credential(request: Request, header: HTTPAuthorizationCredentials | None) -> str | None:
    if header is not None:
        return header.credentials
    # GDAL/QGIS and Open311 clients re-send a key as a query parameter on every request.
    return request.query_params.get("api_key") or request.headers.get("x-api-key")


async def get_principal(
    request: Request,
    session: SessionDep,
    header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Return the caller, or raise 401 when there are no valid credentials.

    Async: a credential this worker checked recently costs no thread hop; looking one up in
    the database is blocking I/O and runs on the thread pool.
    """
    credential = _credential(request, header)
    if not credential:
        raise AuthenticationError("authentication required: send Authorization: Bearer <token>")
    return await principal_of(request, session, credential)


async def principal_of(request: Request, session: Session, credential: str) -> Principal:
    """Return the principal of a token or key: from the worker's cache, else the database."""
    cache = request.app.state.principals
    known = remembered(credential, cache)
    if known is not None:
        return known
    return await run_in_threadpool(partial(authenticate, session, credential, cache=cache))


async def get_reader(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Like ``get_principal``, but anonymous reads of non-personal data when configured."""
    credential = _credential(request, header)
    if not credential and settings.anonymous_read:
        return ANONYMOUS
    return await get_principal(request, session, header)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
ReaderDep = Annotated[Principal, Depends(get_reader)]


def requires(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """Return a dependency that lets through only principals granted ``permission``."""

    async def check(principal: PrincipalDep) -> Principal:  # pure: no thread hop
        principal.require(permission)
        return principal

    return check
