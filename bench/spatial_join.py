"""Membership refresh in PostGIS vs a geopandas ``sjoin`` of the same data, in the same run.

Data: the real Dongcheng + Xicheng street boundaries, each street cut into ~260 m square cells
(one active plan per street, 1,796 cells), 1,000,000 synthetic buildings (small squares
round uniform anchor points over the two districts' bounding box, so some fall outside every
street) and 100,000 synthetic incidents (open cases of one minor class). The PostGIS side is
`gis.layers.membership.refresh_membership` with its writes: it rebuilds the layers'
membership tables (every feature in a street gets a row) and commits; the geopandas side
joins the anchors with the cells (``predicate="intersects"``) and the rest with the streets,
in memory, writing nothing. Both sides' assignments are compared. The sides alternate for
``--rounds`` rounds (each PostGIS round a first assignment: the membership tables are emptied
before it); medians are reported.

One more measure, same data, same run, checked against the stored membership: membership as
an import assigns it, on staged rows (`assign_staged`), before the import's one INSERT writes
features and membership.

    .venv/bin/python bench/spatial_join.py [--buildings N] [--incidents N] [--rounds R]
    .venv/bin/python bench/spatial_join.py --database-url postgresql://...   # another server
"""

from __future__ import annotations

import argparse
import statistics
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
from gis.db import copy_rows, hex_ewkb, make_engine, spatial_order
from gis.layers.membership import assign_staged, refresh_membership, staged_membership
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
) -> None:
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
    # Written as an import writes them: in Z-order of their anchors (`spatial_order`).
    session.execute(text("CREATE TEMP TABLE _bench_load (LIKE building INCLUDING DEFAULTS)"))
    copy_rows(session, "_bench_load", buildings, list(buildings.columns))
    names = ", ".join(buildings.columns)
    session.execute(
        text(
            f"INSERT INTO building ({names}) SELECT {names} FROM _bench_load"
            f" ORDER BY {spatial_order('anchor')}"
        )
    )
    session.execute(text("DROP TABLE _bench_load"))
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
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each side")
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
            _load(session, cells, args.buildings, args.incidents, rng, streets.total_bounds)
            load_s = time.perf_counter() - t
            # Both sides get the points as stored (by id), so they walk them in one order.
            anchors, points = (
                shapely.from_wkb(
                    session.execute(text(f"SELECT ST_AsBinary({col}) FROM {name} ORDER BY id"))
                    .scalars()
                    .all()
                )
                for name, col in POINTS
            )
        # Settle the load as autovacuum would (visibility map, hint bits, statistics), so
        # that neither side's first read pays for the bulk load.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE building, incident, grid_cell"))
        with Session(engine) as session, session.begin():
            _stage(session)
            t = time.perf_counter()
            for layer, _ in POINTS:  # what an import does for membership
                assign_staged(session, f"_bench_stage_{layer}", column="pt")
            staged_s = time.perf_counter() - t
            stage = "_bench_stage_building"
            staged = _cells_of(session, stage, staged_membership(stage))
            session.rollback()  # a measurement only: the staging goes
        with Session(engine) as session:
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
        postgis, geopandas = [], []
        for _ in range(args.rounds):  # alternating, so that both sides meet the same noise
            with Session(engine) as session, session.begin():  # every round a first assignment
                session.execute(text("TRUNCATE building_membership, incident_membership"))
            t = time.perf_counter()  # the commit included: the writes are durable when it ends
            with Session(engine) as session, session.begin():
                report = refresh_membership(session, layers=["building", "incident"])
            postgis.append(time.perf_counter() - t)
            t = time.perf_counter()
            joined_b = _sjoin(anchors, cell_frame, streets)
            _sjoin(points, cell_frame, streets)
            geopandas.append(time.perf_counter() - t)
        t = time.perf_counter()
        with Session(engine) as session, session.begin():
            unchanged = refresh_membership(session, layers=["building", "incident"])
        again_s = time.perf_counter() - t
        with Session(engine) as session:
            stored = _cells_of(session, "building", "building_membership")
        postgis_s, sjoin_s = statistics.median(postgis), statistics.median(geopandas)
        same_cell = np.array_equal(
            stored["cell_id"].fillna(-1).to_numpy(), joined_b["cell_id"].fillna(-1).to_numpy()
        )
        print(f"cells: {len(cell_frame):,}; buildings: {args.buildings:,}; ", end="")
        print(f"incidents: {args.incidents:,}")
        print(f"load by COPY: {load_s:.1f} s")
        print(
            f"PostGIS refresh_membership (with writes): {postgis_s:.2f} s (rounds:"
            f" {' / '.join(f'{v:.2f}' for v in postgis)}); rows changed {report.changed:,}"
        )
        print(
            f"geopandas sjoin (cells, then streets; no writes): {sjoin_s:.2f} s (rounds:"
            f" {' / '.join(f'{v:.2f}' for v in geopandas)})"
        )
        ratios = " / ".join(f"{a / b:.2f}" for a, b in zip(postgis, geopandas, strict=True))
        print(
            f"ratio PostGIS / geopandas (medians): {postgis_s / sjoin_s:.2f};"
            f" per round: {ratios}; same cells: {same_cell}"
        )
        print(
            f"a refresh with nothing to change (rebuilt, compared with the old): {again_s:.2f} s"
            f" ({unchanged.changed} changed)"
        )
        print(
            f"membership as imports assign it (staged rows, before their one INSERT):"
            f" {staged_s:.2f} s, {staged_s / sjoin_s:.2f}x geopandas;"
            f" same as stored: {_same(stored, staged)}"
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
