"""Plan edits as versions: split, merge, move a building, redraw an edge, rebalance, roll back."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gis.auth import PermissionDeniedError, Principal, Role
from gis.crs import from_metric, to_metric
from gis.errors import ConflictError, InvalidInputError
from gis.gridding.generate import GridOptions, generate_plan
from gis.gridding.service import Edit, activate, edit_plan, rollback, validate
from gis.gridding.store import active_plan, get_plan, load_cells
from gis.layers.buildings import Building

EPSG = 4548
PLANNER = Principal.system("planner")


def _metric_cells(session: Session, plan_id: int) -> dict[str, shapely.Polygon]:
    cells = load_cells(session, plan_id)
    geoms = to_metric(cells.geometry.to_numpy(), epsg=EPSG)
    return dict(zip(cells["code"], geoms, strict=True))


def _lonlat(line: LineString) -> LineString:
    out: LineString = from_metric(np.asarray([line], dtype=object), epsg=EPSG)[0]
    return out


def _square_plan(session: Session) -> int:
    return generate_plan(session, "110101011", options=GridOptions(method="square")).plan.id


def _full_squares(cells: dict[str, shapely.Polygon]) -> tuple[str, str]:
    """Two east-west neighbours that are both whole 100 m squares."""
    full = {c: g for c, g in cells.items() if abs(g.area - 10_000) < 1}
    for code, geom in full.items():
        _, miny, maxx, _ = geom.bounds
        for other, g in full.items():
            if abs(g.bounds[0] - maxx) < 0.01 and abs(g.bounds[1] - miny) < 0.01:
                return code, other
    raise AssertionError("no two whole neighbouring squares")


def test_split_makes_a_new_version_with_a_new_number(session: Session, dongcheng: Session) -> None:
    plan_id = _square_plan(session)
    cells = _metric_cells(session, plan_id)
    code, _ = _full_squares(cells)
    minx, miny, _, maxy = cells[code].bounds
    line = _lonlat(LineString([(minx + 30, miny - 1), (minx + 30, maxy + 1)]))

    v2 = edit_plan(
        session,
        plan_id,
        Edit("split", [code], line=line),
        principal=PLANNER,
        reason="split for a new worker",
        base_version=1,
    )

    after = _metric_cells(session, v2.id)
    new_code = f"110101011000{len(cells) + 1:03d}"
    assert (v2.version, v2.parent_version, v2.reason) == (2, 1, "split for a new worker")
    assert len(after) == len(cells) + 1
    assert after[code].area == pytest.approx(7_000, abs=1)
    assert after[new_code].area == pytest.approx(3_000, abs=1)
    assert get_plan(session, plan_id).status == "draft"  # the base version is untouched
    figures = load_cells(session, v2.id).set_index("code")
    assert figures.loc[[code, new_code], "road_share"].between(0, 1).all()
    assert figures.loc[new_code, "compactness"] == pytest.approx(
        4 * np.pi * 3_000 / (2 * (30 + 100)) ** 2, rel=1e-3
    )
    report = validate(session, v2.id)
    assert report.gap_m2 < 1 and report.overlap_m2 < 1


def test_merge_then_split_never_reuses_the_removed_number(
    session: Session, dongcheng: Session
) -> None:
    plan_id = _square_plan(session)
    cells = _metric_cells(session, plan_id)
    west, east = _full_squares(cells)

    merged = edit_plan(
        session,
        plan_id,
        Edit("merge", [west, east]),
        principal=PLANNER,
        reason="merge",
        base_version=1,
    )
    after = _metric_cells(session, merged.id)
    minx, miny, _, maxy = after[west].bounds
    line = _lonlat(LineString([(minx + 50, miny - 1), (minx + 50, maxy + 1)]))
    split = edit_plan(
        session,
        merged.id,
        Edit("split", [west], line=line),
        principal=PLANNER,
        reason="split",
        base_version=2,
    )

    final = _metric_cells(session, split.id)
    assert east not in after and after[west].area == pytest.approx(20_000, abs=1)
    assert east not in final  # the merged-away number stays retired
    assert f"110101011000{len(cells) + 1:03d}" in final


def test_redraw_edge_moves_the_shared_boundary(session: Session, dongcheng: Session) -> None:
    plan_id = _square_plan(session)
    cells = _metric_cells(session, plan_id)
    west, east = _full_squares(cells)
    _, miny, maxx, maxy = cells[west].bounds
    line = _lonlat(LineString([(maxx + 20, miny - 1), (maxx + 20, maxy + 1)]))

    v2 = edit_plan(
        session,
        plan_id,
        Edit("redraw_edge", [west, east], line=line),
        principal=PLANNER,
        reason="follow the wall",
        base_version=1,
    )

    after = _metric_cells(session, v2.id)
    assert after[west].area == pytest.approx(12_000, abs=1)
    assert after[east].area == pytest.approx(8_000, abs=1)


def test_move_building_and_roll_back(session: Session, qianmen: str) -> None:
    plan = generate_plan(session, qianmen).plan
    cells = _metric_cells(session, plan.id)
    codes = list(cells)
    i, j = next(
        (a, b)
        for a in range(len(codes))
        for b in range(len(codes))
        if a != b and cells[codes[a]].intersection(cells[codes[b]]).length > 50
    )
    source, target = codes[i], codes[j]
    rows = session.execute(
        select(Building.id, Building.households, Building.anchor).where(Building.in_street(qianmen))
    ).all()
    from geoalchemy2.shape import to_shape

    anchors = to_metric(np.asarray([to_shape(r[2]) for r in rows], dtype=object), epsg=EPSG)
    inside = shapely.within(anchors, cells[source])
    distance = np.where(inside, shapely.distance(anchors, cells[target]), np.inf)
    pick = int(np.argmin(distance))
    before = load_cells(session, plan.id).set_index("code")

    moved = edit_plan(
        session,
        plan.id,
        Edit("move_building", building_id=rows[pick][0], to_code=target),
        principal=PLANNER,
        reason="the building's gate opens onto the other grid",
        base_version=1,
    )
    after = load_cells(session, moved.id).set_index("code")
    back = rollback(session, qianmen, 1, principal=PLANNER, reason="undo", base_version=2)
    restored = load_cells(session, back.id).set_index("code")

    hh = rows[pick][1]
    assert after.loc[target, "households"] == before.loc[target, "households"] + hh
    assert after.loc[source, "households"] == before.loc[source, "households"] - hh
    assert back.version == 3 and back.method == "rollback:1"
    assert restored["households"].to_dict() == before["households"].to_dict()
    assert restored.geometry.geom_equals_exact(before.geometry, 1e-9).all()


def test_a_concurrent_edit_of_the_same_version_is_refused(
    session: Session, dongcheng: Session
) -> None:
    plan_id = _square_plan(session)
    cells = _metric_cells(session, plan_id)
    west, east = _full_squares(cells)
    edit_plan(
        session,
        plan_id,
        Edit("merge", [west, east]),
        principal=PLANNER,
        reason="first",
        base_version=1,
    )

    with pytest.raises(ConflictError, match="changed since version 1"):
        edit_plan(
            session,
            plan_id,
            Edit("merge", [west, east]),
            principal=PLANNER,
            reason="second, from the same version",
            base_version=1,
        )


def test_rebalance_recuts_only_cells_that_left_the_band_and_their_neighbours(
    session: Session, qianmen: str
) -> None:
    plan = generate_plan(session, qianmen).plan
    before = load_cells(session, plan.id).set_index("code")
    buildings = (
        session.execute(
            select(Building.id).where(Building.in_street(qianmen)).order_by(Building.id)
        )
        .scalars()
        .all()
    )
    rng = np.random.default_rng(3)
    changed = rng.choice(buildings, max(1, len(buildings) // 100), replace=False)
    session.execute(
        update(Building)
        .where(Building.id.in_(changed.tolist()))
        .values(households=Building.households + 60)
    )

    redone = edit_plan(
        session,
        plan.id,
        Edit("rebalance"),
        principal=PLANNER,
        reason="households changed",
        base_version=1,
    )

    after = load_cells(session, redone.id).set_index("code")
    report = redone.report
    pool = set(report["pool"])
    untouched = [c for c in before.index if c not in pool]
    assert untouched  # the pool is part of the street: its buildings alone are re-counted
    assert set(report["changed"]) <= pool | set(after.index.difference(before.index))
    assert (
        after.loc[untouched].geometry.geom_equals_exact(before.loc[untouched].geometry, 1e-9).all()
    )
    basic = after[after["kind"] == "basic"]
    assert basic["households"].between(300, 500).all()
    assert validate(session, redone.id).ok


def test_rebalance_with_nothing_out_of_band_is_refused(session: Session, qianmen: str) -> None:
    plan = generate_plan(session, qianmen).plan

    with pytest.raises(InvalidInputError, match="nothing to rebalance"):
        edit_plan(
            session, plan.id, Edit("rebalance"), principal=PLANNER, reason="x", base_version=1
        )


def test_activation_validates_and_refreshes_membership(session: Session, qianmen: str) -> None:
    plan = generate_plan(session, qianmen).plan

    report = activate(session, plan.id, principal=PLANNER)

    assert report.ok
    assert active_plan(session, qianmen).id == plan.id  # type: ignore[union-attr]
    unassigned = session.execute(
        select(Building.id)
        .outerjoin(Building.membership)
        .where(Building.in_street(qianmen), Building.grid_code.is_(None))
    ).all()
    assert unassigned == []


def test_an_analyst_may_not_edit(session: Session, dongcheng: Session) -> None:
    plan_id = _square_plan(session)
    analyst = Principal(username="zhao", role=Role.ANALYST)

    with pytest.raises(PermissionDeniedError, match="may not write grids"):
        edit_plan(
            session,
            plan_id,
            Edit("merge", ["a", "b"]),
            principal=analyst,
            reason="x",
            base_version=1,
        )
