"""Request-scoped dependencies: settings, database session, bounding boxes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from gis.errors import InvalidInputError
from gis.settings import Settings


async def get_settings(request: Request) -> Settings:
    """Return the app's settings (tests pass their own to ``create_app``)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Yield one session per request: commit if the route returns, roll back if it raises.

    Async, so that opening it costs no thread hop (a Session does no I/O until used), and
    neither does closing it when the request never used it (a cached principal). Ending a
    transaction is blocking I/O, so that runs on the thread pool.
    """
    session: Session = request.app.state.sessions()
    try:
        yield session
    except BaseException:
        await _finish(session, commit=False)
        raise
    await _finish(session, commit=True)


async def _finish(session: Session, *, commit: bool) -> None:
    if not session.in_transaction():
        session.close()  # never used: no connection, nothing to commit or roll back
        return
    # Shielded, as FastAPI ends sync dependencies, and on a limiter of its own: ending the
    # transaction returns a connection, so it must never wait for a busy thread.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(
            _end_transaction, session, commit, limiter=anyio.CapacityLimiter(1)
        )


def _end_transaction(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
    finally:
        session.close()


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """Yield a session whose statements run in autocommit, for routes that only read.

    A transaction costs a tile two of its four round trips to the database (BEGIN and COMMIT
    around its one query, besides the pool's liveness ping) and a thread hop to end it.
    Closing an autocommit session does no I/O, so it stays on the event loop. Never for a
    route that writes, uses SET LOCAL or needs one snapshot across its statements.
    """
    session: Session = request.app.state.read_sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
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
