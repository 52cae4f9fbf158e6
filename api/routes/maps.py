"""Maps as HTML: the grid plan, the incident command map and the coverage map.

Each page needs the permission of the data it shows and holds only what the caller's scope
allows (a grid worker's map shows their grids). Scripts and stylesheets come from this app's
``/static/vendor/`` (no CDN). Big layers are not embedded: buildings are fetched per view from
the OGC API, and the command map's cases from ``/maps/incidents/features``, re-fetched on every
event of ``/incidents/events`` and polled as a fallback.

A browser cannot send an ``Authorization`` header when it opens a page, so the maps take the
token or API key as ``api_key`` in the query, and pass it on to the URLs the page fetches.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import PrincipalDep
from api.deps import SessionDep, SettingsDep
from api.params import DB_INT_MAX
from gis.auth import Permission
from gis.layers.workflow import Action
from gis.mapdata import (
    coverage_map_data,
    grid_map_data,
    incident_map_data,
    live_incidents,
    resolve_area,
)
from maps.assets import offline_html
from maps.pages import coverage_page, grid_page, incident_features, incident_page

router = APIRouter(prefix="/maps", tags=["maps"])

BUILDINGS_LIMIT: Final = 5000
_NO_STORE: Final = {"Cache-Control": "no-store"}
_HTML: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}},
    401: {"description": "No valid credentials"},
    403: {"description": "Not allowed to read this data"},
    404: {"description": "No such street, district, run or category"},
}

StreetQuery = Annotated[
    str | None, Query(pattern=r"^\d{9}$", description="9-digit street code (街道)")
]
DistrictQuery = Annotated[
    str | None, Query(pattern=r"^\d{6}$", description="6-digit district code (区)")
]
ApiKeyQuery = Annotated[
    str | None,
    Query(description="Token or API key, for browsers (passed on to the page's data URLs)"),
]


class GeoJsonResponse(JSONResponse):
    """A GeoJSON body."""

    media_type = "application/geo+json"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _url(request: Request, path: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{_root(request)}{path}" + (f"?{query}" if query else "")


def _page(request: Request, fmap: Any) -> HTMLResponse:
    html = offline_html(fmap, asset_base=f"{_root(request)}/static/vendor/")
    return HTMLResponse(html, headers=_NO_STORE)


@router.get(
    "/grid",
    summary="Grid plan map of a street or district (HTML)",
    response_class=HTMLResponse,
    responses=_HTML,
)
def grid_map(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    street: StreetQuery = None,
    district: DistrictQuery = None,
    api_key: ApiKeyQuery = None,
) -> HTMLResponse:
    """Cells of the active plans coloured by households against the band; buildings on demand."""
    data = grid_map_data(session, principal, street=street, district=district)
    buildings_url = None
    if principal.can(Permission.READ_LAYERS):
        # {bbox} is filled in by the page with the current view; keep it out of urlencode.
        buildings_url = _url(
            request, "/collections/buildings/items", limit=str(BUILDINGS_LIMIT), api_key=api_key
        )
        buildings_url += "&bbox={bbox}"
    fmap = grid_page(
        data,
        buildings_url=buildings_url,
        tiles_url=settings.map_tiles_url,
        tiles_attribution=settings.map_tiles_attribution,
    )
    return _page(request, fmap)


@router.get(
    "/incidents",
    summary="Incident command map, refreshed live (HTML)",
    response_class=HTMLResponse,
    responses=_HTML,
)
def incidents_map(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    street: StreetQuery = None,
    district: DistrictQuery = None,
    refresh_s: Annotated[
        int, Query(ge=5, le=3600, description="Fallback polling interval, seconds")
    ] = 30,
    api_key: ApiKeyQuery = None,
) -> HTMLResponse:
    """Cases clustered by status, overdue ones ringed, heat map, cells by open cases; live."""
    data = incident_map_data(session, principal, street=street, district=district)
    live_url = _url(
        request, "/maps/incidents/features", street=street, district=district, api_key=api_key
    )
    # EventSource cannot send headers: the stream is only usable with a key in the URL.
    events_url = _url(request, "/incidents/events", api_key=api_key) if api_key else None
    fmap = incident_page(
        data,
        live_url=live_url,
        events_url=events_url,
        events=[a.value for a in Action],
        live_interval_ms=refresh_s * 1000,
        tiles_url=settings.map_tiles_url,
        tiles_attribution=settings.map_tiles_attribution,
    )
    return _page(request, fmap)


@router.get(
    "/incidents/features",
    summary="The command map's current cases (GeoJSON, polled by the map)",
    response_class=GeoJsonResponse,
    responses={401: {"description": "No valid credentials"}, 403: {"description": "Forbidden"}},
)
def incident_map_features(
    session: SessionDep,
    principal: PrincipalDep,
    street: StreetQuery = None,
    district: DistrictQuery = None,
    api_key: ApiKeyQuery = None,
) -> GeoJsonResponse:
    """Every open case in scope and those closed in the last days, with ``overdue``."""
    area = resolve_area(session, street=street, district=district)
    frame = live_incidents(session, principal, area=area)
    return GeoJsonResponse(incident_features(frame), headers=_NO_STORE)


@router.get(
    "/coverage",
    summary="15-minute coverage map: isochrones, gaps, cell completeness (HTML)",
    response_class=HTMLResponse,
    responses=_HTML,
)
def coverage_map(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    category: Annotated[
        str | None,
        Query(max_length=40, description="One facility category (default: all, switchable)"),
    ] = None,
    street: StreetQuery = None,
    district: DistrictQuery = None,
    run_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX, description="Coverage run")] = None,
    api_key: ApiKeyQuery = None,
) -> HTMLResponse:
    """Per category: isochrones and gaps; cells coloured by completeness; a category switch."""
    data = coverage_map_data(
        session, principal, category=category, street=street, district=district, run_id=run_id
    )
    fmap = coverage_page(
        data, tiles_url=settings.map_tiles_url, tiles_attribution=settings.map_tiles_attribution
    )
    return _page(request, fmap)
