"""Set-based membership refresh, checked against an independent shapely computation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from gis.boundaries import import_boundaries
from gis.db import copy_rows, hex_ewkb
from gis.gridding.models import GridCell, GridPlan
from gis.layers import membership
from gis.layers.facilities import Facility
from gis.layers.membership import refresh_membership
from tests.conftest import PROJECT_DATA

BEIJING = PROJECT_DATA / "boundaries" / "beijing"
STEP_DEG = 0.006  # ~ 500-650 m cells


@pytest.fixture
def city(session: Session) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Dongcheng's real streets, two of them with an active plan of square-ish cells."""
    import_boundaries(session, BEIJING / "districts" / "dongcheng-outline.geojson")
    import_boundaries(session, BEIJING / "subdistricts" / "dongcheng-all.geojson")
    streets = gpd.read_file(BEIJING / "subdistricts" / "dongcheng-all.geojson")
    streets["code"] = streets["code"].astype(str).str[:9]
    streets = streets.sort_values("code").reset_index(drop=True)
    cells = []
    for street in streets.iloc[:2].itertuples():
        plan = GridPlan(
            street_code=street.code, version=1, status="active", method="test", created_by="t"
        )
        session.add(plan)
        session.flush()
        minx, miny, maxx, maxy = street.geometry.bounds
        xs, ys = np.meshgrid(np.arange(minx, maxx, STEP_DEG), np.arange(miny, maxy, STEP_DEG))
        boxes = shapely.box(xs, ys, xs + STEP_DEG, ys + STEP_DEG).ravel()
        parts = shapely.get_parts(shapely.intersection(boxes, street.geometry))
        parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
        for i, part in enumerate(parts):
            cell = GridCell(
                plan_id=plan.id, code=f"{street.code}001{i:03d}", geom=from_shape(part, 4326)
            )
            session.add(cell)
            cells.append((cell, street.code))
    session.flush()
    cell_frame = gpd.GeoDataFrame(
        {
            "id": [c.id for c, _ in cells],
            "code": [c.code for c, _ in cells],
            "street_code": [s for _, s in cells],
        },
        geometry=[shapely.from_wkb(bytes(c.geom.data)) for c, _ in cells],
        crs="EPSG:4326",
    )
    return streets, cell_frame


def _expected(
    points: np.ndarray, streets: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Cell (lowest id on ties), else street (lowest code), else nothing — with shapely only."""
    out = pd.DataFrame(
        {"street_code": None, "grid_cell_id": np.nan, "grid_code": None}, index=range(len(points))
    )
    pi, ci = shapely.STRtree(cells.geometry.values).query(points, predicate="covered_by")
    hits = pd.DataFrame({"p": pi, "id": cells["id"].to_numpy()[ci], "pos": ci}).sort_values(
        ["p", "id"]
    )
    first = hits.drop_duplicates("p")
    out.loc[first["p"], "grid_cell_id"] = first["id"].to_numpy()
    out.loc[first["p"], "grid_code"] = cells["code"].to_numpy()[first["pos"]]
    out.loc[first["p"], "street_code"] = cells["street_code"].to_numpy()[first["pos"]]
    rest = np.setdiff1d(np.arange(len(points)), first["p"].to_numpy())
    pi, si = shapely.STRtree(streets.geometry.values).query(points[rest], predicate="covered_by")
    hits = pd.DataFrame({"p": rest[pi], "code": streets["code"].to_numpy()[si]}).sort_values(
        ["p", "code"]
    )
    first = hits.drop_duplicates("p")
    out.loc[first["p"], "street_code"] = first["code"].to_numpy()
    return out


@pytest.mark.parametrize("sorted_dedupe", [True, False], ids=["small layer", "large layer"])
def test_refresh_matches_shapely_and_writes_only_changes(
    session: Session,
    city: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
    monkeypatch: pytest.MonkeyPatch,
    sorted_dedupe: bool,
) -> None:
    # A large layer drops the extra matches of tie points after a failed key, a small one
    # while it is written: both must give the same memberships.
    if not sorted_dedupe:
        monkeypatch.setattr(membership, "SORTED_DEDUPE_MAX_ROWS", -1)
    streets, cells = city
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = streets.total_bounds
    scattered = shapely.points(
        rng.uniform(minx - 0.01, maxx + 0.01, 4000), rng.uniform(miny - 0.01, maxy + 0.01, 4000)
    )
    # Ties: points exactly on street borders (boundary vertices, shared by neighbours) and on
    # the edges between cells (the cells' own vertices).
    borders = shapely.get_coordinates(streets.geometry.boundary.values)
    corners = shapely.get_coordinates(cells.geometry.values)
    on_edges = np.vstack(
        [
            borders[rng.choice(len(borders), 300, replace=False)],
            corners[rng.choice(len(corners), 300, replace=False)],
        ]
    )
    points = np.concatenate([scattered, shapely.points(on_edges)])
    n = len(points)
    frame = pd.DataFrame(
        {
            "category": "pharmacy",
            "source": "test",
            "source_id": [f"p{i}" for i in range(n)],
            "synthetic": True,
            "geom": hex_ewkb(points),
        }
    )
    copy_rows(session, "facility", frame, list(frame.columns))

    report = refresh_membership(session, layers=["facility"])
    again = refresh_membership(session, layers=["facility"])

    rows = session.execute(
        select(
            Facility.source_id, Facility.street_code, Facility.grid_cell_id, Facility.grid_code
        ).outerjoin(Facility.membership)
    ).all()
    got = pd.DataFrame(rows, columns=["source_id", "street_code", "grid_cell_id", "grid_code"])
    got.index = got["source_id"].str[1:].astype(int)
    got = got.sort_index()
    expected = _expected(points, streets, cells)
    assert got["street_code"].fillna("-").tolist() == expected["street_code"].fillna("-").tolist()
    assert np.array_equal(
        got["grid_cell_id"].fillna(-1).to_numpy(), expected["grid_cell_id"].fillna(-1).to_numpy()
    )
    assert got["grid_code"].fillna("-").tolist() == expected["grid_code"].fillna("-").tolist()
    layer = report.layers[next(iter(report.layers))]
    assert layer.outside == int(expected["street_code"].isna().sum()) > 0
    assert layer.in_cell == int(expected["grid_cell_id"].notna().sum()) > 0
    assert layer.changed == int(expected["street_code"].notna().sum())  # all new rows
    assert again.changed == 0


def test_a_moved_feature_is_reassigned_by_the_trigger(
    session: Session, city: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]
) -> None:
    _, cells = city
    first, last = cells.iloc[0], cells.iloc[-1]
    facility = Facility(
        category="pharmacy",
        source="test",
        source_id="moving",
        geom=from_shape(first.geometry.representative_point(), 4326),
    )
    session.add(facility)
    session.flush()
    refresh_membership(session, layers=["facility"])

    session.execute(
        update(Facility)
        .where(Facility.id == facility.id)
        .values(geom=from_shape(last.geometry.representative_point(), 4326))
    )
    moved = session.execute(
        text("SELECT grid_cell_id, street_code FROM facility_membership WHERE id = :id"),
        {"id": facility.id},
    ).one()

    assert tuple(moved) == (int(last["id"]), last["street_code"])


def test_a_full_refresh_keeps_the_views_that_read_membership(
    session: Session, city: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]
) -> None:
    _, cells = city
    first, last = cells.iloc[0], cells.iloc[-1]
    rows = [
        Facility(
            category="pharmacy",
            source="test",
            source_id=str(i),
            geom=from_shape(cell.geometry.representative_point(), 4326),
        )
        for i, cell in enumerate((first, last))
    ]
    session.add_all(rows)
    session.flush()
    # e.g. a GIS user's view for QGIS: the refresh cannot drop the table it reads
    session.execute(
        text(
            "CREATE VIEW pharmacies AS SELECT f.id, m.grid_cell_id FROM facility f"
            " JOIN facility_membership m ON m.id = f.id"
        )
    )

    report = refresh_membership(session, layers=["facility"])
    session.execute(
        update(Facility)
        .where(Facility.id == rows[0].id)
        .values(geom=from_shape(last.geometry.representative_point(), 4326))
    )
    again = refresh_membership(session, layers=["facility"])

    seen = dict(session.execute(text("SELECT id, grid_cell_id FROM pharmacies")).all())
    assert seen == {rows[0].id: int(last["id"]), rows[1].id: int(last["id"])}
    assert report.changed == 2
    assert again.changed == 0  # the move trigger had already re-assigned it
    # the keys came back: a deleted facility takes its membership along
    session.execute(text("DELETE FROM facility WHERE id = :id"), {"id": rows[1].id})
    left = session.execute(text("SELECT count(*) FROM facility_membership")).scalar_one()
    assert left == 1
