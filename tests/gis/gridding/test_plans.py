"""Plan versions: draft -> active -> archived, one active per street, concurrent edits refused."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.boundaries import import_boundaries
from gis.errors import ConflictError, InvalidInputError
from gis.gridding.models import GridPlan
from gis.gridding.store import (
    active_plan,
    get_plan_version,
    history,
    load_cells,
    save_plan,
    set_active,
)
from tests.conftest import PROJECT_DATA

STREET = "110101001"  # 东华门街道


@pytest.fixture
def street(session: Session) -> str:
    beijing = PROJECT_DATA / "boundaries" / "beijing"
    import_boundaries(session, beijing / "districts" / "dongcheng-outline.geojson")
    import_boundaries(session, beijing / "subdistricts" / "dongcheng-all.geojson")
    return STREET


def _cells(*codes: str) -> gpd.GeoDataFrame:
    geoms = [box(116.39 + i * 0.001, 39.91, 116.391 + i * 0.001, 39.911) for i in range(len(codes))]
    return gpd.GeoDataFrame(
        {"code": list(codes), "households": [400] * len(codes)}, geometry=geoms, crs=4326
    )


def test_versions_number_up_and_cells_round_trip(session: Session, street: str) -> None:
    v1 = save_plan(session, street_code=street, cells=_cells("a1", "a2"), method="t", actor="li")
    v2 = save_plan(
        session,
        street_code=street,
        cells=_cells("a1"),
        method="edit",
        actor="wang",
        reason="merge",
        base_version=1,
    )

    cells = load_cells(session, v2.id)
    assert (v1.version, v2.version, v2.parent_version) == (1, 2, 1)
    assert cells["code"].tolist() == ["a1"]
    assert cells.geometry.iloc[0].equals_exact(_cells("a1").geometry.iloc[0], 1e-9)
    assert [h["version"] for h in history(session, street)] == [2, 1]
    assert history(session, street)[0]["reason"] == "merge"


def test_edit_of_a_stale_version_is_refused(session: Session, street: str) -> None:
    save_plan(session, street_code=street, cells=_cells("a1"), method="t", actor="li")
    save_plan(
        session,
        street_code=street,
        cells=_cells("a1", "a2"),
        method="edit",
        actor="wang",
        base_version=1,
    )

    with pytest.raises(ConflictError, match="changed since version 1: version 2 was saved by wang"):
        save_plan(
            session,
            street_code=street,
            cells=_cells("a3"),
            method="edit",
            actor="zhao",
            base_version=1,
        )
    assert session.execute(select(func.count()).select_from(GridPlan)).scalar() == 2


def test_activation_archives_the_previous_plan(session: Session, street: str) -> None:
    v1 = save_plan(session, street_code=street, cells=_cells("a1"), method="t", actor="li")
    set_active(session, v1, actor="li")
    v2 = save_plan(
        session, street_code=street, cells=_cells("a1"), method="t", actor="li", base_version=1
    )

    previous = set_active(session, v2, actor="li")

    assert previous is not None and previous.version == 1
    assert get_plan_version(session, street, 1).status == "archived"
    assert active_plan(session, street) is not None
    assert active_plan(session, street).version == 2  # type: ignore[union-attr]


def test_database_refuses_two_active_plans(session: Session, street: str) -> None:
    v1 = save_plan(session, street_code=street, cells=_cells("a1"), method="t", actor="li")
    v2 = save_plan(session, street_code=street, cells=_cells("a1"), method="t", actor="li")
    v1.status = "active"
    session.flush()
    v2.status = "active"

    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


def test_duplicate_codes_and_wrong_crs_are_refused(session: Session, street: str) -> None:
    with pytest.raises(InvalidInputError, match="duplicate cell codes: a1"):
        save_plan(session, street_code=street, cells=_cells("a1", "a1"), method="t", actor="li")
    with pytest.raises(InvalidInputError, match="EPSG:4326"):
        save_plan(
            session, street_code=street, cells=_cells("a1").to_crs(4548), method="t", actor="li"
        )
