"""Columns every spatial layer shares: where it is, which street and grid it belongs to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    FromClause,
    Integer,
    String,
    func,
    select,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship


class MembershipRow:
    """Mixin for a layer's membership table: the street and grid cell of one feature.

    Membership is derived data, rebuilt set-wise by `gis.layers.membership`; it lives in a
    narrow table per layer (``building_membership``...) keyed by the feature id, so that
    re-assigning a million features rewrites small rows rather than the wide feature rows
    and their indexes. A feature in no street has no row.
    """

    street_code: Mapped[str | None] = mapped_column(String(9))
    grid_cell_id: Mapped[int | None] = mapped_column(Integer)
    grid_code: Mapped[str | None] = mapped_column(String(20))


def _membership_attribute(name: str) -> hybrid_property[Any]:
    """Return a feature attribute that reads and writes column ``name`` of its membership row.

    On the class it is the membership table's column (queries must join that table); on an
    instance it is the loaded row's value, None without a row; setting it creates the row.
    """

    def get(self: Any) -> Any:
        row = self.membership
        return None if row is None else getattr(row, name)

    def put(self: Any, value: Any) -> None:
        row = self.membership
        if row is None:
            row = self.membership = self.membership_model()()
        setattr(row, name, value)

    def column(cls: Any) -> Any:
        return getattr(cls.membership_model(), name)

    return hybrid_property(get, put, expr=column)


class Membership:
    """Mixin for a feature: its street and grid cell, read from the layer's membership table.

    ``Feature.street_code`` (and ``grid_code``, ``grid_cell_id``) is the membership table's
    column, so a query that filters or selects on it joins the table:
    ``select(...).outerjoin(Feature.membership)``. On an instance the attributes read and
    write the membership row (loaded with the feature, by a second query).
    """

    @declared_attr
    def membership(cls) -> Mapped[Any]:
        """Return the relationship to the feature's membership row (None: in no street)."""
        return relationship(
            f"{cls.__name__}Membership",  # type: ignore[attr-defined]
            uselist=False,
            lazy="selectin",
            cascade="all, delete-orphan",
            passive_deletes=True,
        )

    @classmethod
    def membership_model(cls) -> Any:
        """Return the mapped class of this layer's membership table."""
        return cls.membership.property.mapper.class_

    @classmethod
    def with_membership(cls) -> FromClause:
        """Return the layer's table LEFT JOINed to its membership table (a row per feature)."""
        member = cls.membership_model()
        return cls.__table__.outerjoin(  # type: ignore[attr-defined,no-any-return]
            member.__table__,
            member.id == cls.id,  # type: ignore[attr-defined]
        )

    @classmethod
    def in_street(cls, street_code: str) -> ColumnElement[bool]:
        """Return "the feature lies in this street" as a condition (it needs no join)."""
        member = cls.membership_model()
        ids = select(member.id).where(member.street_code == street_code)
        return cls.id.in_(ids)  # type: ignore[attr-defined,no-any-return]

    street_code = _membership_attribute("street_code")  # 9-digit street code
    grid_code = _membership_attribute("grid_code")  # code of the active grid cell
    grid_cell_id = _membership_attribute("grid_cell_id")  # id of that cell


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
