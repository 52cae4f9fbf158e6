"""Synthetic buildings calibrated to the census: a district's density, not the lattice's."""

from __future__ import annotations

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.divisions import Division
from gis.layers.buildings import Building, Dwelling
from gis.synth.buildings import SOURCE, write_street
from gis.synth.census import census_scales, load_census

STREETS = ["110101011", "110101006"]  # 前门, 东四: an old-town pair of Dongcheng


def _area_km2(session: Session, where: object) -> float:
    area = session.execute(
        select(func.sum(func.ST_Area(func.Geography(Division.geom)))).where(where)
    ).scalar_one()
    return float(area) / 1e6


def _buildings(session: Session) -> list[tuple[bytes, int, int, int]]:
    rows = session.execute(
        select(
            func.ST_AsBinary(Building.geom),
            Building.dwellings,
            Building.households,
            Building.residents,
        )
        .where(Building.source == SOURCE)
        .order_by(Building.source_id)
    ).all()
    return [tuple(r) for r in rows]


def test_streets_take_their_districts_census_density(dongcheng: Session) -> None:
    census = load_census()["110101"]
    district_km2 = _area_km2(dongcheng, Division.parent_code == "110101")
    streets_km2 = _area_km2(dongcheng, Division.code.in_(STREETS))

    for code in STREETS:
        write_street(dongcheng, code, seed=7)
    unscaled = _buildings(dongcheng)
    scales = census_scales(dongcheng, STREETS, seed=7)
    for code in STREETS:
        write_street(dongcheng, code, seed=7, scale=scales[code])
    calibrated = _buildings(dongcheng)

    density = sum(r[3] for r in calibrated) / streets_km2
    target = census.residents / district_km2
    assert abs(density - target) / target < 0.02, (density, target)
    assert abs(sum(r[3] for r in unscaled) / streets_km2 - target) / target > 0.1
    # Only the dwellings change: the same footprints, and counts stay consistent.
    assert len(calibrated) == len(unscaled)
    assert all(
        shapely.equals(shapely.from_wkb(a[0]), shapely.from_wkb(b[0]))
        for a, b in zip(unscaled[:200], calibrated[:200], strict=False)
    )
    assert all(h <= d and r >= h for _, d, h, r in calibrated)
    dwelling_rows = dongcheng.execute(select(func.count()).select_from(Dwelling)).scalar_one()
    assert dwelling_rows == sum(r[1] for r in calibrated)
