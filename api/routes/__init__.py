"""The routers, in OpenAPI order."""

from fastapi import APIRouter

from api.routes import auth, divisions, health

ROUTERS: list[APIRouter] = [health.router, auth.router, divisions.router]
