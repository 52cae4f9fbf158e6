"""Reading stored coverage runs: runs, per-building results, area statistics, isochrones, gaps.

Every function takes the caller's ``Principal`` where rows belong to places: per-building rows
and area rows are limited to its scope in SQL, and callers without the right to read people get
resident counts of small groups suppressed (``None``), as for the resident register.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, func, select, true
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.coverage.outputs import LEVELS
from gis.coverage.store import CoverageGap, CoverageResult, CoverageRun, CoverageStat, Isochrone
from gis.coverage.writer import drop_run
from gis.errors import CoverageInputError, NotFoundError
from gis.layers.buildings import Building

_RESIDENT_FIGURES = (
    "residents",
    "dwellings",
    "residents_within",
    "dwellings_within",
    "residents_within_euclid",
    "dwellings_within_euclid",
    "residents_all",
    "dwellings_all",
)


def get_run(session: Session, run_id: int) -> CoverageRun:
    """Return the run, or raise NotFoundError."""
    run = session.get(CoverageRun, run_id)
    if run is None:
        raise NotFoundError("coverage run", run_id)
    return run


def delete_run(session: Session, run_id: int) -> None:
    """Delete the run and all its results, statistics, isochrones and gaps (NotFoundError)."""
    session.expunge(get_run(session, run_id))  # the row goes by SQL: keep no stale object
    drop_run(session, run_id)


def run_dict(run: CoverageRun, *, summary: bool = True) -> dict[str, Any]:
    """Return a JSON-ready description of a run."""
    out: dict[str, Any] = {
        "id": run.id,
        "network": run.network,
        "network_version": run.network_version,
        "input_version": run.input_version,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "created_by": run.created_by,
        "params": run.params,
    }
    if summary:
        out["summary"] = run.summary
    return out


def list_runs(session: Session, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Return runs, newest first, without their full summaries."""
    runs = session.scalars(
        select(CoverageRun).order_by(CoverageRun.id.desc()).limit(limit).offset(offset)
    ).all()
    return [run_dict(r, summary=False) for r in runs]


def _result_rows(
    run_id: int, principal: Principal, *, category: str | None, with_residents: bool
) -> Select[Any]:
    columns: list[Any] = [
        CoverageResult.building_id,
        CoverageResult.category,
        CoverageResult.walk_m,
        CoverageResult.walk_min,
        CoverageResult.euclid_m,
        CoverageResult.facility_id,
        CoverageResult.circle_m,
        CoverageResult.covered,
        CoverageResult.euclid_covered,
        CoverageResult.snap_m,
        Building.street_code,
        Building.grid_code,
        func.ST_X(Building.anchor).label("lon"),
        func.ST_Y(Building.anchor).label("lat"),
    ]
    if with_residents:
        columns += [Building.residents, Building.dwellings]
    stmt = (
        select(*columns)
        .join(Building, Building.id == CoverageResult.building_id)
        .outerjoin(Building.membership)
        .where(
            CoverageResult.run_id == run_id,
            principal.scope_clause(Building.street_code.expression, Building.grid_code.expression),
        )
        .order_by(CoverageResult.building_id, CoverageResult.category)
    )
    if category is not None:
        stmt = stmt.where(CoverageResult.category == category)
    return stmt


def building_results(
    session: Session,
    run_id: int,
    principal: Principal,
    *,
    category: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Return one page of per-building results as a GeoJSON FeatureCollection (anchor points).

    Residents and dwellings of each building are included only for principals that may read
    people; everyone else gets distances and flags.
    """
    get_run(session, run_id)
    with_residents = principal.can(Permission.READ_PEOPLE)
    stmt = _result_rows(run_id, principal, category=category, with_residents=with_residents)
    rows = session.execute(stmt.limit(limit + 1).offset(offset)).mappings().all()
    more = len(rows) > limit
    features = []
    for row in rows[:limit]:
        props = {k: v for k, v in row.items() if k not in {"lon", "lat"}}
        features.append(
            {
                "type": "Feature",
                "id": f"{row['building_id']}/{row['category']}",
                "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                "properties": props,
            }
        )
    return {
        "type": "FeatureCollection",
        "numberReturned": len(features),
        "offset": offset,
        "next_offset": offset + limit if more else None,
        "features": features,
    }


def building_results_csv(
    session: Session, run_id: int, principal: Principal, *, category: str | None = None
) -> str:
    """Return every per-building result row of the run (in scope) as CSV text."""
    get_run(session, run_id)
    with_residents = principal.can(Permission.READ_PEOPLE)
    stmt = _result_rows(run_id, principal, category=category, with_residents=with_residents)
    result = session.execute(stmt)
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def _stat_scope(principal: Principal, level: str) -> ColumnElement[bool]:
    grid_code = CoverageStat.code.expression if level == "grid" else None
    return principal.scope_clause(CoverageStat.street_code.expression, grid_code)


def area_stats(
    session: Session,
    run_id: int,
    principal: Principal,
    *,
    level: str = "street",
    category: str | None = None,
    completeness: bool | None = None,
    small_cell_min: int = 5,
) -> list[dict[str, Any]]:
    """Return the stored statistics of one level (``grid``, ``community`` or ``street``).

    Parameters
    ----------
    category : str, optional
        Only this category's rows.
    completeness : bool, optional
        True: only the completeness rows (``category`` None); False: only category rows.
    small_cell_min : int
        For principals who may not read people, resident and dwelling figures of areas with
        fewer residents than this are returned as None (small-cell suppression).
    """
    if level not in LEVELS:
        raise CoverageInputError(f"level must be one of {list(LEVELS)}, got {level!r}")
    get_run(session, run_id)
    condition: ColumnElement[bool] = true()
    if category is not None:
        condition = and_(condition, CoverageStat.category == category)
    if completeness is True:
        condition = and_(condition, CoverageStat.category.is_(None))
    elif completeness is False:
        condition = and_(condition, CoverageStat.category.is_not(None))
    rows = session.scalars(
        select(CoverageStat)
        .where(
            CoverageStat.run_id == run_id,
            CoverageStat.level == level,
            condition,
            _stat_scope(principal, level),
        )
        .order_by(CoverageStat.code.nulls_last(), CoverageStat.category.nulls_first())
    ).all()
    suppress = not principal.can(Permission.READ_PEOPLE)
    out = []
    for row in rows:
        item = {
            column.name: getattr(row, column.name)
            for column in CoverageStat.__table__.columns
            if column.name not in {"id", "run_id"}
        }
        residents = float(item["residents"] or 0)
        item["share"] = (
            item["residents_within"] / residents
            if residents > 0 and item["residents_within"] is not None
            else None
        )
        item["share_euclid"] = (
            item["residents_within_euclid"] / residents
            if residents > 0 and item["residents_within_euclid"] is not None
            else None
        )
        if suppress and residents < small_cell_min:
            for key in (*_RESIDENT_FIGURES, "share", "share_euclid", "share_all"):
                item[key] = None
            item["suppressed"] = True
        out.append(item)
    return out


def report_table(session: Session, run_id: int, *, level: str = "street") -> pd.DataFrame:
    """Return one row per area: residents, completeness, share with all, share per category."""
    rows = area_stats(session, run_id, Principal.system("report"), level=level)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    complete = frame[frame["category"].isna()].set_index("code", drop=False)
    shares = (
        frame[frame["category"].notna()]
        .pivot_table(index="code", columns="category", values="share", dropna=False)
        .reindex(complete.index)
    )
    table = complete[["code", "residents", "mean_completeness", "share_all", "meets_target"]]
    return pd.concat([table, shares], axis=1).reset_index(drop=True)


def isochrone_features(
    session: Session,
    run_id: int,
    *,
    category: str | None = None,
    method: str | None = None,
    minutes: int | None = None,
    facility_id: int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Return stored isochrones (network) and discs (euclid) as a GeoJSON FeatureCollection."""
    get_run(session, run_id)
    stmt = select(
        Isochrone.id,
        Isochrone.facility_id,
        Isochrone.category,
        Isochrone.minutes,
        Isochrone.method,
        func.ST_AsGeoJSON(Isochrone.geom, 7).label("geojson"),
    ).where(Isochrone.run_id == run_id)
    if category is not None:
        stmt = stmt.where(Isochrone.category == category)
    if method is not None:
        stmt = stmt.where(Isochrone.method == method)
    if minutes is not None:
        stmt = stmt.where(Isochrone.minutes == minutes)
    if facility_id is not None:
        stmt = stmt.where(Isochrone.facility_id == facility_id)
    if bbox is not None:
        stmt = stmt.where(Isochrone.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    rows = session.execute(stmt.order_by(Isochrone.id).limit(limit).offset(offset)).all()
    return _collection(
        [
            {
                "type": "Feature",
                "id": r.id,
                "geometry": json.loads(r.geojson),
                "properties": {
                    "facility_id": r.facility_id,
                    "category": r.category,
                    "minutes": r.minutes,
                    "method": r.method,
                },
            }
            for r in rows
        ]
    )


def gap_features(session: Session, run_id: int, *, category: str | None = None) -> dict[str, Any]:
    """Return the gap polygons (uncovered residents per category) as GeoJSON."""
    get_run(session, run_id)
    stmt = select(
        CoverageGap.category,
        CoverageGap.buildings,
        CoverageGap.residents,
        func.ST_AsGeoJSON(CoverageGap.geom, 7).label("geojson"),
    ).where(CoverageGap.run_id == run_id)
    if category is not None:
        stmt = stmt.where(CoverageGap.category == category)
    rows = session.execute(stmt.order_by(CoverageGap.category)).all()
    return _collection(
        [
            {
                "type": "Feature",
                "id": r.category,
                "geometry": json.loads(r.geojson),
                "properties": {
                    "category": r.category,
                    "buildings": r.buildings,
                    "residents": r.residents,
                },
            }
            for r in rows
        ]
    )


def gap_counts_per_grid(
    session: Session, run_id: int, principal: Principal, *, small_cell_min: int = 5
) -> list[dict[str, Any]]:
    """Return uncovered residents per grid cell and category (suppressed as in area_stats)."""
    rows = area_stats(
        session,
        run_id,
        principal,
        level="grid",
        completeness=False,
        small_cell_min=small_cell_min,
    )
    return [
        {
            "grid_code": r["code"],
            "category": r["category"],
            "residents_uncovered": (
                None if r["residents"] is None else r["residents"] - r["residents_within"]
            ),
        }
        for r in rows
    ]


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "numberReturned": len(features), "features": features}
