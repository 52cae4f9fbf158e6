"""Walking-network nodes and edges in PostGIS: save (COPY) and load whole networks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gis.db import Base, copy_rows, hex_ewkb
from gis.errors import InvalidInputError, NotFoundError
from gis.network.edges import NetworkTables


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


@dataclass(frozen=True)
class StoredNetwork:
    """What ``save_network`` wrote: counts and a content hash that versions coverage runs."""

    name: str
    node_count: int
    edge_count: int
    version: str


def network_version(edges: gpd.GeoDataFrame) -> str:
    """Return a hash of the edge topology and lengths (same network -> same version)."""
    frame = pd.DataFrame(
        {"u": edges["u"].to_numpy(), "v": edges["v"].to_numpy(), "len": edges["length_m"].round(2)}
    ).sort_values(["u", "v", "len"], kind="stable")
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def save_network(session: Session, name: str, tables: NetworkTables) -> StoredNetwork:
    """Replace the network ``name`` with ``tables`` (COPY; one transaction with the caller).

    Source node ids (OSM ids, or ids derived by noding) are kept in ``osm_id``; the stored ids
    are fresh surrogates, so several networks may share source ids.
    """
    nodes, edges = tables.nodes, tables.edges
    session.execute(delete(NetworkEdge).where(NetworkEdge.network == name))
    session.execute(delete(NetworkNode).where(NetworkNode.network == name))
    base = int(session.execute(select(func.coalesce(func.max(NetworkNode.id), 0))).scalar_one())
    source_ids = nodes["id"].to_numpy(dtype=np.int64)
    order = np.argsort(source_ids)
    surrogate = np.empty(len(source_ids), dtype=np.int64)
    surrogate[order] = base + 1 + np.arange(len(source_ids))
    sorted_ids = source_ids[order]

    def lookup(ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(sorted_ids, ids)
        if (pos >= len(sorted_ids)).any() or (
            sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] != ids
        ).any():
            raise InvalidInputError(
                f"network {name}: an edge refers to a node that is not in the node table"
            )
        return base + 1 + pos

    node_rows = pd.DataFrame(
        {
            "id": surrogate,
            "network": name,
            "osm_id": source_ids,
            "geom": hex_ewkb(nodes.geometry.to_numpy()),
        }
    )
    copy_rows(session, "network_node", node_rows, list(node_rows.columns))
    edge_base = int(
        session.execute(select(func.coalesce(func.max(NetworkEdge.id), 0))).scalar_one()
    )
    edge_rows = pd.DataFrame(
        {
            "id": edge_base + 1 + np.arange(len(edges)),
            "network": name,
            "source": lookup(edges["u"].to_numpy(dtype=np.int64)),
            "target": lookup(edges["v"].to_numpy(dtype=np.int64)),
            "length_m": edges["length_m"].to_numpy(),
            "highway": edges["highway"].astype(object).str.slice(0, 40),
            "access": edges["access"].astype(object).str.slice(0, 40),
            "foot": edges["foot"].astype(object).str.slice(0, 40),
            "oneway": edges["oneway"].to_numpy(dtype=bool),
            "osm_id": edges["osm_id"].to_numpy(dtype=np.int64),
            "geom": hex_ewkb(edges.geometry.to_numpy()),
        }
    )
    copy_rows(session, "network_edge", edge_rows, list(edge_rows.columns))
    return StoredNetwork(name, len(node_rows), len(edge_rows), network_version(edges))


def load_network(session: Session, name: str) -> NetworkTables:
    """Read the network ``name`` back as reader-shaped tables (source node ids restored)."""
    node_rows = session.execute(
        select(NetworkNode.id, NetworkNode.osm_id, func.ST_AsBinary(NetworkNode.geom)).where(
            NetworkNode.network == name
        )
    ).all()
    if not node_rows:
        raise NotFoundError("network", name)
    ids = np.fromiter((r[0] for r in node_rows), dtype=np.int64, count=len(node_rows))
    src = np.fromiter((r[1] for r in node_rows), dtype=np.int64, count=len(node_rows))
    to_source = pd.Series(src, index=ids)
    nodes = gpd.GeoDataFrame(
        {"id": src}, geometry=shapely.from_wkb([r[2] for r in node_rows]), crs=4326
    )
    edge_frame = pd.DataFrame(
        session.execute(
            select(
                NetworkEdge.source,
                NetworkEdge.target,
                NetworkEdge.length_m,
                NetworkEdge.highway,
                NetworkEdge.access,
                NetworkEdge.foot,
                NetworkEdge.oneway,
                NetworkEdge.osm_id,
                func.ST_AsBinary(NetworkEdge.geom).label("wkb"),
            )
            .where(NetworkEdge.network == name)
            .order_by(NetworkEdge.id)
        ).all()
    )
    edges = gpd.GeoDataFrame(
        {
            "u": to_source.loc[edge_frame["source"]].to_numpy(),
            "v": to_source.loc[edge_frame["target"]].to_numpy(),
            "length_m": edge_frame["length_m"].to_numpy(dtype=float),
            "highway": edge_frame["highway"].astype("string"),
            "access": edge_frame["access"].astype("string"),
            "foot": edge_frame["foot"].astype("string"),
            "oneway": edge_frame["oneway"].to_numpy(dtype=bool),
            "osm_id": edge_frame["osm_id"].fillna(-1).to_numpy(dtype=np.int64),
        },
        geometry=shapely.from_wkb(edge_frame["wkb"].to_numpy()),
        crs=4326,
    )
    return NetworkTables(edges=edges, nodes=nodes, source=f"postgis:{name}")
