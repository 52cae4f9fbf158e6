"""Synthetic population and facilities: consistent with buildings, sealed like the real register."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.layers.buildings import Building, Dwelling
from gis.layers.checklist import default_checklist
from gis.layers.facilities import Facility
from gis.layers.idnumber import id_number_problems, parse_id_number
from gis.layers.keys import ResidentCrypto
from gis.layers.people import Household, Person
from gis.synth.buildings import write_street
from gis.synth.facilities import SOURCE as FACILITY_SOURCE
from gis.synth.facilities import write_facilities
from gis.synth.population import write_street_population
from tests.gis.layers.conftest import STREET_CODE, TEST_KEY, Town

CRYPTO = ResidentCrypto.from_key(__import__("base64").b64decode(TEST_KEY))


@pytest.fixture
def synthetic_buildings(session: Session, town: Town) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        lon, lat = 116.401 + 0.00045 * i, 39.905 + 0.0002 * (i % 5)
        dwellings = int(rng.integers(1, 25))
        households = int(rng.integers(0, dwellings + 1))
        residents = households + int(rng.poisson(1.4 * households))
        building = Building(
            code=f"S{i}",
            source="synth:test",
            source_id=str(i),
            synthetic=True,
            floors=3,
            dwellings=dwellings,
            households=households,
            residents=residents,
            street_code=STREET_CODE,
            geom=from_shape(
                MultiPolygon([box(lon - 1e-4, lat - 1e-4, lon + 1e-4, lat + 1e-4)]), 4326
            ),
            anchor=from_shape(Point(lon, lat), 4326),
        )
        session.add(building)
        session.flush()
        session.add_all(
            [Dwelling(building_id=building.id, unit_label=f"1-{u:02d}") for u in range(dwellings)]
        )
        rows.append((building.id, households, residents))
    session.flush()
    return pd.DataFrame(rows, columns=["building_id", "households", "residents"])


def test_people_match_building_counts_and_are_sealed(
    session: Session, synthetic_buildings: pd.DataFrame
) -> None:
    result = write_street_population(session, STREET_CODE, crypto=CRYPTO, seed=1)
    again = write_street_population(session, STREET_CODE, crypto=CRYPTO, seed=1)

    per_building = pd.DataFrame(
        session.execute(
            select(
                Person.building_id, func.count(), func.count(func.distinct(Person.household_id))
            ).group_by(Person.building_id)
        ).all(),
        columns=["building_id", "people", "households"],
    )
    merged = synthetic_buildings.merge(per_building, on="building_id", how="left").fillna(0)
    assert (merged["people"] == merged["residents"]).all()
    assert (merged["households_y"] == merged["households_x"]).all()
    assert result.people == again.people == int(synthetic_buildings["residents"].sum())
    assert (
        session.execute(select(func.count()).select_from(Household)).scalar_one()
        == result.households
    )
    people = session.execute(
        select(
            Person.id_number_enc,
            Person.id_number_index,
            Person.sex,
            Person.birth_year,
            Person.tags,
            Person.synthetic,
            Person.phone_enc,
            Person.residence,
        )
    ).all()
    numbers = [CRYPTO.decrypt(p.id_number_enc, column="id_number") for p in people]
    assert id_number_problems(pd.Series(numbers)).isna().all()
    assert len(set(numbers)) == len(numbers)
    for p, number in zip(people, numbers, strict=True):
        info = parse_id_number(number)
        assert bytes(p.id_number_index) == CRYPTO.index_id_number(number)
        assert (p.sex, p.birth_year) == (info.sex.value, info.birth_date.year)
        assert p.synthetic
    children = [p for p in people if "child" in p.tags]
    assert all(p.birth_year >= 2025 - 18 for p in children)
    assert all(p.phone_enc is None for p in children if p.birth_year > 2025 - 14)


def test_synthetic_facilities_cover_every_category(session: Session, town: Town) -> None:
    counts = write_facilities(session, [STREET_CODE], seed=5)

    rows = session.execute(
        select(Facility.category, Facility.synthetic, Facility.grid_code)
        .outerjoin(Facility.membership)
        .where(Facility.source == FACILITY_SOURCE)
    ).all()
    assert {r.category for r in rows} == set(default_checklist().keys)
    assert all(r.synthetic and r.grid_code is not None for r in rows)
    assert sum(counts[STREET_CODE].values()) == len(rows)
    inside = session.execute(
        text(
            "SELECT bool_and(ST_Intersects(d.geom, f.geom)) FROM facility f"
            " JOIN division d ON d.code = :street WHERE f.source = :source"
        ),
        {"street": STREET_CODE, "source": FACILITY_SOURCE},
    ).scalar_one()
    assert inside


def test_regenerated_buildings_take_their_residents_along(dongcheng: Session) -> None:
    street = "110101011"  # 前门
    write_street(dongcheng, street, seed=7)
    write_street_population(dongcheng, street, crypto=CRYPTO, seed=1)
    write_street(dongcheng, street, seed=8)  # new buildings: the old residents must go
    result = write_street_population(dongcheng, street, crypto=CRYPTO, seed=1)

    people, homeless = dongcheng.execute(
        select(func.count(), func.count().filter(Person.building_id.is_(None))).where(
            Person.synthetic
        )
    ).one()
    residents = dongcheng.execute(
        select(func.sum(Building.residents))
        .select_from(Building)
        .join(Building.membership)
        .where(Building.street_code == street)
    ).scalar_one()
    assert people == result.people == residents
    assert homeless == 0
