"""Grid plans (versioned per street) and their cells."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base

PLAN_STATUSES = ("draft", "active", "archived")


class GridPlan(Base):
    """One version of a street's grid plan; at most one active plan per street."""

    __tablename__ = "grid_plan"
    __table_args__ = (
        UniqueConstraint("street_code", "version"),
        CheckConstraint("status IN ('draft', 'active', 'archived')", name="status"),
        Index(
            "uq_grid_plan_one_active",
            "street_code",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(
        ForeignKey("division.code", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="draft")
    method: Mapped[str] = mapped_column(String(40), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
    # Sequence numbers ever used in this plan's lineage: never reused after a removal.
    used_numbers: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GridCell(Base):
    """A grid cell (网格) of one plan version."""

    __tablename__ = "grid_cell"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("grid_plan.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    community_code: Mapped[str | None] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(
        String(20), default="basic", nullable=False
    )  # basic|dedicated
    households: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    residents: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    dwellings: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    area_m2: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    compactness: Mapped[float | None] = mapped_column(Float)  # Polsby-Popper
    road_share: Mapped[float | None] = mapped_column(Float)
    in_band: Mapped[bool | None] = mapped_column(Boolean)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=True), nullable=False
    )
