"""Incidents (事件/部件 cases) and their append-only event log.

The workflow lives in `gis.layers.incident_service`; this module only holds the tables. The
event log is append-only in the database too: a trigger (migration 0004) refuses UPDATE and
DELETE on ``incident_event``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base
from gis.layers.base import Membership, MembershipRow, Provenance


class Incident(Membership, Provenance, Base):
    """A reported case with its current state, deadline and assignment."""

    __tablename__ = "incident"
    __table_args__ = (
        CheckConstraint("time_limit_min > 0", name="time_limit_min_positive"),
        Index("ix_incident_updated_at", "updated_at"),
        # Duplicate detection measures metres on the spheroid: index the geography cast.
        Index("ix_incident_geog", func.geography(text("geom")), postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(
        String(10), default="event", nullable=False
    )  # event|component
    major_code: Mapped[str] = mapped_column(String(2), nullable=False)
    minor_code: Mapped[str] = mapped_column(String(2), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), default="reported", nullable=False, index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    channel: Mapped[str | None] = mapped_column(String(30))  # worker|hotline|open311|video...
    reporter: Mapped[str | None] = mapped_column(String(100))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    department: Mapped[str | None] = mapped_column(String(100), index=True)
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL"), index=True
    )
    rework_count: Mapped[int] = mapped_column(default=0, nullable=False)
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Working minutes the class allows after dispatch, copied at intake so that editing the
    # class table later does not move the deadlines of open cases.
    time_limit_min: Mapped[int | None] = mapped_column(Integer)
    # While postponed/suspended: when the pause began and the state to resume into.
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resume_status: Mapped[str | None] = mapped_column(String(20))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )


class IncidentMembership(MembershipRow, Base):
    """Street and grid cell of one incident (see `MembershipRow`)."""

    __tablename__ = "incident_membership"

    id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True)


class IncidentEvent(Base):
    """One transition of an incident: never updated or deleted."""

    __tablename__ = "incident_event"
    __table_args__ = (Index("ix_incident_event_incident_id_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), nullable=False, index=True
    )
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20), nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    note: Mapped[str | None] = mapped_column(Text)
    photo_ref: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)
