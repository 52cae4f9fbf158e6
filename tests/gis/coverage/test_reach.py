from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from gis.coverage import euclidean_nearest, nearest_facility, reach_all
from gis.coverage.reach import Reach
from gis.errors import CoverageInputError
from gis.network import build_walk_graph, snap_points
from tests.gis.network.toy import X0, Y0, pt, reference_distances, toy_edges

# A(0,0) - B(100,0) - C(300,0) - D(300,200); island E-F far away
LINE = [
    (1, 2, [(0, 0), (100, 0)]),
    (2, 3, [(100, 0), (300, 0)]),
    (3, 4, [(300, 0), (300, 200)]),
    (8, 9, [(900, 900), (950, 900)]),
]


def line_graph():  # type: ignore[no-untyped-def]
    return build_walk_graph(toy_edges(LINE))


def test_distances_include_edge_offsets_and_same_edge_walks() -> None:
    graph = line_graph()
    facilities = snap_points(graph, np.array([pt(150, 5)]))  # on B-C, 50 m from B
    buildings = snap_points(
        graph,
        np.array(
            [
                pt(290, 150),  # on C-D at 150 m: 150 + 150
                pt(30, -8),  # on A-B at 30 m: back to B (70) then 50
                pt(220, 3),  # same edge, ahead of the facility: 70
                pt(110, 3),  # same edge, behind it: 40
                pt(940, 905),  # the island: unreachable
            ]
        ),
    )

    reach = nearest_facility(graph, facilities, buildings, budget_m=1000)

    assert reach.distance_m[:4].tolist() == pytest.approx([300.0, 120.0, 70.0, 40.0])
    assert np.isinf(reach.distance_m[4])
    assert reach.facility.tolist() == [0, 0, 0, 0, -1]
    assert reach.walk_min[0] == pytest.approx(4.5)  # 300 m at 4 km/h
    assert reach.within(5).tolist() == [True, True, True, True, False]


def test_budget_cuts_off_and_nearest_facility_is_named() -> None:
    graph = line_graph()
    facilities = snap_points(graph, np.array([pt(0, 0), pt(300, 190)]))
    buildings = snap_points(graph, np.array([pt(60, 0), pt(300, 20), pt(200, 0)]))

    reach = nearest_facility(graph, facilities, buildings, budget_m=150)

    # 60 m from A; the second building is 170 m from the facility on its own edge
    assert reach.distance_m[0] == pytest.approx(60.0)
    assert reach.facility[0] == 0
    assert np.isinf(reach.distance_m[1]) and reach.facility[1] == -1
    assert np.isinf(reach.distance_m[2])  # 200 from A, 290 from the other one
    with pytest.raises(CoverageInputError, match="exceeds the search budget"):
        reach.within(15)


def test_two_facilities_on_one_edge_pick_the_nearer() -> None:
    graph = line_graph()
    facilities = snap_points(graph, np.array([pt(120, 0), pt(280, 0)]))
    buildings = snap_points(graph, np.array([pt(150, 0), pt(250, 0), pt(300, 100)]))

    reach = nearest_facility(graph, facilities, buildings)

    assert reach.distance_m.tolist() == pytest.approx([30.0, 30.0, 120.0])
    assert reach.facility.tolist() == [0, 1, 1]


def test_unsnapped_points_get_no_distance() -> None:
    graph = line_graph()
    facilities = snap_points(graph, np.array([pt(50, 0), pt(50, 900)]))  # second is off-network
    buildings = snap_points(graph, np.array([pt(60, 0), pt(100, 700)]))

    reach = nearest_facility(graph, facilities, buildings)

    assert facilities.unsnapped.tolist() == [1]
    assert reach.distance_m[0] == pytest.approx(10.0) and reach.facility[0] == 0
    assert np.isinf(reach.distance_m[1])


def test_random_grid_matches_networkx_on_the_split_graph() -> None:
    rng = np.random.default_rng(7)
    n = 12
    ij = np.array([(i, j) for i in range(n) for j in range(n)])
    xy = ij * 80.0 + rng.normal(0, 15, size=ij.shape)
    node = ij[:, 0] * n + ij[:, 1]
    rows = []
    for a in range(n * n):
        for b in (a + 1, a + n):
            if b < n * n and (b != a + 1 or (a + 1) % n) and rng.random() > 0.15:
                rows.append((int(node[a]), int(node[b]), [tuple(xy[a]), tuple(xy[b])]))
    # a duplicated way with a bend: longer, parallel
    a, b = rows[0][0], rows[0][1]
    mid = (np.asarray(rows[0][2][0]) + np.asarray(rows[0][2][1])) / 2 + 30
    rows.append((a, b, [rows[0][2][0], tuple(mid), rows[0][2][1]]))
    graph = build_walk_graph(toy_edges(rows))
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pts = shapely.points(X0 + rng.uniform(lo[0], hi[0], 600), Y0 + rng.uniform(lo[1], hi[1], 600))
    facilities = snap_points(graph, pts[:15])
    buildings = snap_points(graph, pts[15:])

    reach = nearest_facility(graph, facilities, buildings, budget_m=400)
    expected = reference_distances(graph, facilities, buildings, cutoff=400)

    assert np.isfinite(expected).sum() > 100
    assert np.array_equal(np.isfinite(reach.distance_m), np.isfinite(expected))
    finite = np.isfinite(expected)
    assert np.abs(reach.distance_m[finite] - expected[finite]).max() < 1e-6
    # the named facility really is at that distance
    per_facility = np.column_stack(
        [
            nearest_facility(
                graph, facilities.take(np.array([f])), buildings, budget_m=400
            ).distance_m
            for f in range(len(facilities))
        ]
    )
    chosen = per_facility[np.flatnonzero(finite), reach.facility[finite]]
    assert np.allclose(chosen, reach.distance_m[finite])


def test_reach_all_and_euclidean_nearest() -> None:
    graph = line_graph()
    buildings = snap_points(graph, np.array([pt(300, 100)]))
    result = reach_all(
        graph,
        {
            "school": snap_points(graph, np.array([pt(300, 0)])),
            "clinic": snap_points(graph, np.array([pt(0, 0)])),
        },
        buildings,
        budget_m={"school": 500, "clinic": 300},
    )
    assert isinstance(result["school"], Reach)
    assert result["school"].distance_m[0] == pytest.approx(100.0)
    assert np.isinf(result["clinic"].distance_m[0])  # 400 m > 300 m budget

    d, f = euclidean_nearest(np.array([pt(0, 0), pt(300, 0)]), np.array([pt(0, 100)]))
    assert d[0] == pytest.approx(100.0) and f[0] == 0


def test_local_subgraph_equals_scipy_slicing() -> None:
    from gis.coverage.reach import _subgraph

    rng = np.random.default_rng(2)
    dense = np.triu(rng.random((40, 40)) < 0.2) * rng.uniform(1, 9, (40, 40))
    matrix = sp.csr_array(dense + dense.T)
    nodes = np.sort(rng.choice(40, 17, replace=False))
    local_of = np.full(40, -1, dtype=np.int64)

    local = _subgraph(matrix, nodes, local_of)

    assert np.array_equal(local.toarray(), matrix[nodes][:, nodes].toarray())
    assert (local_of == -1).all()
