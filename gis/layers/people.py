"""Households and people (实有人口). ID numbers and phones are encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base


class Household(Base):
    """A household (户) living in a dwelling."""

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(
        ForeignKey("dwelling.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Denormalised so scoping and counting need no join through dwelling.
    building_id: Mapped[int] = mapped_column(
        ForeignKey("building.id", ondelete="CASCADE"), nullable=False, index=True
    )
    registration: Mapped[str] = mapped_column(String(20), default="registered", nullable=False)
    synthetic: Mapped[bool] = mapped_column(default=False, nullable=False)


class Person(Base):
    """A resident. ``*_enc`` hold AES-GCM ciphertext; ``id_number_index`` a keyed hash (dedupe)."""

    __tablename__ = "person"
    __table_args__ = (CheckConstraint("residence IN ('registered', 'migrant')", name="residence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("household.id", ondelete="SET NULL"), index=True
    )
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("building.id", ondelete="SET NULL"), index=True
    )
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_index: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    residence: Mapped[str] = mapped_column(String(12), default="registered", nullable=False)
    relation: Mapped[str | None] = mapped_column(String(20))  # to the household head
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list, nullable=False)
    moved_in_year: Mapped[int | None] = mapped_column(Integer)
    synthetic: Mapped[bool] = mapped_column(default=False, nullable=False)
    source: Mapped[str | None] = mapped_column(String(200))  # import file or "api"
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
