"""Networks go into PostGIS with COPY and come back unchanged."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.network import read_network_gpkg
from gis.network.store import NetworkEdge, load_network, network_version, save_network
from tests.conftest import PROJECT_DATA

GPKG = PROJECT_DATA / "network" / "beijing_inner_drive_osm2024.gpkg"


def test_real_network_round_trips_through_postgis(session: Session) -> None:
    tables = read_network_gpkg(GPKG)

    stored = save_network(session, "beijing-drive", tables)
    back = load_network(session, "beijing-drive")

    assert stored.edge_count == len(tables.edges) > 10_000
    assert stored.node_count == len(tables.nodes)
    assert len(back.edges) == len(tables.edges)
    assert sorted(back.nodes["id"]) == sorted(tables.nodes["id"])
    assert np.allclose(np.sort(back.edges["length_m"]), np.sort(tables.edges["length_m"]))
    assert network_version(back.edges) == stored.version
    # Lengths in the table agree with PostGIS's own geodesic measure.
    diff = session.execute(
        select(
            func.max(
                func.abs(NetworkEdge.length_m - func.ST_Length(func.Geography(NetworkEdge.geom)))
            )
        )
    ).scalar()
    assert diff < 0.5


def test_reimport_replaces_and_two_networks_may_share_source_ids(session: Session) -> None:
    tables = read_network_gpkg(GPKG)

    save_network(session, "a", tables)
    save_network(session, "a", tables)
    save_network(session, "b", tables)

    counts = dict(
        session.execute(
            select(NetworkEdge.network, func.count()).group_by(NetworkEdge.network)
        ).all()
    )
    assert counts == {"a": len(tables.edges), "b": len(tables.edges)}
