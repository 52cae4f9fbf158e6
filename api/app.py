"""The FastAPI application factory. There is no module-level app.

Run it with ``gridgis serve`` or ``uvicorn api.app:create_app --factory``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import openapi_problems
from api.limits import Admission, BodySizeLimit
from api.open311_format import Open311Failure, open311_failure
from api.problems import add_problem_handlers
from api.routes import ROUTERS
from gis import __version__
from gis.auth_cache import PrincipalCache
from gis.db import make_engine, make_sessionmaker
from gis.postgis import database_url
from gis.settings import Settings, get_settings
from maps.assets import STATIC_DIR

DESCRIPTION = """
Urban grid management (网格化管理) on PostGIS: administrative divisions, grid plans and cells,
buildings, residents, facilities, components and incidents, 15-minute service-circle coverage,
OGC API Features and vector tiles, Open311 GeoReport v2, and maps.

Errors are RFC 9457 `application/problem+json`.
"""


def worker_threads(settings: Settings) -> int:
    """Return the threads per worker for sync request work (WORKER_THREADS, default CPUs + 1)."""
    return max(1, settings.worker_threads or (os.cpu_count() or 1) + 1)


def admitted_requests(settings: Settings) -> int:
    """Return how many requests a worker works on at once (MAX_IN_FLIGHT, default threads + 1).

    Never more than the pool has connections: each request holds at most one, so none can
    wait for a connection that a request waiting for a thread holds (see `Admission`).
    """
    wanted = settings.max_in_flight or worker_threads(settings) + 1
    return max(1, min(wanted, settings.pool_size + settings.pool_max_overflow))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; tests pass their own ``settings``, production reads the environment."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            database_url(settings),
            statement_timeout_ms=settings.statement_timeout_ms,
            pool_timeout=settings.pool_timeout_s,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
        )
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        # Same pool; the connection goes back to it with its isolation level reset.
        app.state.read_sessions = make_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # Sync routes and dependencies run on anyio's thread pool; see Settings.worker_threads.
        threads = worker_threads(settings)
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        hub = getattr(app.state, "incident_hub", None)
        if hub is not None:  # the SSE listener's own connection, opened on first subscriber
            await hub.close()
        engine.dispose()

    app = FastAPI(
        title="gridgis",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0"},
    )
    app.state.settings = settings
    app.state.principals = PrincipalCache(settings.auth_cache_s)
    add_problem_handlers(app)
    app.add_exception_handler(Open311Failure, open311_failure)
    openapi_problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # Leaflet and plugins, installed from npm at setup: maps work on a closed network.
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(
        Admission,
        max_in_flight=admitted_requests(settings),
        exempt=("/incidents/events", "/static/"),
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.max_upload_bytes,
    )
    return app
