"""Generating a street's draft plan: balanced (households, roads) and regular grids."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis.errors import InvalidInputError, NotFoundError
from gis.gridding.generate import GridOptions, generate_plan
from gis.gridding.models import GridCell
from gis.gridding.service import validate
from gis.gridding.store import load_cells
from gis.layers.buildings import Building


def _households(session: Session, street: str) -> int:
    return int(
        session.execute(
            select(func.sum(Building.households)).where(Building.in_street(street))
        ).scalar_one()
    )


def test_balanced_plan_tiles_the_street_with_cells_in_band(session: Session, qianmen: str) -> None:
    result = generate_plan(session, qianmen, actor="li", reason="first plan")

    cells = load_cells(session, result.plan.id)
    report = validate(session, result.plan.id)
    basic = cells[cells["kind"] == "basic"]
    assert report.ok, report.errors
    assert report.gap_m2 <= 1.0 and report.overlap_m2 <= 1.0
    assert cells["households"].sum() == _households(session, qianmen)
    assert basic["households"].between(300, 500).all(), result.report["exceptions"]
    assert result.report["in_band_share"] == 1.0
    assert (cells["compactness"] > 0).all() and (cells["road_share"] > 0).all()
    assert cells["code"].str.fullmatch(r"110101011000\d{3}").all()
    assert result.plan.status == "draft" and result.plan.created_by == "li"


def test_codes_run_north_to_south(session: Session, qianmen: str) -> None:
    result = generate_plan(session, qianmen)

    cells = load_cells(session, result.plan.id)
    first, last = cells.iloc[0], cells.iloc[-1]
    assert first["code"].endswith("001")
    assert first.geometry.centroid.y > last.geometry.centroid.y
    assert result.plan.used_numbers == {"110101011000": len(cells)}


def test_a_building_above_the_band_gets_a_dedicated_cell(session: Session, qianmen: str) -> None:
    big = session.execute(
        select(Building.id).where(Building.in_street(qianmen)).order_by(Building.id).limit(1)
    ).scalar_one()
    session.execute(update(Building).where(Building.id == big).values(households=900))

    result = generate_plan(session, qianmen)

    cells = load_cells(session, result.plan.id)
    dedicated = cells[cells["kind"] == "dedicated"]
    assert len(dedicated) >= 1
    assert (dedicated["households"] >= 900).any()
    assert any("专属" in e["reason"] for e in result.report["exceptions"])
    assert validate(session, result.plan.id).ok


def test_a_street_below_the_band_is_reported_infeasible(session: Session, qianmen: str) -> None:
    session.execute(update(Building).where(Building.in_street(qianmen)).values(households=0))
    session.execute(
        update(Building)
        .where(Building.id == select(func.min(Building.id)).scalar_subquery())
        .values(households=120)
    )

    result = generate_plan(session, qianmen)

    assert "fewer than the band minimum 300" in result.report["infeasible"]
    assert result.report["in_band"] == 0
    assert all(e["reason"] for e in result.report["exceptions"])


@pytest.mark.parametrize(("method", "size_m"), [("square", 100.0), ("hexagon", 62.04)])
def test_regular_plan_covers_the_street(
    session: Session, dongcheng: Session, method: str, size_m: float
) -> None:
    result = generate_plan(
        session,
        "110101011",
        options=GridOptions(method=method, cell_size_m=size_m),  # type: ignore[arg-type]
    )

    report = validate(session, result.plan.id)
    areas = np.array(
        session.execute(
            select(func.ST_Area(func.geography(GridCell.geom))).where(
                GridCell.plan_id == result.plan.id
            )
        )
        .scalars()
        .all()
    )
    assert report.ok, report.errors
    assert 0.8 * 10_000 < np.median(areas) < 1.05 * 10_000
    assert result.report["cells"] == len(areas)


def test_unknown_street_and_bad_options_are_refused(session: Session, dongcheng: Session) -> None:
    with pytest.raises(NotFoundError, match="street '110101999' not found"):
        generate_plan(session, "110101999")
    with pytest.raises(InvalidInputError, match="not a street"):
        generate_plan(session, "110101")
    with pytest.raises(InvalidInputError, match="band"):
        GridOptions(band=(500, 300))
    with pytest.raises(InvalidInputError, match="width must be 2 or 3"):
        GridOptions(width=4)


def test_every_building_anchor_lies_in_exactly_one_cell(session: Session, qianmen: str) -> None:
    result = generate_plan(session, qianmen)

    cells = load_cells(session, result.plan.id)
    anchors = shapely.from_wkb(
        session.execute(
            select(func.ST_AsBinary(Building.anchor)).where(Building.in_street(qianmen))
        )
        .scalars()
        .all()
    )
    tree = shapely.STRtree(cells.geometry.to_numpy())
    hits, _ = tree.query(anchors, predicate="within")
    assert np.bincount(hits, minlength=len(anchors)).max() == 1
    assert len(np.unique(hits)) == len(anchors)
