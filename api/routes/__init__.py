"""The routers, in OpenAPI order."""

from fastapi import APIRouter

from api.routes import (
    auth,
    coverage,
    divisions,
    events,
    grids,
    health,
    incidents,
    layers,
    maps,
    ogc,
    open311,
    residents,
    tiles,
)

ROUTERS: list[APIRouter] = [
    health.router,
    auth.router,
    divisions.router,
    grids.router,
    ogc.router,
    tiles.router,
    events.router,  # before incidents: /incidents/events is not /incidents/{incident_id}
    incidents.router,
    residents.router,
    open311.router,
    maps.router,
    coverage.router,
    layers.router,
]
