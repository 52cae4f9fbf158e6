"""The routers, in OpenAPI order."""

from fastapi import APIRouter

from api.routes import divisions, health

ROUTERS: list[APIRouter] = [health.router, divisions.router]
