"""Who is calling: bearer tokens and API keys become a ``Principal``; routes declare needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionDep, SettingsDep
from gis.auth import AuthenticationError, Permission, Principal, Role, authenticate

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


def get_principal(
    request: Request,
    session: SessionDep,
    header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Return the caller, or raise 401 when there are no valid credentials."""
    credential = _credential(request, header)
    if not credential:
        raise AuthenticationError("authentication required: send Authorization: Bearer <token>")
    return authenticate(session, credential, cache=request.app.state.principals)


def get_reader(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Like ``get_principal``, but anonymous reads of non-personal data when configured."""
    credential = _credential(request, header)
    if not credential and settings.anonymous_read:
        return ANONYMOUS
    return get_principal(request, session, header)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
ReaderDep = Annotated[Principal, Depends(get_reader)]


def requires(permission: Permission) -> Callable[[Principal], Principal]:
    """Return a dependency that lets through only principals granted ``permission``."""

    def check(principal: PrincipalDep) -> Principal:
        principal.require(permission)
        return principal

    return check
