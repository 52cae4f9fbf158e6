from __future__ import annotations

import numpy as np
import pytest

from gis.network import build_walk_graph, snap_points
from tests.gis.network.toy import pt, toy_edges


def test_points_snap_to_the_nearest_edge_with_offset_from_u() -> None:
    # an L: 1(0,0) - 2(100,0) - 3(100,100); the second edge is digitised from 3 to 2
    graph = build_walk_graph(
        toy_edges(
            [
                (1, 2, [(0, 0), (100, 0)]),
                (3, 2, [(100, 100), (100, 0)]),
            ]
        )
    )
    snaps = snap_points(graph, np.array([pt(30, 12), pt(90, 80), pt(40, -299)]))

    u_of = graph.node_ids[graph.edge_u[snaps.edge]]
    assert u_of.tolist() == [1, 3, 1]
    assert snaps.offset_m.tolist() == pytest.approx([30.0, 20.0, 40.0])
    assert snaps.distance_m.tolist() == pytest.approx([12.0, 10.0, 299.0])
    assert snaps.unsnapped.size == 0


def test_points_beyond_the_limit_are_reported_not_snapped() -> None:
    graph = build_walk_graph(toy_edges([(1, 2, [(0, 0), (100, 0)])]))
    snaps = snap_points(graph, np.array([pt(50, 10), pt(50, 301), pt(-400, 0)]), max_distance_m=300)

    assert snaps.unsnapped.tolist() == [1, 2]
    assert snaps.snapped.tolist() == [True, False, False]
    assert np.isnan(snaps.offset_m[1:]).all()
