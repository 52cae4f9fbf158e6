"""Facilities of the life-circle checklist (clinics, schools, markets...)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base
from gis.layers.base import Membership, MembershipRow, Provenance


class Facility(Membership, Provenance, Base):
    """A service facility; ``category`` is a key of the life-circle checklist."""

    __tablename__ = "facility"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    # OSM tags kept by an OSM import (migration 0003); None for other sources.
    osm_tags: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )


class FacilityMembership(MembershipRow, Base):
    """Street and grid cell of one facility (see `MembershipRow`)."""

    __tablename__ = "facility_membership"

    id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"), primary_key=True)
