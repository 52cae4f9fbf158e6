"""Coverage runs and their results: per building, per facility isochrone, per area, gaps.

Tables (migration 0009 adds the columns and tables beyond the initial schema; 0010 partitions
``coverage_result`` by run):

- ``coverage_run``: parameters, network version, input version, counts and times of a run.
- ``coverage_result``: one row per building and category (walking and straight-line distance).
- ``isochrone``: per facility and circle, the reached area (``network``) or disc (``euclid``).
- ``coverage_stat``: per grid cell, community or street: residents and dwellings within each
  category's circle (network and Euclidean), and (``category`` NULL) completeness.
- ``coverage_gap``: per category, the area of uncovered residents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base


class CoverageRun(Base):
    """A recorded coverage run: parameters and network version make it reproducible."""

    __tablename__ = "coverage_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(60), nullable=False)
    network_version: Mapped[str | None] = mapped_column(String(64))
    # hash of the buildings, residents and facilities the run read (migration 0009)
    input_version: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(100))


class CoverageResult(Base):
    """Walking distance from one building to the nearest facility of one category.

    Partitioned by run (migration 0010): `gis.coverage.writer.write_results` COPYs a run's rows
    into a bare table and attaches it, so the keys are checked in bulk, not row by row. Rows
    added one at a time go to the default partition.
    """

    __tablename__ = "coverage_result"
    __table_args__ = ({"postgresql_partition_by": "LIST (run_id)"},)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_run.id", ondelete="CASCADE"), primary_key=True
    )
    building_id: Mapped[int] = mapped_column(
        ForeignKey("building.id", ondelete="CASCADE"), nullable=False, index=True
    )
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    walk_m: Mapped[float | None] = mapped_column(Float)  # NULL = beyond the budget
    walk_min: Mapped[float | None] = mapped_column(Float)
    euclid_m: Mapped[float | None] = mapped_column(Float)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id", ondelete="SET NULL"))
    # migration 0009: the category's circle and whether the building lies inside it
    circle_m: Mapped[float | None] = mapped_column(Float)
    covered: Mapped[bool | None] = mapped_column(Boolean)
    euclid_covered: Mapped[bool | None] = mapped_column(Boolean)
    snap_m: Mapped[float | None] = mapped_column(Float)  # NULL = too far from the network


class Isochrone(Base):
    """Area reached from one facility within ``minutes`` (network) or the same radius (euclid)."""

    __tablename__ = "isochrone"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_run.id", ondelete="CASCADE"), nullable=False, index=True
    )
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facility.id", ondelete="CASCADE"), nullable=False, index=True
    )
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)  # network|euclid
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )


class CoverageStat(Base):
    """Coverage of one area (grid cell, community or street) for one category of a run.

    Rows with ``category`` NULL hold the completeness figures of the area (how many checklist
    categories are within their circles, residents with all of them).
    """

    __tablename__ = "coverage_stat"
    __table_args__ = (Index("ix_coverage_stat_run_id_level", "run_id", "level"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_run.id", ondelete="CASCADE"), nullable=False
    )
    level: Mapped[str] = mapped_column(String(10), nullable=False)  # grid|community|street
    code: Mapped[str | None] = mapped_column(String(20))  # NULL: buildings outside any area
    street_code: Mapped[str | None] = mapped_column(String(9))
    category: Mapped[str | None] = mapped_column(String(40))
    circle_m: Mapped[float | None] = mapped_column(Float)
    buildings: Mapped[int] = mapped_column(Integer, nullable=False)
    residents: Mapped[float] = mapped_column(Float, nullable=False)
    dwellings: Mapped[float] = mapped_column(Float, nullable=False)
    residents_within: Mapped[float | None] = mapped_column(Float)
    dwellings_within: Mapped[float | None] = mapped_column(Float)
    residents_within_euclid: Mapped[float | None] = mapped_column(Float)
    dwellings_within_euclid: Mapped[float | None] = mapped_column(Float)
    mean_completeness: Mapped[float | None] = mapped_column(Float)
    residents_all: Mapped[float | None] = mapped_column(Float)
    dwellings_all: Mapped[float | None] = mapped_column(Float)
    share_all: Mapped[float | None] = mapped_column(Float)
    meets_target: Mapped[bool | None] = mapped_column(Boolean)


class CoverageGap(Base):
    """Where the residents a category leaves uncovered live (one multipolygon per category)."""

    __tablename__ = "coverage_gap"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_run.id", ondelete="CASCADE"), nullable=False, index=True
    )
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    buildings: Mapped[int] = mapped_column(Integer, nullable=False)
    residents: Mapped[float] = mapped_column(Float, nullable=False)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )
