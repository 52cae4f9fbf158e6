"""A coverage run on the database: network + buildings + facilities in, every result out.

``run_coverage`` loads the stored walking network (CSR graph), the buildings with their
residents and the facilities of the checklist categories, snaps them to the network (reporting
what lies farther than the snapping limit), runs one bounded multi-source Dijkstra per
category, and writes back with COPY: per-building results, isochrones beside Euclidean discs,
statistics per grid cell, community and street, and gap polygons. The ``coverage_run`` row
records the parameters, the network version and a hash of the inputs, so a run can be repeated
(``rerun_coverage``) and its results compared.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from gis.coverage.context import CoverageParams, Progress, RunContext, category_circles, quiet
from gis.coverage.inputs import PopulationSource, input_version, load_buildings, load_facilities
from gis.coverage.outputs import run_summary, store_isochrones, store_statistics
from gis.coverage.reach import euclidean_nearest, reach_all
from gis.coverage.stats import gap_polygons
from gis.coverage.store import CoverageRun
from gis.coverage.writer import write_gaps, write_results
from gis.errors import ConflictError, CoverageInputError, NotFoundError
from gis.layers.checklist import default_checklist, load_checklist
from gis.network.service import load_walk_graph
from gis.network.snapping import snap_points


def prepare_run(
    session: Session, params: CoverageParams, *, progress: Progress = quiet
) -> RunContext:
    """Load the network, buildings and facilities and snap them (no writes).

    Raises
    ------
    NotFoundError
        The network does not exist.
    CoverageInputError
        A parameter or category is unusable, or there are no buildings.
    """
    params.validate()
    checklist = load_checklist(Path(params.checklist)) if params.checklist else default_checklist()
    circle_m = category_circles(params, checklist)
    progress("load network", 0, 1)
    loaded = load_walk_graph(session, params.network)
    progress("load network", 1, 1)
    progress("load buildings and facilities", 0, 1)
    buildings = load_buildings(
        session,
        population=PopulationSource(params.population),
        street_codes=params.street_codes or None,
    )
    if len(buildings) == 0:
        where = f" in {list(params.street_codes)}" if params.street_codes else ""
        raise CoverageInputError(f"there are no buildings{where} to compute coverage for")
    facilities = load_facilities(session, list(circle_m))
    progress("load buildings and facilities", 1, 1)
    graph = loaded.graph
    progress("snap", 0, 2)
    building_snaps = snap_points(
        graph, graph.to_metric(buildings.points), max_distance_m=params.max_snap_m
    )
    progress("snap", 1, 2)
    all_facilities = snap_points(
        graph, graph.to_metric(facilities.points), max_distance_m=params.max_snap_m
    )
    progress("snap", 2, 2)
    facility_snaps = {c: all_facilities.take(facilities.of(c)) for c in circle_m}
    return RunContext(
        params=params,
        checklist=checklist,
        graph=graph,
        network_version=loaded.version,
        buildings=buildings,
        facilities=facilities,
        building_snaps=building_snaps,
        facility_snaps=facility_snaps,
        circle_m=circle_m,
    )


def compute_reach(ctx: RunContext, *, progress: Progress = quiet) -> None:
    """Fill ``ctx`` with network and Euclidean nearest-facility distances per category."""
    budget = {c: max(ctx.params.budget_m, r) for c, r in ctx.circle_m.items()}
    metric_buildings = ctx.graph.to_metric(ctx.buildings.points)
    metric_facilities = ctx.graph.to_metric(ctx.facilities.points)
    total = len(ctx.circle_m)
    for done, category in enumerate(ctx.circle_m):
        progress("reach", done, total)
        reach = reach_all(
            ctx.graph,
            {category: ctx.facility_snaps[category]},
            ctx.building_snaps,
            budget_m=budget[category],
            speed_m_per_min=ctx.params.speed_m_per_min,
        )[category]
        own = ctx.facilities.of(category)
        ctx.walk_m[category] = reach.distance_m
        ids = np.full(len(ctx.buildings), -1, dtype=np.int64)
        found = reach.facility >= 0
        ids[found] = ctx.facilities.ids[own][reach.facility[found]]
        ctx.facility_of[category] = ids
        ctx.euclid_m[category] = euclidean_nearest(
            metric_facilities[own], metric_buildings, max_distance_m=budget[category]
        )[0]
    progress("reach", total, total)


def run_coverage(
    session: Session,
    params: CoverageParams,
    *,
    created_by: str | None = None,
    progress: Progress = quiet,
) -> CoverageRun:
    """Run coverage on the database and record it; return the ``coverage_run`` row.

    Everything is written in the caller's transaction: a failure leaves no partial run.
    """
    started = datetime.now(UTC)
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    ctx = prepare_run(session, params, progress=progress)
    lap("load and snap")
    compute_reach(ctx, progress=progress)
    lap("reach")
    run = CoverageRun(
        network=params.network,
        network_version=ctx.network_version,
        input_version=input_version(ctx.buildings, ctx.facilities),
        params=params.to_dict(),
        summary={},
        started_at=started,
        created_by=created_by,
    )
    session.add(run)
    session.flush()
    progress("write results", 0, 1)
    rows = write_results(
        session,
        run.id,
        building_ids=ctx.buildings.ids,
        snap_m=ctx.building_snaps.distance_m,
        walk_m=ctx.walk_m,
        facility_id=ctx.facility_of,
        euclid_m=ctx.euclid_m,
        circle_m=ctx.circle_m,
        speed_m_per_min=params.speed_m_per_min,
    )
    progress("write results", 1, 1)
    lap("write results")
    iso_rows = store_isochrones(session, run.id, ctx, progress=progress) if params.isochrones else 0
    lap("isochrones")
    progress("statistics", 0, 1)
    stat_rows = store_statistics(session, run.id, ctx)
    gaps = gap_polygons(
        ctx.graph.to_metric(ctx.buildings.points),
        ctx.walk_m,
        circle_m=ctx.circle_m,
        residents=ctx.buildings.residents,
        crs=ctx.graph.crs,
        cell_m=params.gap_cell_m,
    )
    gaps = gaps.set_geometry(ctx.graph.to_geographic(gaps.geometry.to_numpy()), crs=4326)
    write_gaps(session, run.id, gaps)
    progress("statistics", 1, 1)
    lap("statistics and gaps")
    run.summary = run_summary(ctx, result_rows=rows, isochrone_rows=iso_rows, stat_rows=stat_rows)
    run.summary["timings_s"] = timings
    run.finished_at = datetime.now(UTC)
    session.flush()
    return run


def rerun_coverage(
    session: Session, run_id: int, *, created_by: str | None = None, progress: Progress = quiet
) -> CoverageRun:
    """Repeat a stored run with its parameters; refuse if the network has changed since.

    Raises
    ------
    ConflictError
        The stored network's version differs from the run's (its results would differ).
    """
    old = session.get(CoverageRun, run_id)
    if old is None:
        raise NotFoundError("coverage run", run_id)
    params = CoverageParams.from_dict(old.params)
    current = load_walk_graph(session, params.network).version
    if current != old.network_version:
        raise ConflictError(
            f"coverage run {run_id} used network {params.network!r} version "
            f"{old.network_version}, but the stored network is now version {current}"
        )
    return run_coverage(session, params, created_by=created_by or old.created_by, progress=progress)
