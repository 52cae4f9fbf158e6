"""The routers, in OpenAPI order."""

from fastapi import APIRouter

from api.routes import auth, divisions, events, health, ogc, tiles

ROUTERS: list[APIRouter] = [
    health.router,
    auth.router,
    divisions.router,
    ogc.router,
    tiles.router,
    events.router,
]
