"""Membership refresh in PostGIS vs a geopandas ``sjoin`` of the same data, in the same run.

Data: the real Dongcheng + Xicheng street boundaries, each street cut into ~260 m square cells
(one active plan per street, 1,796 cells), 1,000,000 synthetic buildings (small squares
round uniform anchor points over the two districts' bounding box, so some fall outside every
street) and 100,000 synthetic incidents (open cases of one minor class). The PostGIS side is
`gis.layers.membership.refresh_membership` with its writes (every row gets a new membership);
the geopandas side joins the anchors with the cells (``predicate="intersects"``) and the rest
with the streets, in memory, writing nothing. Both sides' assignments are compared.

Two more measures, same data, same run, each checked against the stored membership:
* membership as an import assigns it: on staged rows (`assign_staged`), which the import's
  one INSERT then writes with the feature: the product's path for new features;
* a narrow side-table design (feature id -> membership, rebuilt by CREATE TABLE AS), not
  adopted: every scoped query reads membership on the feature tables.

    .venv/bin/python bench/spatial_join.py [--buildings N] [--incidents N] [--cell-size-m M]
    .venv/bin/python bench/spatial_join.py --database-url postgresql://...   # another server
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.boundaries import import_boundaries
from gis.crs import from_metric, gauss_kruger_epsg, to_metric
from gis.db import copy_rows, hex_ewkb, make_engine
from gis.layers.membership import (
    MEMBERSHIP_POLYGONS,
    STREET_SUBDIVIDE_VERTICES,
    assign_staged,
    refresh_membership,
    staged_membership,
)
from gis.migrate import scratch_database
from gis.postgis import server_url
from gis.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "beijing"
DISTRICTS = ("dongcheng", "xicheng")
# Each timed layer and the column of its point.
POINTS = (("building", "anchor"), ("incident", "geom"))


def _cells(streets: gpd.GeoDataFrame, size_m: float) -> gpd.GeoDataFrame:
    epsg = gauss_kruger_epsg(float(streets.union_all().centroid.x))
    parts = []
    for street in streets.itertuples():
        metric = to_metric(np.asarray([street.geometry], dtype=object), epsg=epsg)[0]
        minx, miny, maxx, maxy = metric.bounds
        xs, ys = np.meshgrid(np.arange(minx, maxx, size_m), np.arange(miny, maxy, size_m))
        boxes = shapely.box(xs, ys, xs + size_m, ys + size_m).ravel()
        pieces = shapely.get_parts(shapely.intersection(boxes, metric))
        pieces = pieces[(shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 1.0)]
        parts.append(
            pd.DataFrame({"street_code": street.code, "geom": from_metric(pieces, epsg=epsg)})
        )
    frame = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(
        frame.drop(columns="geom"), geometry=list(frame["geom"]), crs="EPSG:4326"
    )


def _load(
    session: Session,
    cells: gpd.GeoDataFrame,
    n_buildings: int,
    n_incidents: int,
    rng: np.random.Generator,
    bounds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    plans = {}
    for code in sorted(cells["street_code"].unique()):
        plans[code] = session.execute(
            text(
                "INSERT INTO grid_plan (street_code, version, status, method, params, report,"
                " used_numbers, created_by) VALUES (:c, 1, 'active', 'bench', '{}', '{}', '{}',"
                " 'bench') RETURNING id"
            ),
            {"c": code},
        ).scalar_one()
    serial = cells.groupby("street_code").cumcount()
    frame = pd.DataFrame(
        {
            "plan_id": cells["street_code"].map(plans),
            "code": cells["street_code"] + "001" + serial.map("{:03d}".format),
            "kind": "basic",
            "households": 0,
            "residents": 0,
            "dwellings": 0,
            "area_m2": 0.0,
            "geom": hex_ewkb(cells.geometry.values),
        }
    )
    copy_rows(session, "grid_cell", frame, list(frame.columns))
    minx, miny, maxx, maxy = bounds
    anchors = shapely.points(
        rng.uniform(minx, maxx, n_buildings), rng.uniform(miny, maxy, n_buildings)
    )
    x, y = shapely.get_x(anchors), shapely.get_y(anchors)
    buildings = pd.DataFrame(
        {
            "source": "bench",
            "source_id": np.arange(n_buildings).astype(str),
            "synthetic": True,
            "dwellings": 0,
            "dwellings_estimated": False,
            "households": 0,
            "residents": 0,
            "geom": hex_ewkb(
                shapely.multipolygons(
                    shapely.box(x - 5e-5, y - 5e-5, x + 5e-5, y + 5e-5).reshape(-1, 1)
                )
            ),
            "anchor": hex_ewkb(anchors),
        }
    )
    copy_rows(session, "building", buildings, list(buildings.columns))
    points = shapely.points(
        rng.uniform(minx, maxx, n_incidents), rng.uniform(miny, maxy, n_incidents)
    )
    incidents = pd.DataFrame(
        {
            "kind": "event",
            "major_code": "01",
            "minor_code": "01",
            "status": "reported",
            "urgent": False,
            "rework_count": 0,
            "source": "bench",
            "source_id": np.arange(n_incidents).astype(str),
            "synthetic": True,
            "geom": hex_ewkb(points),
        }
    )
    copy_rows(session, "incident", incidents, list(incidents.columns))
    return np.asarray(anchors), np.asarray(points)


def _sjoin(points: np.ndarray, cells: gpd.GeoDataFrame, streets: gpd.GeoDataFrame) -> pd.DataFrame:
    frame = gpd.GeoDataFrame(geometry=points, crs="EPSG:4326")
    hit = frame.sjoin(cells[["cell_id", "geometry"]], how="left", predicate="intersects")
    hit = hit.sort_values("cell_id").loc[~hit.index.duplicated(keep="first")].sort_index()
    rest = hit["cell_id"].isna().to_numpy()
    out = pd.DataFrame({"cell_id": hit["cell_id"].to_numpy(), "street_code": None})
    in_street = frame.iloc[np.flatnonzero(rest)].sjoin(
        streets[["code", "geometry"]], how="inner", predicate="intersects"
    )
    in_street = in_street.sort_values("code").loc[~in_street.index.duplicated(keep="first")]
    out.loc[in_street.index, "street_code"] = in_street["code"].to_numpy()
    return out


def _narrow_rebuild(session: Session) -> None:
    """Membership rebuilt into narrow side tables by CREATE TABLE AS, with two cheap indexes.

    Not the product's design (membership lives on the feature tables, which every scoped
    query reads); timed here for the decision on moving it out: a rebuilt narrow table can
    use parallel workers and writes no wide rows. Its cheapest sound indexing: the rebuild
    writes rows in id order (DISTINCT ON sorts by id), so a BRIN index finds a feature's row
    and costs next to nothing; scope filters get a b-tree on the integer cell id.
    """
    session.execute(
        text(f"CREATE UNLOGGED TABLE bench_poly AS {MEMBERSHIP_POLYGONS}"),
        {"n": STREET_SUBDIVIDE_VERTICES},
    )
    session.execute(text("CREATE INDEX ON bench_poly USING gist (geom); ANALYZE bench_poly"))
    # The polygons are few rows: without these the planner never splits them between workers.
    session.execute(
        text(
            "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0;"
            " SET LOCAL min_parallel_table_scan_size = 0"
        )
    )
    for layer, point in POINTS:
        session.execute(
            text(
                f"CREATE TABLE bench_{layer}_membership AS"
                f" SELECT DISTINCT ON (f.id) f.id, p.street_code, p.grid_cell_id, p.grid_code"
                f" FROM bench_poly p JOIN {layer} f ON f.{point} && p.geom"
                f"   AND ST_Intersects(p.geom, f.{point})"
                f" ORDER BY f.id, p.grid_cell_id, p.street_code"
            )
        )
        session.execute(
            text(
                f"CREATE INDEX ON bench_{layer}_membership USING brin (id)"
                f" WITH (pages_per_range = 4)"
            )
        )
        session.execute(text(f"CREATE INDEX ON bench_{layer}_membership (grid_cell_id)"))


def _stage(session: Session) -> None:
    """Stage every building anchor and incident point as `gis.layers.import_store` stages rows.

    TEMP tables keyed by id, as an import of the same features would hold them before its
    one INSERT.
    """
    for layer, point in POINTS:
        session.execute(
            text(
                f"CREATE TEMP TABLE _bench_stage_{layer} (id bigint PRIMARY KEY,"
                f" pt geometry(Point, 4326)) ON COMMIT DROP"
            )
        )
        session.execute(
            text(f"INSERT INTO _bench_stage_{layer} (id, pt) SELECT id, {point} FROM {layer}")
        )


def _cells_of(session: Session, rows: str, membership: str) -> pd.DataFrame:
    """Cell and street of every row of ``rows`` by ``membership`` (joined on id), by id."""
    return pd.DataFrame(
        session.execute(
            text(
                f"SELECT m.grid_cell_id, m.street_code FROM {rows} f"
                f" LEFT JOIN {membership} m ON m.id = f.id ORDER BY f.id"
            )
        ).all(),
        columns=["cell_id", "street_code"],
    )


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two (cell_id, street_code) frames in building id order agree row for row."""
    return np.array_equal(
        a["cell_id"].fillna(-1).to_numpy(), b["cell_id"].fillna(-1).to_numpy()
    ) and a["street_code"].fillna("-").equals(b["street_code"].fillna("-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--cell-size-m", type=float, default=260.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    admin_url = server_url(Settings(database_url=args.database_url))
    with scratch_database(admin_url, prefix="gridgis_bench") as url:
        _run(args, url)


def _run(args: argparse.Namespace, url: str) -> None:
    engine = make_engine(url, statement_timeout_ms=None)
    streets = pd.concat(
        [gpd.read_file(DATA / "subdistricts" / f"{d}-all.geojson") for d in DISTRICTS],
        ignore_index=True,
    )
    streets["code"] = streets["code"].astype(str).str[:9]
    rng = np.random.default_rng(42)
    try:
        with Session(engine) as session, session.begin():
            for d in DISTRICTS:
                import_boundaries(session, DATA / "districts" / f"{d}-outline.geojson")
                import_boundaries(session, DATA / "subdistricts" / f"{d}-all.geojson")
            cells = _cells(streets, args.cell_size_m)
            t = time.perf_counter()
            anchors, points = _load(
                session, cells, args.buildings, args.incidents, rng, streets.total_bounds
            )
            load_s = time.perf_counter() - t
        # Settle the load as autovacuum would (visibility map, hint bits, statistics), so
        # that neither side's first read pays for the bulk load.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE building, incident, grid_cell"))
        # First, on the freshly loaded tables: the refresh's rewrite of 709,000 wide rows
        # leaves dead tuples that would slow any join read after it until vacuumed.
        with Session(engine) as session, session.begin():
            t = time.perf_counter()
            _narrow_rebuild(session)
            narrow_s = time.perf_counter() - t
            t = time.perf_counter()
            for layer, _ in POINTS:
                session.execute(text(f"ALTER TABLE bench_{layer}_membership ADD PRIMARY KEY (id)"))
            narrow_pk_s = time.perf_counter() - t
            narrow = _cells_of(session, "building", "bench_building_membership")
            session.rollback()  # a measurement only: the tables go
        with Session(engine) as session, session.begin():
            _stage(session)
            t = time.perf_counter()
            for layer, _ in POINTS:  # what an import does for membership
                assign_staged(session, f"_bench_stage_{layer}", column="pt")
            staged_s = time.perf_counter() - t
            stage = "_bench_stage_building"
            staged = _cells_of(session, stage, staged_membership(stage))
            session.rollback()  # a measurement only: the staging goes
        with Session(engine) as session, session.begin():
            t = time.perf_counter()
            report = refresh_membership(session, layers=["building", "incident"])
            postgis_s = time.perf_counter() - t
        with Session(engine) as session, session.begin():
            t = time.perf_counter()
            unchanged = refresh_membership(session, layers=["building", "incident"])
            join_only_s = time.perf_counter() - t
            stored = pd.DataFrame(
                session.execute(
                    text("SELECT grid_cell_id, street_code FROM building ORDER BY id")
                ).all(),
                columns=["cell_id", "street_code"],
            )
            ids = pd.DataFrame(
                session.execute(
                    text("SELECT id, ST_AsBinary(geom) FROM grid_cell ORDER BY id")
                ).all()
            )
        cell_frame = gpd.GeoDataFrame(
            {"cell_id": ids.iloc[:, 0].to_numpy()},
            geometry=shapely.from_wkb([bytes(g) for g in ids.iloc[:, 1]]),
            crs="EPSG:4326",
        )
        t = time.perf_counter()
        joined_b = _sjoin(anchors, cell_frame, streets)
        _sjoin(points, cell_frame, streets)
        sjoin_s = time.perf_counter() - t
        same_cell = np.array_equal(
            stored["cell_id"].fillna(-1).to_numpy(), joined_b["cell_id"].fillna(-1).to_numpy()
        )
        print(f"cells: {len(cell_frame):,}; buildings: {args.buildings:,}; ", end="")
        print(f"incidents: {args.incidents:,}")
        print(f"load by COPY: {load_s:.1f} s")
        print(f"PostGIS refresh_membership (with writes): {postgis_s:.2f} s; ", end="")
        print(f"rows changed {report.changed:,}")
        print(
            f"second refresh, nothing to write: {join_only_s:.2f} s ({unchanged.changed} changed)"
        )
        print(f"geopandas sjoin (cells, then streets; no writes): {sjoin_s:.2f} s")
        print(f"ratio PostGIS / geopandas: {postgis_s / sjoin_s:.2f}; same cells: {same_cell}")
        print(
            f"membership as imports assign it (staged rows, before their one INSERT):"
            f" {staged_s:.2f} s, {staged_s / sjoin_s:.2f}x geopandas;"
            f" same as stored: {_same(stored, staged)}"
        )
        print(
            f"narrow side tables rebuilt by CREATE TABLE AS (a design not adopted):"
            f" {narrow_s:.2f} s, {narrow_s / sjoin_s:.2f}x geopandas;"
            f" same as stored: {_same(stored, narrow)}; with the b-tree on id that joins from"
            f" pages of features need: {narrow_s + narrow_pk_s:.2f} s,"
            f" {(narrow_s + narrow_pk_s) / sjoin_s:.2f}x"
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
