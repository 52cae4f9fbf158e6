from __future__ import annotations

import numpy as np
import pytest

from gis.coverage import node_distances
from gis.errors import NetworkGraphError
from gis.network import build_walk_graph
from gis.network.snapping import snap_to_nodes
from tests.gis.network.toy import toy_edges


def test_parallel_edges_collapse_to_the_shortest_not_their_sum() -> None:
    # two ways 1-2: straight (100 m) and a detour (300 m); scipy would sum them to 400 m
    edges = toy_edges(
        [
            (1, 2, [(0, 0), (100, 0)]),
            (1, 2, [(0, 0), (0, 100), (100, 100), (100, 0)]),
            (2, 3, [(100, 0), (200, 0)]),
        ]
    )
    graph = build_walk_graph(edges)
    dist, _ = node_distances(
        graph, snap_to_nodes(graph, graph.node_index(np.array([1]))), budget_m=1000
    )

    assert graph.edge_count == 3  # both kept for snapping
    assert graph.matrix.nnz == 4  # one symmetric entry per node pair
    assert dist[graph.node_index(np.array([2, 3]))].tolist() == pytest.approx([100.0, 200.0])


def test_reverse_twins_merge_and_one_way_tags_are_ignored() -> None:
    edges = toy_edges(
        [(1, 2, [(0, 0), (50, 0)]), (2, 1, [(50, 0), (0, 0)]), (2, 3, [(50, 0), (50, 70)])],
        oneway=[True, True, True],
    )
    graph = build_walk_graph(edges)
    start = snap_to_nodes(graph, graph.node_index(np.array([3])))
    dist, _ = node_distances(graph, start, budget_m=1000)

    assert graph.edge_count == 2
    assert dist[graph.node_index(np.array([1]))[0]] == pytest.approx(120.0)


def test_fragments_are_reported_largest_first() -> None:
    edges = toy_edges(
        [
            (1, 2, [(0, 0), (10, 0)]),
            (2, 3, [(10, 0), (20, 0)]),
            (7, 8, [(500, 500), (505, 500)]),
        ]
    )
    report = build_walk_graph(edges).fragments

    assert report.count == 2
    assert report.node_counts.tolist() == [3, 2]
    assert report.length_m.tolist() == pytest.approx([20.0, 5.0])
    assert report.largest_share == pytest.approx(0.6)


def test_bad_edges_are_named() -> None:
    edges = toy_edges([(1, 2, [(0, 0), (10, 0)]), (2, 3, [(10, 0), (20, 0)])])
    edges.loc[1, "length_m"] = -5.0
    with pytest.raises(NetworkGraphError, match=r"edge row 1 \(u=2, v=3\)"):
        build_walk_graph(edges)
