"""Request-scoped dependencies: settings, database session, bounding boxes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from gis.errors import InvalidInputError
from gis.settings import Settings


async def get_settings(request: Request) -> Settings:
    """Return the app's settings (tests pass their own to ``create_app``)."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Yield one session per request: commit if the route returns, roll back if it raises."""
    with request.app.state.sessions.begin() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (CRS84 lon/lat); None when absent."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidInputError("bbox needs 4 numbers: minx,miny,maxx,maxy")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidInputError(f"bbox has a value that is not a number: {text!r}") from exc
    if len(values) == 6:  # 3D bbox: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInputError(f"bbox {text!r} is outside longitude/latitude ranges")
    return minx, miny, maxx, maxy


async def bbox_param(
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy in CRS84 (longitude, latitude)",
            examples=["116.38,39.90,116.42,39.93"],
        ),
    ] = None,
) -> tuple[float, float, float, float] | None:
    """FastAPI dependency for the ``bbox`` query parameter."""
    return parse_bbox(bbox)


BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_param)]
