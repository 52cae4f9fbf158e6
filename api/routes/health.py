"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Readiness: the database answers and has PostGIS")
def health(session: SessionDep) -> dict[str, Any]:
    """Return the PostGIS version; a database failure becomes 503 problem+json."""
    version = session.execute(text("SELECT postgis_lib_version()")).scalar()
    return {"status": "ok", "database": "ok", "postgis": version}
