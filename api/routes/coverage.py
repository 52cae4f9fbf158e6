"""15-minute coverage: runs, per-building results, area statistics, isochrones, gaps, siting.

Reading needs READ_COVERAGE; starting a run or a siting needs RUN_COVERAGE. Per-building rows
and area rows follow the caller's scope; residents per building appear only for callers who may
read people, and small areas' resident figures are suppressed for everyone else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from api.auth import requires
from api.deps import BBoxDep, SessionDep, SettingsDep
from api.params import DB_INT_MAX
from gis.auth import Permission, Principal
from gis.coverage import queries
from gis.coverage.context import CoverageParams
from gis.coverage.service import run_coverage
from gis.coverage.sites import MAX_SITES, site_facilities

router = APIRouter(prefix="/coverage", tags=["coverage"])

Reader = Annotated[Principal, Depends(requires(Permission.READ_COVERAGE))]
Runner = Annotated[Principal, Depends(requires(Permission.RUN_COVERAGE))]
RunId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="coverage run id")]
Category = Annotated[
    str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9_]*$", description="checklist key")
]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
_OBJECT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}}
}


class RunRequest(BaseModel):
    """Parameters of a new coverage run (defaults as in the design: 1,000 m in 15 min)."""

    network: str = Field(min_length=1, max_length=60)
    categories: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]] | None = (
        Field(default=None, max_length=64)
    )
    budget_m: float = Field(default=1000.0, gt=0, le=5000)
    max_snap_m: float = Field(default=300.0, gt=0, le=5000)
    isochrones: bool = True
    isochrone_minutes: list[Annotated[int, Field(ge=1, le=60)]] | None = Field(
        default=None, max_length=6
    )
    isochrone_buffer_m: float = Field(default=50.0, ge=1, le=500)
    gap_cell_m: float = Field(default=100.0, ge=10, le=5000)
    population: Literal["building", "register"] = "building"
    street_codes: list[Annotated[str, Field(pattern=r"^\d{6}(\d{3})?$")]] = Field(
        default_factory=list, max_length=100
    )


class SiteRequest(BaseModel):
    """Pick ``k`` sites for ``category``; candidates default to network nodes."""

    category: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    k: int = Field(default=5, ge=1, le=MAX_SITES)
    candidates: (
        list[
            Annotated[
                list[Annotated[float, Field(ge=-180, le=180)]],
                Field(min_length=2, max_length=2),
            ]
        ]
        | None
    ) = Field(default=None, max_length=10_000, description="[lon, lat] pairs (WGS84)")


@router.get("/runs", summary="Coverage runs, newest first", responses=_OBJECT)
def list_runs(
    session: SessionDep, reader: Reader, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """Return the recorded runs (parameters, network and input versions, times)."""
    runs = queries.list_runs(session, limit=limit, offset=offset)
    return {"runs": runs, "numberReturned": len(runs)}


@router.post(
    "/runs",
    summary="Start a coverage run (synchronous; district-sized networks take seconds)",
    status_code=201,
    responses={201: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def start_run(body: RunRequest, session: SessionDep, runner: Runner) -> dict[str, Any]:
    """Compute reachability, isochrones, statistics and gaps; record and return the run."""
    params = CoverageParams(
        network=body.network,
        categories=tuple(body.categories) if body.categories else None,
        budget_m=body.budget_m,
        max_snap_m=body.max_snap_m,
        isochrones=body.isochrones,
        isochrone_minutes=tuple(body.isochrone_minutes) if body.isochrone_minutes else None,
        isochrone_buffer_m=body.isochrone_buffer_m,
        gap_cell_m=body.gap_cell_m,
        population=body.population,
        street_codes=tuple(body.street_codes),
    )
    run = run_coverage(session, params, created_by=runner.username)
    return queries.run_dict(run)


@router.get("/runs/{run_id}", summary="One run with its summary", responses=_OBJECT)
def read_run(run_id: RunId, session: SessionDep, reader: Reader) -> dict[str, Any]:
    """Return the run's parameters, versions, counts and headline shares."""
    return queries.run_dict(queries.get_run(session, run_id))


@router.delete(
    "/runs/{run_id}",
    summary="Delete a run with its results, statistics, isochrones and gaps",
    status_code=204,
    response_class=Response,
)
def delete_run(run_id: RunId, session: SessionDep, runner: Runner) -> Response:
    """Remove the run; its results' partition is dropped, so the space is free at once."""
    queries.delete_run(session, run_id)
    return Response(status_code=204)


@router.get(
    "/runs/{run_id}/buildings",
    summary="Per-building results as GeoJSON (paged)",
    responses={200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}},
    response_class=Response,
)
def building_results(
    run_id: RunId,
    session: SessionDep,
    reader: Reader,
    category: Category = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Walking/straight-line distance, nearest facility and circle flags per building."""
    body = queries.building_results(
        session, run_id, reader, category=category, limit=limit, offset=offset
    )
    return _geojson(body)


@router.get(
    "/runs/{run_id}/buildings.csv",
    summary="Per-building results as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def building_results_csv(
    run_id: RunId, session: SessionDep, reader: Reader, category: Category = None
) -> Response:
    """Every result row of the run in the caller's scope."""
    text = queries.building_results_csv(session, run_id, reader, category=category)
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="coverage-{run_id}.csv"'},
    )


@router.get(
    "/runs/{run_id}/stats", summary="Coverage per grid, community or street", responses=_OBJECT
)
def area_stats(
    run_id: RunId,
    session: SessionDep,
    settings: SettingsDep,
    reader: Reader,
    level: Literal["grid", "community", "street"] = "street",
    category: Category = None,
) -> dict[str, Any]:
    """Residents and dwellings within each category's circle; completeness rows have no category."""
    rows = queries.area_stats(
        session,
        run_id,
        reader,
        level=level,
        category=category,
        small_cell_min=settings.resident_small_cell_min,
    )
    return {"run_id": run_id, "level": level, "numberReturned": len(rows), "areas": rows}


@router.get(
    "/runs/{run_id}/isochrones",
    summary="Isochrones (network) and Euclidean discs as GeoJSON",
    responses={200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}},
    response_class=Response,
)
def isochrones(
    run_id: RunId,
    session: SessionDep,
    reader: Reader,
    bbox: BBoxDep,
    category: Category = None,
    method: Literal["network", "euclid"] | None = None,
    minutes: Annotated[int | None, Query(ge=1, le=60)] = None,
    facility_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Response:
    """Reached area per facility and circle, with the straight-line disc of the same radius."""
    body = queries.isochrone_features(
        session,
        run_id,
        category=category,
        method=method,
        minutes=minutes,
        facility_id=facility_id,
        bbox=bbox,
        limit=limit,
        offset=offset,
    )
    return _geojson(body)


@router.get(
    "/runs/{run_id}/gaps",
    summary="Uncovered residents: polygons and per-grid counts",
    responses=_OBJECT,
)
def gaps(
    run_id: RunId,
    session: SessionDep,
    settings: SettingsDep,
    reader: Reader,
    category: Category = None,
) -> dict[str, Any]:
    """Gap polygons per category and uncovered residents per grid cell."""
    per_grid = queries.gap_counts_per_grid(
        session, run_id, reader, small_cell_min=settings.resident_small_cell_min
    )
    if category is not None:
        per_grid = [row for row in per_grid if row["category"] == category]
    return {
        "run_id": run_id,
        "polygons": queries.gap_features(session, run_id, category=category),
        "per_grid": per_grid,
    }


@router.post("/runs/{run_id}/sites", summary="Greedy choice of k new sites", responses=_OBJECT)
def sites(run_id: RunId, body: SiteRequest, session: SessionDep, runner: Runner) -> dict[str, Any]:
    """Pick ``k`` sites adding the most residents within the category's circle, in order."""
    points = None
    if body.candidates is not None:
        xy = np.asarray(body.candidates, dtype=np.float64).reshape(-1, 2)
        points = np.asarray(shapely.points(xy), dtype=object)
    report = site_facilities(
        session, run_id, category=body.category, k=body.k, candidate_points=points
    )
    return report.to_dict()


def _geojson(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/geo+json")
