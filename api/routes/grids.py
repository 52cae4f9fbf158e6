"""Grid plans and cells: generate, edit, validate, activate, roll back, history, export.

Reading needs READ_GRIDS, changing a plan WRITE_GRIDS; both are limited to the streets in the
caller's division scope. Edits name the version they were made on (``base_version``): a plan
changed meanwhile is a 409 problem, never a silent overwrite.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from shapely.geometry import LineString

from api.auth import requires
from api.deps import SessionDep
from api.params import DB_INT_MAX
from gis.auth import Permission, PermissionDeniedError, Principal
from gis.gridding.export import export_bytes
from gis.gridding.generate import GridOptions, generate_plan
from gis.gridding.models import GridPlan
from gis.gridding.service import Edit, activate, edit_plan, rollback, validate
from gis.gridding.store import get_plan, history, plan_geojson

router = APIRouter(tags=["grids"])

Reader = Annotated[Principal, Depends(requires(Permission.READ_GRIDS))]
Writer = Annotated[Principal, Depends(requires(Permission.WRITE_GRIDS))]
StreetCode = Annotated[str, Path(pattern=r"^\d{9}$", description="9-digit street code")]
PlanId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="grid plan id")]
Version = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
GridCode = Annotated[str, Field(pattern=r"^\d{14,15}$")]
LonLat = Annotated[list[float], Field(min_length=2, max_length=2)]
Households = Annotated[int, Field(ge=0, le=100_000)]


class GenerateRequest(BaseModel):
    """How to grid the street (defaults: household-balanced, 300-500, 15-digit codes)."""

    method: Literal["balanced", "square", "hexagon"] = "balanced"
    band: tuple[Households, Households] = (300, 500)
    cell_size_m: float | None = Field(default=None, gt=0, le=10_000)
    width: Literal[2, 3] = 3
    seed: int = Field(default=0, ge=0, le=DB_INT_MAX)
    reason: str | None = Field(default=None, max_length=500)


class EditRequest(BaseModel):
    """One edit; ``line`` is EPSG:4326 ``[[lon, lat], ...]``."""

    kind: Literal["split", "merge", "move_building", "redraw_edge", "rebalance"]
    base_version: Version
    reason: str = Field(min_length=1, max_length=500)
    codes: list[GridCode] = Field(default_factory=list, max_length=50)
    line: list[LonLat] | None = Field(default=None, min_length=2, max_length=1000)
    building_id: int | None = Field(default=None, ge=1)
    to_code: GridCode | None = None


class RollbackRequest(BaseModel):
    """Save ``version`` again as the newest version, on top of ``base_version``."""

    version: Version
    base_version: Version
    reason: str = Field(min_length=1, max_length=500)


def _summary(plan: GridPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "street_code": plan.street_code,
        "version": plan.version,
        "parent_version": plan.parent_version,
        "status": plan.status,
        "method": plan.method,
        "created_by": plan.created_by,
        "reason": plan.reason,
        "created_at": plan.created_at,
        "activated_at": plan.activated_at,
        "params": plan.params,
        "report": plan.report,
    }


def _check_street(principal: Principal, street_code: str) -> None:
    if not principal.covers(street_code, None):
        raise PermissionDeniedError(
            f"{principal.username} may not work on street {street_code}: outside their scope"
        )


def _plan_in_scope(session: SessionDep, principal: Principal, plan_id: int) -> GridPlan:
    plan = get_plan(session, plan_id)
    _check_street(principal, plan.street_code)
    return plan


@router.post(
    "/streets/{street_code}/grid-plans",
    status_code=201,
    summary="Generate a draft grid plan for a street",
)
def generate(
    street_code: StreetCode, body: GenerateRequest, session: SessionDep, principal: Writer
) -> dict[str, Any]:
    """Grid the street (balanced or regular) and store the cells as its next draft version."""
    _check_street(principal, street_code)
    options = GridOptions(
        method=body.method,
        band=body.band,
        cell_size_m=body.cell_size_m,
        width=body.width,
        seed=body.seed,
    )
    result = generate_plan(
        session, street_code, options=options, actor=principal.username, reason=body.reason
    )
    return _summary(result.plan)


@router.get("/streets/{street_code}/grid-plans", summary="Every version of a street's plan")
def plan_history(street_code: StreetCode, session: SessionDep, principal: Reader) -> list[Any]:
    """Return the versions, newest first, with who, why and how many cells."""
    _check_street(principal, street_code)
    return history(session, street_code)


@router.get("/grid-plans/{plan_id}", summary="One plan version with its report")
def read_plan(plan_id: PlanId, session: SessionDep, principal: Reader) -> dict[str, Any]:
    """Return the plan's status, parameters and generation/edit report."""
    return _summary(_plan_in_scope(session, principal, plan_id))


@router.get(
    "/grid-plans/{plan_id}/cells",
    summary="A plan's cells as GeoJSON",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def plan_cells(plan_id: PlanId, session: SessionDep, principal: Reader) -> Response:
    """Return the cells (EPSG:4326) with code, households, compactness, road share..."""
    _plan_in_scope(session, principal, plan_id)
    import orjson

    return Response(orjson.dumps(plan_geojson(session, plan_id)), media_type="application/geo+json")


@router.get(
    "/grid-plans/{plan_id}/export",
    summary="Download a plan's cells as GeoPackage or GeoJSON",
    responses={200: {"content": {"application/geopackage+sqlite3": {}}}},
)
def export(
    plan_id: PlanId,
    session: SessionDep,
    principal: Reader,
    format: Annotated[Literal["gpkg", "geojson"], Query()] = "gpkg",
) -> Response:
    """Return the cells with all attributes as a file."""
    plan = _plan_in_scope(session, principal, plan_id)
    media = {"gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json"}
    name = f"grid-{plan.street_code}-v{plan.version}.{format}"
    return Response(
        export_bytes(session, plan_id, f".{format}"),
        media_type=media[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/grid-plans/{plan_id}/validate", summary="Validate a plan")
def validate_plan(plan_id: PlanId, session: SessionDep, principal: Reader) -> dict[str, Any]:
    """Check polygons, exact tiling, communities, cut buildings and the household band."""
    _plan_in_scope(session, principal, plan_id)
    return validate(session, plan_id).to_dict()


@router.post("/grid-plans/{plan_id}/activate", summary="Validate and activate a plan")
def activate_plan(plan_id: PlanId, session: SessionDep, principal: Writer) -> dict[str, Any]:
    """Make the plan the street's active one (the previous is archived); refresh membership."""
    _plan_in_scope(session, principal, plan_id)
    report = activate(session, plan_id, principal=principal)
    return {**_summary(get_plan(session, plan_id)), "validation": report.to_dict()}


@router.post(
    "/grid-plans/{plan_id}/edits",
    status_code=201,
    summary="Edit a plan (the result is the street's next version)",
)
def edit(
    plan_id: PlanId, body: EditRequest, session: SessionDep, principal: Writer
) -> dict[str, Any]:
    """Split, merge, move a building, redraw an edge or rebalance out-of-band cells."""
    _plan_in_scope(session, principal, plan_id)
    change = Edit(
        kind=body.kind,
        codes=list(body.codes),
        line=LineString(body.line) if body.line else None,
        building_id=body.building_id,
        to_code=body.to_code,
    )
    plan = edit_plan(
        session,
        plan_id,
        change,
        principal=principal,
        reason=body.reason,
        base_version=body.base_version,
    )
    return _summary(plan)


@router.post(
    "/streets/{street_code}/grid-plans/rollback",
    status_code=201,
    summary="Save an earlier version as the newest version",
)
def roll_back(
    street_code: StreetCode, body: RollbackRequest, session: SessionDep, principal: Writer
) -> dict[str, Any]:
    """Copy the cells of ``version`` into a new draft version on top of ``base_version``."""
    _check_street(principal, street_code)
    plan = rollback(
        session,
        street_code,
        body.version,
        principal=principal,
        reason=body.reason,
        base_version=body.base_version,
    )
    return _summary(plan)
