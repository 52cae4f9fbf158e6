"""Walking-network nodes and edges in PostGIS."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gis.db import Base


class NetworkNode(Base):
    """A network node (junction or dead end)."""

    __tablename__ = "network_node"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )


class NetworkEdge(Base):
    """A walkable edge, stored once per undirected pair (walkers ignore one-way rules)."""

    __tablename__ = "network_edge"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    source: Mapped[int] = mapped_column(
        ForeignKey("network_node.id", ondelete="CASCADE"), nullable=False, index=True
    )
    target: Mapped[int] = mapped_column(
        ForeignKey("network_node.id", ondelete="CASCADE"), nullable=False, index=True
    )
    length_m: Mapped[float] = mapped_column(Float, nullable=False)
    highway: Mapped[str | None] = mapped_column(String(40))
    access: Mapped[str | None] = mapped_column(String(40))
    foot: Mapped[str | None] = mapped_column(String(40))
    oneway: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("LINESTRING", srid=4326, spatial_index=True), nullable=False
    )
