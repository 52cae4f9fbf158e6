"""Residents register: validation, encryption at rest, scope, masking, audited unmasking."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.audit import AuditRecord
from gis.auth import PermissionDeniedError
from gis.errors import ImportValidationError, InvalidInputError, SecretKeyError
from gis.layers.buildings import Dwelling
from gis.layers.keys import ResidentCrypto, decode_key, load_secret_key
from gis.layers.people import Household, Person
from gis.layers.register import (
    ResidentInput,
    add_resident,
    import_residents_csv,
    register_residents,
)
from gis.layers.residents import CountOptions, find_resident, list_residents, resident_counts
from gis.settings import Settings
from tests.gis.layers.conftest import EAST_GRID, TEST_KEY, WEST_GRID, Town

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def make_id(region: str, birth: str, seq: int) -> str:
    """A valid 18-character ID number (GB 11643 check digit, computed independently here)."""
    body = f"{region}{birth}{seq:03d}"
    return body + _CHECK[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


# Published examples of GB 11643 (the standard's own sample numbers). SAMPLE_M is born in
# 1880, which the register refuses (births before 1900 are implausible for living residents).
SAMPLE_F = "11010519491231002X"
SAMPLE_M = "440524188001010014"


@pytest.fixture
def crypto() -> ResidentCrypto:
    return ResidentCrypto.from_key(decode_key(TEST_KEY))


def _people(town: Town, n_west: int, n_east: int) -> list[ResidentInput]:
    west = [
        ResidentInput(
            id_number=make_id("110101", "19800101", 10 + i),
            name=f"王小{i}",
            phone=f"1380000{i:04d}",
            building="B-W-1",
            unit_label=f"1-{i % 3 + 1}01",
            tags=("elderly_alone",) if i == 0 else (),
        )
        for i in range(n_west)
    ]
    east = [
        ResidentInput(
            id_number=make_id("110102", "19900202", 10 + i),
            name=f"李东{i}",
            phone=f"1391111{i:04d}",
            building=town.east_building_id,
            unit_label="2-101",
            residence="migrant",
        )
        for i in range(n_east)
    ]
    return west + east


def test_register_encrypts_at_rest_and_links_dwelling_household_building(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    person_id = add_resident(
        session,
        town.west_worker,
        ResidentInput(
            id_number=SAMPLE_F,
            name="张三丰",
            phone="13812341234",
            building="B-W-1",
            unit_label="3-502",
            tags=("disabled", "low_income"),
        ),
        crypto=crypto,
    )

    person = session.get_one(Person, person_id)
    stored = b"".join(
        bytes(v) for v in (person.name_enc, person.id_number_enc, person.phone_enc) if v
    )
    for clear in (SAMPLE_F, "13812341234", "张三丰"):
        assert clear.encode() not in stored
    assert person.sex == "F" and person.birth_year == 1949
    household = session.get_one(Household, person.household_id)
    dwelling = session.get_one(Dwelling, household.dwelling_id)
    assert (dwelling.building_id, dwelling.unit_label) == (town.west_building_id, "3-502")
    assert person.building_id == town.west_building_id
    assert sorted(person.tags) == ["disabled", "low_income"]


def test_grid_worker_sees_only_their_grid_masked(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    register_residents(session, town.registrar, _people(town, 3, 2), crypto=crypto)

    west = list_residents(session, town.west_worker, crypto=crypto)

    assert len(west) == 3
    assert {r.grid_code for r in west} == {WEST_GRID}
    assert all(r.masked for r in west)
    for r in west:
        assert r.id_number is not None and r.phone is not None and r.name is not None
        assert r.id_number.startswith("1101") and "*" in r.id_number
        assert "19800101" not in r.id_number  # the birth date is always hidden
        assert r.phone[:3] == "138" and "****" in r.phone
        assert "*" in r.name
    # Asking for the other grid by code does not escape the scope.
    assert list_residents(session, town.west_worker, crypto=crypto, grid_code=EAST_GRID) == []
    east = list_residents(session, town.east_worker, crypto=crypto)
    assert {r.grid_code for r in east} == {EAST_GRID} and len(east) == 2


def test_unmask_by_allowed_role_is_audited_per_record(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    register_residents(session, town.registrar, _people(town, 2, 1), crypto=crypto)
    before = session.scalar(select(func.count(AuditRecord.id)))

    clear = list_residents(
        session, town.auditor, crypto=crypto, unmask=True, purpose="welfare visit"
    )

    assert len(clear) == 3
    assert {r.id_number for r in clear} == {
        make_id("110101", "19800101", 10),
        make_id("110101", "19800101", 11),
        make_id("110102", "19900202", 10),
    }
    assert all(not r.masked for r in clear)
    records = (
        session.execute(
            select(AuditRecord).where(AuditRecord.action == "unmask").order_by(AuditRecord.id)
        )
        .scalars()
        .all()
    )
    assert session.scalar(select(func.count(AuditRecord.id))) == (before or 0) + 3
    assert {r.target_id for r in records} == {str(r.id) for r in clear}
    assert all(r.actor == "auditor" and r.detail["purpose"] == "welfare visit" for r in records)


def test_unmask_without_permission_is_refused_and_not_audited(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    register_residents(session, town.registrar, _people(town, 1, 0), crypto=crypto)

    with pytest.raises(PermissionDeniedError, match="unmasked"):
        list_residents(session, town.west_worker, crypto=crypto, unmask=True)
    assert (
        session.scalar(select(func.count(AuditRecord.id)).where(AuditRecord.action == "unmask"))
        == 0
    )


def test_analyst_gets_suppressed_counts_not_people(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    register_residents(session, town.registrar, _people(town, 6, 2), crypto=crypto)

    with pytest.raises(PermissionDeniedError):
        list_residents(session, town.analyst, crypto=crypto)
    counts = {c["key"]: c for c in resident_counts(session, town.analyst, by="grid")}

    assert counts[WEST_GRID]["residents"] == 6
    assert counts[WEST_GRID]["registered"] == 6
    assert counts[WEST_GRID]["migrant"] is None  # 0 < 5: suppressed, not shown as 0
    assert counts[EAST_GRID]["residents"] is None  # 2 people: suppressed
    # RESIDENT_SMALL_CELL_MIN=2 shows the east grid's two; 7 hides the west grid's six.
    low, high = (
        {
            c["key"]: c["residents"]
            for c in resident_counts(
                session, town.analyst, options=CountOptions.from_settings(Settings(**{key: n}))
            )
        }
        for key, n in (("resident_small_cell_min", 2), ("resident_small_cell_min", 7))
    )
    assert low == {WEST_GRID: 6, EAST_GRID: 2} and high == {WEST_GRID: None, EAST_GRID: None}


@pytest.mark.parametrize(
    ("id_number", "reason"),
    [
        ("11010519491231002", "18"),  # too short
        ("110105194912310021", "check"),  # wrong check digit
        (make_id("110105", "19490230", 2), "date"),  # 30 February
        (make_id("990105", "19491231", 2), "region"),  # no such province
        ("11010519491231002Y", "character"),
    ],
)
def test_bad_id_numbers_rejected_with_reason(
    session: Session, town: Town, crypto: ResidentCrypto, id_number: str, reason: str
) -> None:
    with pytest.raises(InvalidInputError, match=rf"(?i)id_number: .*{reason}"):
        add_resident(
            session,
            town.registrar,
            ResidentInput(id_number=id_number, name="赵四", building="B-W-1", unit_label="1"),
            crypto=crypto,
        )
    assert session.scalar(select(func.count(Person.id))) == 0


def test_find_by_id_number_uses_blind_index(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    register_residents(session, town.registrar, _people(town, 2, 0), crypto=crypto)
    wanted = make_id("110101", "19800101", 11)

    found = find_resident(session, town.west_worker, wanted, crypto=crypto)

    assert found.masked and found.id_number is not None and found.id_number[-4:] == wanted[-4:]
    with pytest.raises(Exception, match="not found"):
        find_resident(session, town.east_worker, wanted, crypto=crypto)


def test_csv_import_is_all_or_nothing_with_row_numbers(
    session: Session, town: Town, crypto: ResidentCrypto, tmp_path: Path
) -> None:
    good = make_id("110101", "19700101", 21)
    rows = [
        "id_number,name,phone,building,unit,residence,tags",
        f"{good},陈一,13900001111,B-W-1,1-101,registered,elderly_alone;disabled",
        f"{make_id('110101', '19700101', 23)},陈二,12345,B-W-1,1-101,registered,",  # bad phone
        f"{good},陈三,,B-W-1,1-102,registered,",  # same ID as line 2
        f"{make_id('110101', '19700101', 25)},陈四,,NO-SUCH,1-103,registered,",
        f"{make_id('110101', '19700101', 27)},陈五,,B-W-1,1-104,tourist,",
        "110105194912310021,陈六,,B-W-1,1-105,migrant,",
    ]
    path = tmp_path / "residents.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    with pytest.raises(ImportValidationError) as caught:
        import_residents_csv(session, town.registrar, path, crypto=crypto)

    problems = {(p.index, p.field) for p in caught.value.report.problems}
    assert problems == {
        (3, "phone"),
        (4, "id_number"),
        (5, "building"),
        (6, "residence"),
        (7, "id_number"),
    }
    assert session.scalar(select(func.count(Person.id))) == 0
    assert session.scalar(select(func.count(Dwelling.id))) == 0


def test_csv_import_gbk_file_and_scope(
    session: Session, town: Town, crypto: ResidentCrypto, tmp_path: Path
) -> None:
    rows = [
        "id_number,name,phone,building,unit,residence,tags",
        f"{make_id('110101', '19600101', 31)},周一,13900002222,B-W-1,5-101,migrant,低保",
        f"{make_id('110101', '19600101', 33)},周二,,B-W-1,5-101,registered,",
        f"{make_id('110101', '19600101', 35)},周三,,B-E-1,5-101,registered,",
    ]
    path = tmp_path / "gbk.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("gbk"))

    with pytest.raises(ImportValidationError) as caught:
        import_residents_csv(session, town.west_worker, path, crypto=crypto)
    assert [(p.index, p.field) for p in caught.value.report.problems] == [(4, "building")]

    path.write_bytes(("\n".join(rows[:3]) + "\n").encode("gbk"))
    report = import_residents_csv(session, town.west_worker, path, crypto=crypto)

    assert report.inserted == 2
    people = list_residents(session, town.auditor, crypto=crypto, unmask=True)
    assert {p.name for p in people} == {"周一", "周二"}
    assert {p.household_id for p in people} != {None} and len({p.household_id for p in people}) == 1
    assert next(p for p in people if p.name == "周一").tags == ("低保",)


def test_registering_twice_is_refused(session: Session, town: Town, crypto: ResidentCrypto) -> None:
    person = ResidentInput(
        id_number=make_id("440524", "19800101", 1), name="钱五", building="B-W-1", unit_label="1"
    )
    add_resident(session, town.registrar, person, crypto=crypto)

    with pytest.raises(InvalidInputError, match="already registered"):
        add_resident(session, town.registrar, person, crypto=crypto)


def test_birth_before_1900_is_refused_with_the_reason(
    session: Session, town: Town, crypto: ResidentCrypto
) -> None:
    person = ResidentInput(id_number=SAMPLE_M, name="钱五", building="B-W-1", unit_label="1")
    with pytest.raises(InvalidInputError, match=r"id_number: birth date 18800101 is before 1900"):
        add_resident(session, town.registrar, person, crypto=crypto)


def test_embedded_key_is_created_once_with_mode_600(tmp_path: Path) -> None:
    settings = Settings(gridgis_home=tmp_path / "home")

    first = load_secret_key(settings)
    second = load_secret_key(settings)

    path = tmp_path / "home" / "secret.key"
    assert first == second and len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        load_secret_key(settings)


def test_configured_key_wins_and_is_checked(tmp_path: Path) -> None:
    key = bytes(range(1, 33))
    settings = Settings(gridgis_home=tmp_path, gridgis_secret_key=base64.b64encode(key).decode())
    assert load_secret_key(settings) == key
    assert not (tmp_path / "secret.key").exists()
    with pytest.raises(SecretKeyError, match="32 bytes"):
        load_secret_key(Settings(gridgis_home=tmp_path, gridgis_secret_key="c2hvcnQ="))
