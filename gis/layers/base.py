"""Columns every spatial layer shares: where it is, which street and grid it belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class Membership:
    """Mixin: the street and grid cell a feature falls in (kept by set-based joins)."""

    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(20), index=True)

    @declared_attr
    def grid_cell_id(cls) -> Mapped[int | None]:
        """Cell of the street's active plan that holds the feature."""
        return mapped_column(ForeignKey("grid_cell.id", ondelete="SET NULL"), index=True)


class Provenance:
    """Mixin: where a feature came from; synthetic data is always flagged."""

    source: Mapped[str | None] = mapped_column(String(200))
    source_id: Mapped[str | None] = mapped_column(String(100), index=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
