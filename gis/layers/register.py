"""The residents register (实有人口): validate, add and import residents (reads: `residents`).

ID number, phone and name are stored AES-GCM encrypted (`ResidentCrypto`, the column name as
authenticated data); the ID number also as a keyed blind index (``person.id_number_index``),
which is unique, so a person is registered once and can be looked up without decrypting
anything. The ID number is validated (GB 11643) and its reason given when refused; sex and
birth year are kept in clear for statistics. Each resident goes into a dwelling (building +
unit label, created when new) and its household (one per dwelling, created when missing).

Imports validate every row first (row number, column, reason) and write nothing when any row
is bad; the write itself is COPY into a staging table plus set-based INSERT ... SELECT.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import pandas as pd
from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.db import copy_rows
from gis.errors import (
    DuplicateResidentError,
    FeatureProblem,
    ImportReport,
    ImportValidationError,
    InvalidIdNumberError,
    InvalidInputError,
)
from gis.layers.buildings import Building
from gis.layers.idnumber import normalise_id_number, parse_id_number
from gis.layers.keys import ResidentCrypto
from gis.layers.people import Person

MAX_TAG_CHARS: Final = 40
MAX_NAME_CHARS: Final = 50
MAX_UNIT_CHARS: Final = 40
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
_TAG_SPLIT = re.compile(r"[;；|,，]")
_CSV_COLUMNS: Final = ("id_number", "name", "phone", "unit", "residence", "tags", "relation")


class Residence(StrEnum):
    """Registered (户籍) or migrant (流动) resident."""

    REGISTERED = "registered"
    MIGRANT = "migrant"


@dataclass(frozen=True)
class ResidentInput:
    """One resident to register. ``building`` is a building id, or its code / source id."""

    id_number: str
    name: str
    building: int | str
    unit_label: str
    phone: str | None = None
    residence: Residence | str = Residence.REGISTERED
    tags: Sequence[str] = ()
    relation: str | None = None


@dataclass
class _Staged:
    """Validated rows ready for COPY (encrypted, indexed, resolved to building ids)."""

    rows: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------- validation
def _normalise_phone(raw: str) -> str | None:
    phone = re.sub(r"[\s()]", "", raw)
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    if _MOBILE.fullmatch(phone) or _LANDLINE.fullmatch(phone):
        return phone
    return None


def _split_tags(raw: Sequence[str] | str) -> tuple[str, ...]:
    parts = _TAG_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    return tuple(dict.fromkeys(t.strip() for t in parts if t and t.strip()))


def _building_keys(session: Session, keys: Iterable[int | str]) -> dict[int | str, Building]:
    """Resolve building ids, codes and source ids in one query (scope is checked later)."""
    wanted = set(keys)
    ids = [k for k in wanted if isinstance(k, int)]
    texts = [k for k in wanted if isinstance(k, str)]
    if not wanted:
        return {}
    stmt = select(Building).where(
        or_(Building.id.in_(ids), Building.code.in_(texts), Building.source_id.in_(texts))
    )
    found: dict[int | str, Building] = {}
    for building in session.execute(stmt).scalars():
        found[building.id] = building
        for key in (building.code, building.source_id):
            if key in wanted and key is not None:
                found.setdefault(key, building)
    return found


def _check_row(
    row: int,
    item: ResidentInput,
    building: Building | None,
    principal: Principal,
    crypto: ResidentCrypto,
) -> tuple[list[FeatureProblem], dict[str, Any] | None]:
    """Validate one resident; return its problems, or the staged row when it has none."""
    problems: list[FeatureProblem] = []

    def bad(column: str, reason: str) -> None:
        problems.append(FeatureProblem(index=row, reason=reason, field=column))

    id_number = normalise_id_number(item.id_number)
    info = None
    try:
        info = parse_id_number(id_number)
    except InvalidIdNumberError as exc:
        bad("id_number", exc.reason)
    name = item.name.strip()
    if not name:
        bad("name", "name is empty")
    elif len(name) > MAX_NAME_CHARS:
        bad("name", f"name is longer than {MAX_NAME_CHARS} characters")
    phone = None
    if item.phone and item.phone.strip():
        phone = _normalise_phone(item.phone)
        if phone is None:
            bad("phone", "not a mainland mobile (1xxxxxxxxxx) or landline (0xx-xxxxxxxx)")
    unit = item.unit_label.strip()
    if not unit:
        bad("unit", "unit label is empty")
    elif len(unit) > MAX_UNIT_CHARS:
        bad("unit", f"unit label is longer than {MAX_UNIT_CHARS} characters")
    residence = str(item.residence).strip().lower()
    if residence not in {r.value for r in Residence}:
        bad("residence", f"{item.residence!r} is not 'registered' or 'migrant'")
    tags = _split_tags(item.tags)
    long_tags = [t for t in tags if len(t) > MAX_TAG_CHARS]
    if long_tags:
        bad("tags", f"tag {long_tags[0]!r} is longer than {MAX_TAG_CHARS} characters")
    if building is None:
        bad("building", f"no building with id, code or source id {item.building!r}")
    elif not principal.covers(building.street_code, building.grid_code):
        bad("building", f"building {item.building!r} is outside your scope")
    if problems or info is None or building is None:
        return problems, None
    return problems, {
        "row": row,
        "building_id": building.id,
        "unit_label": unit,
        "residence": residence,
        "tags": json.dumps(list(tags), ensure_ascii=False),
        "relation": (item.relation or "").strip() or None,
        "sex": info.sex.value,
        "birth_year": info.birth_date.year,
        "name_enc": _hex(crypto.encrypt(name, column="name")),
        "id_number_enc": _hex(crypto.encrypt(id_number, column="id_number")),
        "id_number_index": _hex(crypto.index_id_number(id_number)),
        "phone_enc": _hex(crypto.encrypt(phone, column="phone")) if phone else None,
    }


def _validate(
    session: Session,
    principal: Principal,
    crypto: ResidentCrypto,
    inputs: Sequence[tuple[int, ResidentInput]],
    report: ImportReport,
) -> _Staged:
    """Check every row; record each problem in ``report``; return the rows ready to write."""
    buildings = _building_keys(session, (r.building for _, r in inputs))
    staged = _Staged()
    seen: dict[str, int] = {}
    for row, item in inputs:
        problems, ready = _check_row(row, item, buildings.get(item.building), principal, crypto)
        report.problems.extend(problems)
        if ready is None:
            continue
        index = ready["id_number_index"]
        if index in seen:
            report.problems.append(
                FeatureProblem(
                    index=row,
                    reason=f"the same ID number is already on row {seen[index]}",
                    field="id_number",
                )
            )
            continue
        seen[index] = row
        staged.rows.append(ready)
    _check_already_registered(session, staged, report)
    return staged


def _hex(value: bytes) -> str:
    return "\\x" + value.hex()


def _check_already_registered(session: Session, staged: _Staged, report: ImportReport) -> None:
    """Report rows whose ID number is already in the register (one query for all rows)."""
    by_index = {bytes.fromhex(r["id_number_index"][2:]): r["row"] for r in staged.rows}
    if not by_index:
        return
    stmt = select(Person.id, Person.id_number_index).where(
        Person.id_number_index.in_(list(by_index))
    )
    for person_id, index in session.execute(stmt):
        if index is None:
            continue
        report.problems.append(
            FeatureProblem(
                index=by_index[bytes(index)],
                reason=f"this ID number is already registered (person {person_id})",
                field="id_number",
            )
        )


# ---------------------------------------------------------------------------- writing
_STAGE_COLUMNS: Final = (
    "row",
    "building_id",
    "unit_label",
    "residence",
    "tags",
    "relation",
    "sex",
    "birth_year",
    "name_enc",
    "id_number_enc",
    "id_number_index",
    "phone_enc",
)


def _write(session: Session, staged: _Staged, *, source: str) -> list[int]:
    """COPY the staged rows, then create dwellings, households and people set-based."""
    stage = f"resident_stage_{uuid.uuid4().hex[:12]}"
    session.execute(
        text(
            f"CREATE TEMP TABLE {stage} (row integer, building_id integer, unit_label text, "
            "residence text, tags text, relation text, sex text, birth_year smallint, "
            "name_enc bytea, id_number_enc bytea, id_number_index bytea, phone_enc bytea) "
            "ON COMMIT DROP"
        )
    )
    copy_rows(session, stage, pd.DataFrame(staged.rows), list(_STAGE_COLUMNS))
    session.execute(
        text(
            f"INSERT INTO dwelling (building_id, unit_label) "
            f"SELECT DISTINCT building_id, unit_label FROM {stage} "
            "ON CONFLICT (building_id, unit_label) DO NOTHING"
        )
    )
    # One household per dwelling that has none yet; registered if any member is.
    session.execute(
        text(
            "INSERT INTO household (dwelling_id, building_id, registration, synthetic) "
            "SELECT d.id, d.building_id, "
            "  CASE WHEN bool_or(s.residence = 'registered') THEN 'registered' "
            "  ELSE 'migrant' END, false "
            f"FROM {stage} s JOIN dwelling d "
            "  ON d.building_id = s.building_id AND d.unit_label = s.unit_label "
            "WHERE NOT EXISTS (SELECT 1 FROM household h WHERE h.dwelling_id = d.id) "
            "GROUP BY d.id, d.building_id"
        )
    )
    try:
        ids = session.execute(
            text(
                "INSERT INTO person (household_id, building_id, name_enc, id_number_enc, "
                "  id_number_index, phone_enc, sex, birth_year, residence, relation, tags, "
                "  synthetic, source) "
                "SELECT h.id, s.building_id, s.name_enc, s.id_number_enc, s.id_number_index, "
                "  s.phone_enc, s.sex, s.birth_year, s.residence, s.relation, "
                "  ARRAY(SELECT jsonb_array_elements_text(s.tags::jsonb))::varchar(40)[], "
                "  false, :source "
                f"FROM {stage} s JOIN dwelling d "
                "  ON d.building_id = s.building_id AND d.unit_label = s.unit_label "
                "CROSS JOIN LATERAL (SELECT id FROM household h WHERE h.dwelling_id = d.id "
                "  ORDER BY h.id LIMIT 1) h "
                "ORDER BY s.row RETURNING person.id"
            ),
            {"source": source},
        ).scalars()
        person_ids = list(ids)
    except IntegrityError as exc:
        # A concurrent import registered one of these ID numbers after we validated.
        raise DuplicateResidentError(
            "an ID number in this import was registered concurrently; nothing was imported"
        ) from exc
    session.execute(text(f"DROP TABLE {stage}"))
    return person_ids


def register_residents(
    session: Session,
    principal: Principal,
    residents: Sequence[ResidentInput],
    *,
    crypto: ResidentCrypto,
    source: str = "api",
    first_row: int = 1,
) -> ImportReport:
    """Validate and register residents, all or nothing.

    Parameters
    ----------
    session : Session
        The caller's transaction; nothing is written when any resident is bad.
    principal : Principal
        Needs WRITE_PEOPLE, and every building must be in its scope.
    residents : sequence of ResidentInput
        Row ``i`` is reported as ``first_row + i`` (a CSV passes its line numbers).
    crypto : ResidentCrypto
        Encrypts the PI and computes the blind index (`ResidentCrypto.from_settings`).
    source : str
        Provenance stored on every person (a file name, ``api``...).

    Returns
    -------
    ImportReport
        ``inserted`` people; ``problems`` is empty.

    Raises
    ------
    ImportValidationError
        If any row is bad; its report lists every problem with row number and column.
    """
    principal.require(Permission.WRITE_PEOPLE)
    report = ImportReport(source=source, feature_count=len(residents))
    numbered = [(first_row + i, r) for i, r in enumerate(residents)]
    staged = _validate(session, principal, crypto, numbered, report)
    if report.problems:
        report.problems.sort(key=lambda p: p.index)
        raise ImportValidationError(report)
    report.inserted = len(_write(session, staged, source=source))
    return report


def add_resident(
    session: Session, principal: Principal, resident: ResidentInput, *, crypto: ResidentCrypto
) -> int:
    """Register one resident and return the new person id.

    Raises
    ------
    InvalidInputError
        With the reason (bad ID number, unknown building...) when the resident is refused.
    """
    try:
        register_residents(session, principal, [resident], crypto=crypto)
    except ImportValidationError as exc:
        reasons = "; ".join(f"{p.field}: {p.reason}" for p in exc.report.problems)
        raise InvalidInputError(f"resident refused: {reasons}") from None
    index = crypto.index_id_number(normalise_id_number(resident.id_number))
    person_id = session.execute(
        select(Person.id).where(Person.id_number_index == index)
    ).scalar_one()
    return int(person_id)


def read_residents_csv(path: str | Path) -> list[ResidentInput]:
    """Read a residents CSV (UTF-8 or GBK) into inputs; row ``i`` is file line ``i + 2``.

    Columns: ``id_number``, ``name``, ``phone``, ``building`` (building code; or
    ``building_source_id``), ``unit``, ``residence`` (registered|migrant), ``tags``
    (separated by ``;`` or ``|``), optional ``relation``.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{path}: the file is empty") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    building_col: str | None = next(
        (c for c in ("building", "building_code", "building_source_id") if c in frame.columns), None
    )
    missing = [c for c in ("id_number", "name", "unit") if c not in frame.columns]
    if building_col is None or missing:
        missing += [] if building_col else ["building"]
        raise InvalidInputError(
            f"{path}: missing column(s) {missing}; expected {[*_CSV_COLUMNS, 'building']}"
        )
    for column in _CSV_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    assert building_col is not None  # checked above; narrows the type
    records: list[dict[str, str]] = [
        {str(k): str(v) for k, v in r.items()} for r in frame.to_dict("records")
    ]
    return [
        ResidentInput(
            id_number=r["id_number"],
            name=r["name"],
            building=r[building_col],
            unit_label=r["unit"],
            phone=r["phone"] or None,
            residence=r["residence"] or Residence.REGISTERED,
            tags=r["tags"],
            relation=r["relation"] or None,
        )
        for r in records
    ]


def import_residents_csv(
    session: Session, principal: Principal, path: str | Path, *, crypto: ResidentCrypto
) -> ImportReport:
    """Import a residents CSV, all or nothing; problems carry the file's line numbers."""
    inputs = read_residents_csv(path)
    return register_residents(
        session, principal, inputs, crypto=crypto, source=Path(path).name, first_row=2
    )
