"""Buildings (实有房屋) and their dwellings."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base
from gis.layers.base import Membership, MembershipRow, Provenance


class Building(Membership, Provenance, Base):
    """A building footprint with floors, dwellings and (aggregated) households and residents."""

    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    floors: Mapped[int | None] = mapped_column(Integer)
    dwellings: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    dwellings_estimated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    households: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    residents: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    footprint_m2: Mapped[float | None] = mapped_column(Float)
    # OSM tags kept by an OSM import (migration 0003); None for other sources.
    osm_tags: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )
    # Entrance if known, else a point on the surface: what membership and snapping use.
    anchor: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )


class BuildingMembership(MembershipRow, Base):
    """Street and grid cell of one building (see `MembershipRow`)."""

    __tablename__ = "building_membership"

    id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"), primary_key=True)


class Dwelling(Base):
    """A dwelling unit (户/套) inside a building."""

    __tablename__ = "dwelling"
    __table_args__ = (UniqueConstraint("building_id", "unit_label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("building.id", ondelete="CASCADE"), nullable=False, index=True
    )
    unit_label: Mapped[str] = mapped_column(String(40), nullable=False)  # e.g. 2-1-302
    floor: Mapped[int | None] = mapped_column(Integer)
    area_m2: Mapped[float | None] = mapped_column(Float)
    tenure: Mapped[str | None] = mapped_column(String(20))  # owned|rented|public|vacant
