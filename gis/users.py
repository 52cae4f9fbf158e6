"""Users, workers and API keys, with their role and division/grid scope."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base

ROLES = ("admin", "planner", "commander", "analyst", "grid_worker")


class AppUser(Base):
    """A person or machine that calls gridgis; grid workers are users with that role."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'planner', 'commander', 'analyst', 'grid_worker')", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    api_key_hash: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Division codes (6/9/12 digits) the user may see; empty = everywhere (admin).
    scope_divisions: Mapped[list[str]] = mapped_column(ARRAY(String(12)), default=list)
    # Grid cell codes a grid worker is responsible for (stable across plan versions).
    scope_grid_codes: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    department: Mapped[str | None] = mapped_column(String(100))
    can_unmask: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
