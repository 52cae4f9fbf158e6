"""Components (部件): public facilities of city management, GB/T 30428.2 classes."""

from __future__ import annotations

from datetime import date

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base
from gis.layers.base import Membership, MembershipRow, Provenance


class Component(Membership, Provenance, Base):
    """A component with its 16-digit identifier (6 county + 2 major + 2 minor + 6 serial)."""

    __tablename__ = "component"

    id: Mapped[int] = mapped_column(primary_key=True)
    obj_id: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    major_code: Mapped[str] = mapped_column(String(2), nullable=False)
    minor_code: Mapped[str] = mapped_column(String(2), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(20))
    dept_owner: Mapped[str | None] = mapped_column(String(100))
    dept_maintainer: Mapped[str | None] = mapped_column(String(100))
    dept_supervisor: Mapped[str | None] = mapped_column(String(100))
    initial_date: Mapped[date | None] = mapped_column(Date)
    change_date: Mapped[date | None] = mapped_column(Date)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=True), nullable=False
    )


class ComponentMembership(MembershipRow, Base):
    """Street and grid cell of one component (see `MembershipRow`)."""

    __tablename__ = "component_membership"

    id: Mapped[int] = mapped_column(
        ForeignKey("component.id", ondelete="CASCADE"), primary_key=True
    )
