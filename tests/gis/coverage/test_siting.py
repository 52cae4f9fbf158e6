from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from gis.coverage import (
    coverage_matrix,
    exact_max_coverage,
    greedy_from_matrix,
    greedy_max_coverage,
    nearest_facility,
)
from gis.network import snap_points, snap_to_nodes
from tests.gis.coverage.test_isochrones import grid_graph
from tests.gis.network.toy import X0, Y0


def test_coverage_matrix_matches_per_candidate_reach() -> None:
    graph = grid_graph(6)
    rng = np.random.default_rng(11)
    demand = snap_points(
        graph, shapely.points(X0 + rng.uniform(0, 500, 200), Y0 + rng.uniform(0, 500, 200))
    )
    candidates = snap_points(
        graph, shapely.points(X0 + rng.uniform(0, 500, 9), Y0 + rng.uniform(0, 500, 9))
    )
    cover = coverage_matrix(graph, candidates, demand, budget_m=220).toarray()

    for c in range(len(candidates)):
        reach = nearest_facility(graph, candidates.take(np.array([c])), demand, budget_m=220)
        assert np.array_equal(cover[c], np.isfinite(reach.distance_m))


def test_greedy_and_exact_against_brute_force() -> None:
    rng = np.random.default_rng(5)
    cover = sp.csr_array(rng.random((8, 40)) < 0.2)
    weights = rng.integers(1, 50, 40).astype(float)
    dense = cover.toarray()
    best = max(weights[dense[list(sites)].any(axis=0)].sum() for sites in combinations(range(8), 3))

    greedy = greedy_from_matrix(cover, weights, k=3)
    exact = exact_max_coverage(cover, weights, k=3)

    assert exact.added == pytest.approx(best)
    assert greedy.added <= best + 1e-9
    assert greedy.added >= (1 - 1 / np.e) * best
    single = max(weights[dense[c]].sum() for c in range(8))
    assert greedy.gain[0] == pytest.approx(single)
    assert (np.diff(greedy.gain) <= 1e-9).all()  # gains never grow (submodularity)
    assert greedy.added == pytest.approx(weights[greedy.covered].sum())


def test_greedy_siting_on_a_network_skips_what_existing_facilities_cover() -> None:
    graph = grid_graph(8)
    demand = snap_to_nodes(graph, np.arange(graph.node_count))
    weights = np.ones(graph.node_count)
    existing = snap_to_nodes(graph, graph.node_index(np.array([0])))
    result = greedy_max_coverage(
        graph,
        snap_to_nodes(graph, np.arange(graph.node_count)),
        demand,
        weights=weights,
        k=2,
        budget_m=200,
        existing=existing,
    )

    # a node reaches the nodes within 2 blocks: 13 in the interior (a diamond)
    assert result.baseline == 6  # the corner reaches 1 + 2 + 3 nodes
    assert result.gain[0] == 13
    assert result.covered.sum() == result.baseline + result.added
    assert len(result.sites) == 2
