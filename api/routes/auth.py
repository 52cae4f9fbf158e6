"""Log in for a bearer token; who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import PrincipalDep
from api.deps import SessionDep, SettingsDep
from gis.auth import login

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", summary="Exchange username and password for a bearer token")
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """OAuth2 password flow: the token is valid for TOKEN_TTL_H hours."""
    token = login(session, form.username, form.password, ttl_h=settings.token_ttl_h)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": settings.token_ttl_h * 3600,
    }


@router.get("/me", summary="The caller's role, scope and permissions")
def me(principal: PrincipalDep) -> dict[str, Any]:
    """Return who the token belongs to."""
    return {
        "username": principal.username,
        "role": principal.role,
        "divisions": list(principal.divisions),
        "grid_codes": list(principal.grid_codes),
        "can_unmask": principal.can_unmask,
        "permissions": sorted(p.value for p in principal.permissions),
    }
