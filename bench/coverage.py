"""Benchmark the 15-minute coverage engine (issue 5).

Default run: the real Dongcheng + Xicheng network (osmnx GeoPackage, clipped to the two
district outlines), synthetic buildings and 12 facility categories. Times the full pure run
(snapping, reachability for all categories, isochrones for every facility and circle, Euclidean
figures, statistics, gaps) and checks every building's distance against networkx over the same
snapped graph (must agree within 1 m); siting greedy vs an exact ILP.

    .venv/bin/python bench/coverage.py                 # Dongcheng + Xicheng
    .venv/bin/python bench/coverage.py --scale         # 1M nodes / 1M buildings synthetic city
    .venv/bin/python bench/coverage.py --database-url postgresql://...   # another server
    .venv/bin/python bench/coverage.py --no-db          # pure engine only

Unless ``--no-db``, the same run is compared with pgRouting (``pgr_drivingDistance`` from all
facilities, ``equicost => false``, minimum per node) on the same graph in a scratch database,
and repeated end to end through PostGIS (COPY in, ``run_coverage``, COPY out).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis.coverage import (
    circle_distance_m,
    completeness_table,
    coverage_table,
    euclidean_buffers,
    euclidean_nearest,
    exact_max_coverage,
    gap_counts,
    gap_polygons,
    greedy_from_matrix,
    isochrone_polygons,
    node_distances,
    reach_all,
)
from gis.coverage.siting import coverage_matrix
from gis.network import WalkGraph, build_walk_graph, read_network_gpkg, snap_points
from gis.network.snapping import Snap, snap_to_nodes

REAL = Path("/work/shared/data/real/beijing")
REPEATS = 5  # timings of the sub-second nearest-facility comparisons: median of this many
SEED = 20240314

# name: (circle minutes, facilities per 100,000 residents); the checklist is configurable
CATEGORIES: dict[str, tuple[float, float]] = {
    "kindergarten": (5, 8.0),
    "elderly_day_care": (5, 6.0),
    "convenience_store": (5, 25.0),
    "public_toilet": (5, 15.0),
    "primary_school": (10, 4.0),
    "supermarket": (10, 6.0),
    "farmers_market": (10, 3.0),
    "pharmacy": (10, 8.0),
    "community_health": (15, 2.0),
    "community_service": (15, 2.0),
    "middle_school": (15, 2.5),
    "sports_ground": (15, 2.0),
}

TIMES: dict[str, float] = {}
ISO_LABEL = "isochrones (every facility, its category's circle)"


@contextmanager
def timed(label: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    TIMES[label] = time.perf_counter() - start
    print(f"  .. {label}: {TIMES[label]:.3f} s", file=sys.stderr, flush=True)


def median_seconds(step: Callable[[], object], repeats: int = REPEATS) -> float:
    """Run ``step`` ``repeats`` times; return the median wall time (sub-second steps are noisy)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# ----------------------------------------------------------------------------------------------
# inputs


def dongcheng_xicheng_graph() -> tuple[WalkGraph, Any, Any, Any]:
    tables = read_network_gpkg(REAL / "network" / "beijing_inner_drive_osm2024.gpkg")
    outline = pd.concat(
        gpd.read_file(REAL / "districts" / f"{n}-outline.geojson") for n in ("dongcheng", "xicheng")
    ).to_crs(4326)
    area = shapely.union_all(outline.geometry.to_numpy())
    # keep every street touching the districts: walks may cross the boundary and back
    edges = tables.edges[shapely.intersects(tables.edges.geometry.to_numpy(), area)]
    streets = pd.concat(
        [
            gpd.read_file(REAL / "subdistricts" / f"{n}-all.geojson")
            for n in ("dongcheng", "xicheng")
        ],
        ignore_index=True,
    )
    edges = edges.reset_index(drop=True)
    return build_walk_graph(edges), area, streets, edges


def synthetic_buildings(
    graph: WalkGraph, n: int, rng: np.random.Generator, *, max_dwellings: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points 5-60 m beside random network positions (length-weighted); residents, dwellings.

    Independent of ``gridgis synth`` (which needs street boundaries and a database) so the
    same generator serves the real network and the 1M-node lattice; fixed seed.
    """
    weight = graph.edge_length_m / graph.edge_length_m.sum()
    edge = rng.choice(graph.edge_count, size=n, p=weight)
    along = rng.uniform(0, 1, n)
    lines = graph.edge_geometry[edge]
    on = shapely.get_coordinates(shapely.line_interpolate_point(lines, along, normalized=True))
    ahead = shapely.get_coordinates(
        shapely.line_interpolate_point(lines, np.minimum(along + 0.01, 1), normalized=True)
    )
    direction = ahead - on
    norm = np.hypot(*direction.T)
    norm[norm == 0] = 1
    normal = np.column_stack([-direction[:, 1], direction[:, 0]]) / norm[:, None]
    side = rng.choice([-1.0, 1.0], n) * rng.uniform(5, 60, n)
    xy = on + normal * side[:, None]
    dwellings = rng.integers(2, max_dwellings, n).astype(float)
    residents = np.round(dwellings * rng.uniform(1.8, 3.0, n))
    return np.asarray(shapely.points(xy), dtype=object), residents, dwellings


def synthetic_facilities(
    points: np.ndarray, residents: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Facilities sit in random buildings (resident-weighted), per category density."""
    total = residents.sum()
    out = {}
    for name, (_, per_100k) in CATEGORIES.items():
        count = max(3, round(total / 100_000 * per_100k))
        out[name] = rng.choice(len(points), size=count, replace=False, p=residents / total)
    return out


def lattice_graph(side: int, rng: np.random.Generator, spacing_m: float = 80.0) -> WalkGraph:
    """A perturbed ``side x side`` lattice in EPSG:4548 with 8 % of links removed."""
    i, j = np.divmod(np.arange(side * side), side)
    xy = np.column_stack([i, j]) * spacing_m + rng.normal(0, spacing_m * 0.15, (side * side, 2))
    xy += (400_000.0, 4_400_000.0)
    right = np.flatnonzero(j < side - 1)
    up = np.flatnonzero(i < side - 1)
    u = np.concatenate([right, up])
    v = np.concatenate([right + 1, up + side])
    keep = rng.random(len(u)) > 0.08
    u, v = u[keep], v[keep]
    lines = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    edges = gpd.GeoDataFrame(
        {"u": u.astype(np.int64), "v": v.astype(np.int64), "length_m": shapely.length(lines)},
        geometry=gpd.GeoSeries(lines, crs="EPSG:4548"),
    )
    return build_walk_graph(edges)


# ----------------------------------------------------------------------------------------------
# the run


def full_run(
    graph: WalkGraph,
    points: np.ndarray,
    residents: np.ndarray,
    dwellings: np.ndarray,
    facilities: dict[str, np.ndarray],
    cell: np.ndarray,
    street: np.ndarray | None,
    *,
    isochrones: bool = True,
    gap_cell_m: float = 100.0,
) -> dict[str, Any]:
    circle_m = {c: circle_distance_m(m) for c, (m, _) in CATEGORIES.items()}
    with timed("snap buildings"):
        buildings = snap_points(graph, points)
    facility_snaps: dict[str, Snap] = {}
    with timed("snap facilities"):
        for name, idx in facilities.items():
            facility_snaps[name] = buildings.take(idx)
    with timed("reach (12 categories)"):
        reach = reach_all(graph, facility_snaps, buildings, budget_m=1000.0)
    with timed("euclidean nearest"):
        euclid = {
            name: euclidean_nearest(points[idx], points, max_distance_m=1000.0)[0]
            for name, idx in facilities.items()
        }
    iso_rows = 0
    if isochrones:
        with timed(ISO_LABEL):
            for name, snaps in facility_snaps.items():
                iso_rows += len(isochrone_polygons(graph, snaps, circles_m=[circle_m[name]]))
        with timed("euclidean buffers"):
            for name, idx in facilities.items():
                euclidean_buffers(points[idx], crs=graph.crs, circles_m=[circle_m[name]])
    network_m = {name: r.distance_m for name, r in reach.items()}
    with timed("statistics (cells, streets, completeness)"):
        per_cell = coverage_table(
            network_m,
            circle_m=circle_m,
            group=cell,
            residents=residents,
            dwellings=dwellings,
            euclidean_m=euclid,
        )
        complete_cell = completeness_table(
            network_m, circle_m=circle_m, group=cell, residents=residents, dwellings=dwellings
        )
        per_street = complete_street = None
        if street is not None:
            per_street = coverage_table(
                network_m,
                circle_m=circle_m,
                group=street,
                residents=residents,
                dwellings=dwellings,
                euclidean_m=euclid,
            )
            complete_street = completeness_table(
                network_m, circle_m=circle_m, group=street, residents=residents, dwellings=dwellings
            )
    with timed(f"gaps ({gap_cell_m:.0f} m grid polygons + per-cell counts)"):
        gaps = gap_polygons(
            points,
            network_m,
            circle_m=circle_m,
            residents=residents,
            crs=graph.crs,
            cell_m=gap_cell_m,
        )
        gap_counts(network_m, circle_m=circle_m, group=cell, residents=residents)
    return {
        "buildings": buildings,
        "facility_snaps": facility_snaps,
        "reach": reach,
        "euclid": euclid,
        "circle_m": circle_m,
        "per_cell": per_cell,
        "complete_cell": complete_cell,
        "per_street": per_street,
        "complete_street": complete_street,
        "gaps": gaps,
        "iso_rows": iso_rows,
    }


# ----------------------------------------------------------------------------------------------
# peers


def networkx_split_graph(graph: WalkGraph, marks: list[Snap]) -> tuple[nx.Graph, list[list[Any]]]:
    """The network with every snapped point inserted as a node (the reference 'snapped graph')."""
    g = nx.Graph()
    per_edge: dict[int, list[tuple[float, Any]]] = {}
    names: list[list[Any]] = []
    for k, snaps in enumerate(marks):
        labels: list[Any] = []
        for i in range(len(snaps)):
            label = (k, i)
            labels.append(label)
            if snaps.edge[i] >= 0:
                per_edge.setdefault(int(snaps.edge[i]), []).append((snaps.offset_m[i], label))
        names.append(labels)
    for e in range(graph.edge_count):
        u, v, length = int(graph.edge_u[e]), int(graph.edge_v[e]), float(graph.edge_length_m[e])
        chain = [(0.0, u), *sorted(per_edge.get(e, []), key=lambda m: m[0]), (length, v)]
        for (a, na), (b, nb) in pairwise(chain):
            if na == nb:
                continue
            w = b - a
            if g.has_edge(na, nb):
                w = min(w, g[na][nb]["weight"])
            g.add_edge(na, nb, weight=w)
    return g, names


def pgrouting_node_distances(
    engine: Any, graph: WalkGraph, facilities: Snap, *, budget_m: float, repeats: int = 1
) -> tuple[np.ndarray, float]:
    """Nearest-facility distance per node with pgRouting, on the same graph in the same DB.

    The graph's edges go into a temporary table (COPY); each facility's edge is split at its
    offset into two edges to a new vertex (``pgr_withPointsDD`` at fraction 0 returns only its
    start points, so the split is explicit); ``pgr_drivingDistance`` from all facility vertices
    with ``equicost => false``, then the minimum per node. Returns the distances (``inf``
    unreached) and the median seconds spent in the pgRouting query alone over ``repeats`` runs.
    """
    from sqlalchemy import text

    from gis.db import copy_rows

    kept = np.flatnonzero(facilities.snapped)
    n = graph.node_count
    e = facilities.edge[kept]
    t = facilities.offset_m[kept]
    fv = n + 1 + np.arange(len(kept))  # pgRouting vertex ids are node index + 1
    source = np.concatenate([graph.edge_u + 1, graph.edge_u[e] + 1, fv])
    target = np.concatenate([graph.edge_v + 1, fv, graph.edge_v[e] + 1])
    cost = np.concatenate([graph.edge_length_m, t, graph.edge_length_m[e] - t])
    frame = pd.DataFrame(
        {
            "id": np.arange(1, len(source) + 1),
            "source": source,
            "target": target,
            "cost": cost,
            "reverse_cost": cost,
        }
    )
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_pgr_edge"))
        conn.execute(
            text(
                "CREATE TABLE bench_pgr_edge (id bigint, source bigint, target bigint,"
                " cost float8, reverse_cost float8)"
            )
        )
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            copy_rows(session, "bench_pgr_edge", frame, list(frame.columns))
        query = text(
            "SELECT node, min(agg_cost) FROM pgr_drivingDistance("
            " 'SELECT id, source, target, cost, reverse_cost FROM bench_pgr_edge',"
            " CAST(:starts AS bigint[]), :budget, directed => false, equicost => false)"
            " GROUP BY node"
        )
        params = {"starts": fv.tolist(), "budget": float(budget_m)}
        elapsed = median_seconds(lambda: conn.execute(query, params).all(), repeats)
        rows = conn.execute(query, params).all()
        conn.execute(text("DROP TABLE bench_pgr_edge"))
    dist = np.full(n, np.inf)
    node = np.array([r[0] for r in rows], dtype=np.int64)
    agg = np.array([r[1] for r in rows], dtype=np.float64)
    on_graph = (node >= 1) & (node <= n)
    dist[node[on_graph] - 1] = agg[on_graph]
    return dist, elapsed


@contextmanager
def scratch_database(database_url: str | None) -> Iterator[Any]:
    """A fresh migrated database (PostGIS + pgRouting) on DATABASE_URL or the embedded cluster."""
    from gis.db import make_engine
    from gis.migrate import scratch_database as scratch
    from gis.postgis import server_url
    from gis.settings import Settings

    with scratch(server_url(Settings(database_url=database_url)), prefix="gridgis_bench") as url:
        engine = make_engine(url, statement_timeout_ms=None)
        try:
            yield engine
        finally:
            engine.dispose()


def db_run(
    engine: Any,
    graph: WalkGraph,
    edges: Any,
    points: np.ndarray,
    residents: np.ndarray,
    dwellings: np.ndarray,
    facilities: dict[str, np.ndarray],
    street: np.ndarray,
) -> dict[str, Any]:
    """The end-to-end database run: store network, buildings, facilities; run_coverage; timings.

    Synthetic facilities take checklist keys (the first 12), so the run uses the real
    checklist circles. Buildings are 10 m squares around the points, flagged synthetic.
    """
    from sqlalchemy.orm import Session

    from gis.coverage.context import CoverageParams
    from gis.coverage.service import run_coverage
    from gis.coverage.writer import as_multipolygons
    from gis.db import copy_rows, hex_ewkb
    from gis.layers.checklist import default_checklist
    from gis.network.edges import NetworkTables, node_table
    from gis.network.store import save_network

    keys = default_checklist().keys[: len(facilities)]
    lonlat = graph.to_geographic(points)
    squares = graph.to_geographic(shapely.buffer(points, 5.0, cap_style="square"))
    ids = np.unique(np.concatenate([edges["u"], edges["v"]]))
    ends = (
        pd.concat(
            [
                pd.DataFrame(
                    {"id": edges["u"], "g": shapely.get_point(edges.geometry.to_numpy(), 0)}
                ),
                pd.DataFrame(
                    {"id": edges["v"], "g": shapely.get_point(edges.geometry.to_numpy(), -1)}
                ),
            ]
        )
        .drop_duplicates("id")
        .set_index("id")
        .loc[ids]
    )
    xy = shapely.get_coordinates(ends["g"].to_numpy())
    tables = NetworkTables(edges=edges, nodes=node_table(ids, xy[:, 0], xy[:, 1]))
    times: dict[str, float] = {}
    with Session(engine) as session, session.begin():
        t0 = time.perf_counter()
        save_network(session, "dongcheng-xicheng", tables)
        b = pd.DataFrame(
            {
                "source": "bench",
                "source_id": np.arange(len(points)).astype(str),
                "synthetic": True,
                "dwellings": dwellings.astype(np.int64),
                "households": dwellings.astype(np.int64),
                "residents": residents.astype(np.int64),
                "dwellings_estimated": True,
                "street_code": street,
                "geom": hex_ewkb(as_multipolygons(squares)),
                "anchor": hex_ewkb(lonlat),
            }
        )
        copy_rows(session, "building", b, list(b.columns))
        cats = np.concatenate(
            [
                np.full(len(v), k, dtype=object)
                for k, v in zip(keys, facilities.values(), strict=True)
            ]
        )
        where = np.concatenate(list(facilities.values()))
        f = pd.DataFrame(
            {
                "source": "bench",
                "source_id": np.arange(len(where)).astype(str),
                "synthetic": True,
                "category": cats,
                "geom": hex_ewkb(lonlat[where]),
            }
        )
        copy_rows(session, "facility", f, list(f.columns))
        times["store network + buildings + facilities (COPY)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = run_coverage(session, CoverageParams(network="dongcheng-xicheng", categories=keys))
        times["DB run (load..write-back, all categories, isochrones)"] = time.perf_counter() - t0
        summary = dict(run.summary)
    return {"times": times, "summary": summary}


# ----------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, str]]) -> None:
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")


def real_benchmark(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(SEED)
    with timed("read + build graph"):
        graph, _, streets, edges = dongcheng_xicheng_graph()
    print(
        f"network: {graph.node_count:,} nodes, {graph.edge_count:,} edges, "
        f"{graph.edge_length_m.sum() / 1000:,.0f} km, fragments {graph.fragments.to_dict(top=3)}"
    )
    points, residents, dwellings = synthetic_buildings(graph, args.buildings, rng)
    facilities = synthetic_facilities(points, residents, rng)
    print(
        f"buildings: {len(points):,}, residents {residents.sum():,.0f}; facilities: "
        f"{sum(len(v) for v in facilities.values())} in {len(facilities)} categories"
    )
    xy = shapely.get_coordinates(points)
    cell = np.floor(xy[:, 0] / 250).astype(np.int64) * 100_000 + np.floor(xy[:, 1] / 250).astype(
        np.int64
    )
    street_poly = graph.to_metric(streets.to_crs(4326).geometry.to_numpy())
    tree = shapely.STRtree(street_poly)
    b_idx, s_idx = tree.query(points, predicate="within")
    street = np.full(len(points), "(outside)", dtype=object)
    street[b_idx] = streets["Name"].to_numpy()[s_idx]
    street_code = np.full(len(points), None, dtype=object)
    street_code[b_idx] = streets["code"].astype(str).str.slice(0, 9).to_numpy()[s_idx]

    start = time.perf_counter()
    run = full_run(graph, points, residents, dwellings, facilities, cell, street.astype(str))
    total = time.perf_counter() - start
    reach = run["reach"]

    # --- extra (not in the run): every facility x all three circles
    every = Snap(
        np.concatenate([s.edge for s in run["facility_snaps"].values()]),
        np.concatenate([s.offset_m for s in run["facility_snaps"].values()]),
        np.concatenate([s.distance_m for s in run["facility_snaps"].values()]),
    )
    with timed("extra: isochrones every facility x 5/10/15 min"):
        all_circles = len(isochrone_polygons(graph, every))

    with timed("extra: gap polygons as 50 m building buffers"):
        gap_polygons(
            points,
            {n: r.distance_m for n, r in reach.items()},
            circle_m=run["circle_m"],
            residents=residents,
            crs=graph.crs,
            method="buffer",
            buffer_m=50.0,
        )

    # --- networkx over the same snapped graph
    snaps = [run["buildings"], *run["facility_snaps"].values()]
    with timed("networkx: build split graph"):
        g, names = networkx_split_graph(graph, snaps)
    nx_time = 0.0
    max_diff = 0.0
    n_bad = 0
    node_max_diff = 0.0
    for k, (name, fsnap) in enumerate(run["facility_snaps"].items(), start=1):
        sources = {names[k][i] for i in np.flatnonzero(fsnap.snapped)}
        t0 = time.perf_counter()
        dist = nx.multi_source_dijkstra_path_length(g, sources, cutoff=1000.0, weight="weight")
        nx_time += time.perf_counter() - t0
        expected = np.array([dist.get(label, np.inf) for label in names[0]])
        ours = reach[name].distance_m
        fin = np.isfinite(expected) | np.isfinite(ours)
        diff = np.abs(np.where(fin, ours, 0) - np.where(fin, expected, 0))
        diff[np.isinf(diff)] = np.inf
        bad = np.flatnonzero(diff > 1.0)
        n_bad += len(bad)
        for b in bad[:5]:
            print(
                f"  DISAGREE {name} building {b}: ours {ours[b]:.3f} m, networkx "
                f"{expected[b]:.3f} m"
            )
        max_diff = max(max_diff, float(diff[np.isfinite(diff)].max(initial=0)))
        nodes_ours, _ = node_distances(graph, fsnap, budget_m=1000.0)
        nodes_nx = np.array([dist.get(int(i), np.inf) for i in range(graph.node_count)])
        both = np.isfinite(nodes_ours) & np.isfinite(nodes_nx)
        if not np.array_equal(np.isfinite(nodes_ours), np.isfinite(nodes_nx)):
            n_bad += 1
            print(f"  DISAGREE {name}: reached node sets differ")
        node_max_diff = max(
            node_max_diff, float(np.abs(nodes_ours[both] - nodes_nx[both]).max(initial=0))
        )
    # The timed steps take tens of milliseconds: repeat them and keep the median of each side.
    ours_reach = median_seconds(
        lambda: reach_all(graph, run["facility_snaps"], run["buildings"], budget_m=1000.0)
    )
    # pgRouting answers per node; the same output from our engine (buildings excluded)
    ours_nodes_s = median_seconds(
        lambda: [node_distances(graph, f, budget_m=1000.0) for f in run["facility_snaps"].values()]
    )

    # --- pgRouting on the same graph, and the end-to-end database run, in one scratch database
    pg_line = "not run (--no-db)"
    pg_diff_line = pg_line
    db_rows: list[tuple[str, str]] = []
    if not args.no_db:
        with scratch_database(args.database_url) as engine:
            pg_time, pg_max, pg_bad = 0.0, 0.0, 0
            for name, fsnap in run["facility_snaps"].items():
                pg_dist, elapsed = pgrouting_node_distances(
                    engine, graph, fsnap, budget_m=1000.0, repeats=REPEATS
                )
                pg_time += elapsed
                ours_nodes, _ = node_distances(graph, fsnap, budget_m=1000.0)
                reach_differs = np.isfinite(pg_dist) != np.isfinite(ours_nodes)
                both = np.isfinite(pg_dist) & np.isfinite(ours_nodes)
                diff = np.abs(pg_dist[both] - ours_nodes[both])
                bad = np.flatnonzero(both)[diff > 1.0]
                for i in bad[:5]:
                    print(
                        f"  DISAGREE pgRouting {name} node {i}: ours {ours_nodes[i]:.3f} m, "
                        f"pgRouting {pg_dist[i]:.3f} m"
                    )
                pg_bad += len(bad) + int(reach_differs.sum())
                pg_max = max(pg_max, float(diff.max(initial=0.0)))
            pg_line = (
                f"{pg_time:8.3f} s  pgRouting / ours: {pg_time / ours_nodes_s:5.1f} x per node"
                f" (same output), {pg_time / ours_reach:5.1f} x with buildings (target >= 10 x)"
            )
            pg_diff_line = (
                f"{pg_max:.2e} m (limit 1 m); {pg_bad} node(s) over 1 m or reached by one only"
            )
            print("  .. end-to-end database run", file=sys.stderr, flush=True)
            db = db_run(engine, graph, edges, points, residents, dwellings, facilities, street_code)
            db_total = sum(db["times"].values())
            run_s = db["times"]["DB run (load..write-back, all categories, isochrones)"]
            db_rows = [(k, f"{v:8.3f} s") for k, v in db["times"].items()]
            db_rows += [
                (f"  stage {k}", f"{v:8.3f} s") for k, v in db["summary"]["timings_s"].items()
            ]
            db_rows += [
                ("DB run / pure run", f"{run_s / total:8.2f} x"),
                ("DB run", f"{run_s:8.3f} s  (target < 10 s)"),
                ("store + DB run", f"{db_total:8.3f} s"),
                (
                    "rows written",
                    f"{db['summary']['result_rows']:,} results, "
                    f"{db['summary']['isochrone_rows']:,} isochrones, "
                    f"{db['summary']['stat_rows']:,} area rows",
                ),
                ("residents with all categories (DB run)", f"{db['summary']['share_all']}"),
            ]

    # --- siting: greedy vs exact on a small instance
    siting_rows = siting_benchmark(graph, run, residents, rng)

    print("\nTimings (Dongcheng + Xicheng, one run)")
    table([(k, f"{v:8.3f} s") for k, v in TIMES.items()])
    print()
    table(
        [
            (
                "full pure run (snap..gaps)",
                f"{total:8.3f} s  (target < 10 s; no DB write-back yet)",
            ),
            ("nearest-facility: ours, 12 categories (median of 5)", f"{ours_reach:8.3f} s"),
            ("  of which per node (pgRouting's output)", f"{ours_nodes_s:8.3f} s"),
            ("nearest-facility: networkx Dijkstra only", f"{nx_time:8.3f} s"),
            ("ratio networkx / ours", f"{nx_time / ours_reach:8.1f} x  (target >= 20 x)"),
            ("nearest-facility: pgRouting (query only, median of 5)", pg_line),
            ("max |ours - pgRouting|, nodes", pg_diff_line),
            (
                "max |ours - networkx|, buildings",
                f"{max_diff:.2e} m  (limit 1 m); {n_bad} over 1 m",
            ),
            ("max |ours - networkx|, nodes", f"{node_max_diff:.2e} m"),
            (
                "isochrone polygons in the run",
                f"{run['iso_rows']:,} (+ {all_circles:,} in the extra)",
            ),
            ("peak RSS", f"{peak_rss_gb():.2f} GB"),
        ]
    )
    if db_rows:
        print("\nEnd-to-end database run (same network, buildings and facilities)")
        table(db_rows)
    print("\nSiting (greedy vs exact ILP)")
    table(siting_rows)

    share = (
        run["per_cell"]
        .groupby("category")[["residents_within", "residents", "residents_within_euclidean"]]
        .sum()
    )
    share["network %"] = 100 * share.residents_within / share.residents
    share["euclidean %"] = 100 * share.residents_within_euclidean / share.residents
    print("\nResidents covered per category (network vs Euclidean buffer)")
    print(share[["network %", "euclidean %"]].round(1).to_string())
    streets_table = run["complete_street"].set_index("group")
    print("\nPer-street completeness (residents with all 12 categories within their circles)")
    print(
        streets_table[["residents", "mean_completeness", "share_all", "meets_target"]]
        .sort_values("share_all")
        .round(3)
        .to_string()
    )


def siting_benchmark(
    graph: WalkGraph, run: dict[str, Any], residents: np.ndarray, rng: np.random.Generator
) -> list[tuple[str, str]]:
    name = "community_health"
    budget = run["circle_m"][name]
    sample = rng.choice(len(residents), size=min(4000, len(residents)), replace=False)
    demand = run["buildings"].take(sample)
    candidates = snap_to_nodes(graph, rng.choice(graph.node_count, size=300, replace=False))
    cover = coverage_matrix(graph, candidates, demand, budget_m=budget)
    covered = np.isfinite(run["reach"][name].distance_m[sample])
    t0 = time.perf_counter()
    greedy = greedy_from_matrix(cover, residents[sample], k=8, covered=covered)
    t_greedy = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = exact_max_coverage(cover, residents[sample], k=8, covered=covered)
    t_exact = time.perf_counter() - t0
    rows = [
        (
            "instance",
            f"{name}, {len(candidates)} candidate nodes, {len(sample)} buildings, k=8, "
            f"{budget:.0f} m",
        ),
        (
            "greedy residents added",
            f"{greedy.added:,.0f} in {t_greedy * 1000:.1f} ms; gains "
            f"{greedy.gain.astype(int).tolist()}",
        ),
        ("exact (HiGHS ILP) residents added", f"{exact.added:,.0f} in {t_exact:.2f} s"),
        ("greedy / optimum", f"{100 * greedy.added / max(exact.added, 1):.2f} % (target >= 95 %)"),
    ]
    try:
        rows.append(spopt_row(cover, residents[sample], covered, k=8))
    except Exception as exc:  # spopt/CBC is an optional peer
        rows.append(("spopt MCLP (CBC)", f"not run: {type(exc).__name__}: {exc}"))
    return rows


def spopt_row(cover: Any, weights: np.ndarray, covered: np.ndarray, *, k: int) -> tuple[str, str]:
    import pulp
    from spopt.locate import MCLP

    open_cols = np.flatnonzero(~covered)
    matrix = cover.toarray()[:, open_cols].T.astype(int)  # demand x candidates
    t0 = time.perf_counter()
    model = MCLP.from_cost_matrix(
        np.where(matrix > 0, 0.0, 2.0), weights[open_cols], service_radius=1.0, p_facilities=k
    )
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    elapsed = time.perf_counter() - t0
    chosen = [j for j, var in enumerate(model.fac_vars) if var.value() > 0.5]
    added = float(weights[open_cols][matrix[:, chosen].any(axis=1)].sum())
    return ("spopt MCLP (CBC) residents added", f"{added:,.0f} in {elapsed:.2f} s")


def scale_benchmark(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(SEED)
    side = round(np.sqrt(args.scale_nodes))
    start = time.perf_counter()
    with timed("build lattice graph"):
        graph = lattice_graph(side, rng)
    print(f"synthetic city: {graph.node_count:,} nodes, {graph.edge_count:,} edges")
    with timed("synthetic buildings + facilities"):
        # ~20 residents a building: a Beijing-sized city (21 M people)
        points, residents, dwellings = synthetic_buildings(
            graph, args.scale_buildings, rng, max_dwellings=15
        )
        facilities = synthetic_facilities(points, residents, rng)
    print(
        f"buildings {len(points):,}, residents {residents.sum():,.0f}, "
        f"facilities {sum(len(v) for v in facilities.values()):,}"
    )
    xy = shapely.get_coordinates(points)
    cell = np.floor(xy[:, 0] / 250).astype(np.int64) * 1_000_000 + np.floor(xy[:, 1] / 250).astype(
        np.int64
    )
    run_start = time.perf_counter()
    full_run(
        graph,
        points,
        residents,
        dwellings,
        facilities,
        cell,
        None,
        isochrones=not args.no_isochrones,
        gap_cell_m=250.0,
    )
    run_time = time.perf_counter() - run_start
    total = time.perf_counter() - start
    print("\nTimings (scale)")
    table([(k, f"{v:8.3f} s") for k, v in TIMES.items()])
    print()
    table(
        [
            ("coverage run (snap..gaps)", f"{run_time:8.3f} s"),
            ("  of which isochrones", f"{TIMES.get(ISO_LABEL, 0.0):8.3f} s"),
            ("coverage run without isochrones", f"{run_time - TIMES.get(ISO_LABEL, 0.0):8.3f} s"),
            ("whole (incl. building the city)", f"{total:8.3f} s  (target < 120 s)"),
            ("peak RSS", f"{peak_rss_gb():.2f} GB  (target < 6 GB)"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=25_000)
    parser.add_argument(
        "--database-url", default=None, help="server for pgRouting + DB run (default: embedded)"
    )
    parser.add_argument("--no-db", action="store_true", help="skip pgRouting and the DB run")
    parser.add_argument("--scale", action="store_true", help="1M-node synthetic city")
    parser.add_argument("--scale-nodes", type=int, default=1_000_000)
    parser.add_argument("--scale-buildings", type=int, default=1_000_000)
    parser.add_argument("--no-isochrones", action="store_true")
    args = parser.parse_args(argv)
    runner: Callable[[argparse.Namespace], None] = scale_benchmark if args.scale else real_benchmark
    runner(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
