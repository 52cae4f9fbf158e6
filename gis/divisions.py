"""Administrative divisions (district / street / community) and their codes; SQL lives here.

Codes are stored at their natural length: 6 digits for a district (GB/T 2260), 9 for a street
or town (+ GB/T 10114), 12 for a community/village (NBS statistical code). ``stat_code`` is the
12-digit zero-padded form that grid codes are built from.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from gis.db import Base, Timestamped
from gis.errors import InvalidInputError, NotFoundError


class DivisionLevel(StrEnum):
    """Administrative level of a division."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


CODE_LENGTH = {DivisionLevel.DISTRICT: 6, DivisionLevel.STREET: 9, DivisionLevel.COMMUNITY: 12}
PARENT_LEVEL = {
    DivisionLevel.STREET: DivisionLevel.DISTRICT,
    DivisionLevel.COMMUNITY: DivisionLevel.STREET,
}


class Division(Timestamped, Base):
    """A district, street (街道/乡镇) or community (社区/村) boundary."""

    __tablename__ = "division"
    __table_args__ = (
        CheckConstraint(
            "(level = 'district' AND length(code) = 6) OR (level = 'street' AND length(code) = 9)"
            " OR (level = 'community' AND length(code) = 12)",
            name="code_matches_level",
        ),
        CheckConstraint("code ~ '^[0-9]+$'", name="code_digits"),
    )

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(12), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("division.code", ondelete="RESTRICT"), index=True
    )
    stat_code: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    pinyin: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(500))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )


def normalise_code(raw: str, level: DivisionLevel) -> str:
    """Return the natural-length code of ``level`` from a 6/9/12-digit input.

    Examples
    --------
    >>> normalise_code("110101001000", DivisionLevel.STREET)
    '110101001'
    >>> normalise_code("110101000000", DivisionLevel.DISTRICT)
    '110101'
    """
    code = raw.strip()
    if not code.isdigit():
        raise InvalidInputError(f"code {raw!r} is not all digits")
    want = CODE_LENGTH[level]
    if len(code) == 12 and want < 12:
        if code[want:] != "0" * (12 - want):
            raise InvalidInputError(
                f"code {code} is a {_level_of_12(code)} code, not a {level} code"
            )
        code = code[:want]
    if len(code) != want:
        raise InvalidInputError(f"code {code} has {len(code)} digits; a {level} code has {want}")
    if level is not DivisionLevel.DISTRICT and code[-3:] == "000":
        raise InvalidInputError(
            f"code {code} ends in 000, which is the parent's code, not a {level}"
        )
    return code


def _level_of_12(code: str) -> str:
    if code[6:] == "000000":
        return "district"
    if code[9:] == "000":
        return "street"
    return "community"


def stat_code(code: str) -> str:
    """Return the 12-digit statistical form of a 6/9/12-digit code."""
    return code.ljust(12, "0")


def parent_code_of(code: str) -> str | None:
    """Return the code of the parent division, or None for a district."""
    return {6: None, 9: code[:6], 12: code[:9]}[len(code)]


def existing_codes(session: Session, codes: list[str]) -> set[str]:
    """Return which of ``codes`` are already stored."""
    if not codes:
        return set()
    rows = session.execute(select(Division.code).where(Division.code.in_(codes)))
    return set(rows.scalars())


def upsert_divisions(session: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert or update divisions by code in one statement; return (inserted, updated).

    Each row holds the Division columns with ``geom`` as EWKT.
    """
    if not rows:
        return 0, 0
    before = existing_codes(session, [r["code"] for r in rows])
    stmt = insert(Division).values(rows)
    update_cols: dict[str, Any] = {
        c: stmt.excluded[c]
        for c in (
            "level",
            "name",
            "parent_code",
            "stat_code",
            "pinyin",
            "source",
            "synthetic",
            "properties",
            "geom",
        )
    }
    update_cols["updated_at"] = func.now()
    session.execute(stmt.on_conflict_do_update(index_elements=["code"], set_=update_cols))
    updated = len(before)
    return len(rows) - updated, updated


def list_divisions(session: Session, *, level: DivisionLevel | None = None) -> list[Division]:
    """Return divisions ordered by code, optionally of one level."""
    stmt = select(Division).order_by(Division.code)
    if level is not None:
        stmt = stmt.where(Division.level == level.value)
    return list(session.execute(stmt).scalars())


def division_summary(session: Session) -> list[dict[str, Any]]:
    """Return code, name, level, parent and area (km²) of every division, ordered by code."""
    stmt = select(
        Division.code,
        Division.name,
        Division.level,
        Division.parent_code,
        (func.ST_Area(func.Geography(Division.geom)) / 1e6).label("area_km2"),
    ).order_by(Division.code)
    return [dict(r._mapping) for r in session.execute(stmt)]


def division_features(
    session: Session,
    *,
    level: DivisionLevel | None = None,
    parent_code: str | None = None,
    code: str | None = None,
) -> list[dict[str, Any]]:
    """Return divisions as GeoJSON Feature dicts (geometry built by PostGIS), by code."""
    stmt = select(
        Division.code,
        Division.name,
        Division.level,
        Division.parent_code,
        Division.stat_code,
        Division.pinyin,
        Division.source,
        (func.ST_Area(func.Geography(Division.geom)) / 1e6).label("area_km2"),
        func.ST_AsGeoJSON(Division.geom, 7).label("geometry"),
    ).order_by(Division.code)
    if level is not None:
        stmt = stmt.where(Division.level == level.value)
    if parent_code is not None:
        stmt = stmt.where(Division.parent_code == parent_code)
    if code is not None:
        stmt = stmt.where(Division.code == code)
    features = []
    for row in session.execute(stmt):
        props = dict(row._mapping)
        geometry = json.loads(props.pop("geometry"))
        features.append(
            {"type": "Feature", "id": row.code, "properties": props, "geometry": geometry}
        )
    return features


def get_division_feature(session: Session, code: str) -> dict[str, Any]:
    """Return one division as a GeoJSON Feature, or raise NotFoundError."""
    found = division_features(session, code=code)
    if not found:
        raise NotFoundError("division", code)
    return found[0]
