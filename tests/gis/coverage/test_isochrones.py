from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.coverage import euclidean_buffers, isochrone_polygons, nearest_facility, reached_network
from gis.network import build_walk_graph, snap_points
from tests.gis.network.toy import X0, Y0, pt, toy_edges


def grid_graph(n: int = 8, step: float = 100.0):  # type: ignore[no-untyped-def]
    rows = []
    for i in range(n):
        for j in range(n):
            a = i * n + j
            if j + 1 < n:
                rows.append((a, a + 1, [(i * step, j * step), (i * step, (j + 1) * step)]))
            if i + 1 < n:
                rows.append((a, a + n, [(i * step, j * step), ((i + 1) * step, j * step)]))
    return build_walk_graph(toy_edges(rows))


def test_partial_edges_are_cut_at_the_remaining_budget() -> None:
    graph = build_walk_graph(
        toy_edges(
            [
                (1, 2, [(0, 0), (100, 0)]),
                (2, 3, [(100, 0), (400, 0)]),
            ]
        )
    )
    facility = snap_points(graph, np.array([pt(40, 0)]))

    reached = reached_network(graph, facility, circles_m=[100.0, 500.0])

    short = shapely.union_all(reached.geometry[reached.radius_m == 100.0])
    # 100 m from x=40: back to x=0 (40 m) and forward to x=140
    assert shapely.length(short) == pytest.approx(140.0)
    assert shapely.bounds(short).tolist() == pytest.approx([X0, Y0, X0 + 140, Y0])
    full = shapely.union_all(reached.geometry[reached.radius_m == 500.0])
    assert shapely.length(full) == pytest.approx(400.0)


def test_isochrone_contains_reached_points_and_excludes_unreached() -> None:
    graph = grid_graph()
    facilities = snap_points(graph, np.array([pt(250, 330), pt(610, 90)]))
    radius, band = 280.0, 1.0
    iso = isochrone_polygons(graph, facilities, circles_m=[radius], buffer_m=band)

    rng = np.random.default_rng(3)
    edge = rng.integers(0, graph.edge_count, 3000)
    along = rng.uniform(0, 1, 3000)
    points = shapely.line_interpolate_point(graph.edge_geometry[edge], along, normalized=True)
    for f in range(2):
        reach = nearest_facility(
            graph, facilities.take(np.array([f])), snap_points(graph, points), budget_m=2000
        )
        polygon = iso.geometry[iso.facility == f].iloc[0]
        inside = shapely.contains_xy(polygon, shapely.get_x(points), shapely.get_y(points))
        reached = reach.distance_m <= radius - 1e-6
        unreached = reach.distance_m > radius + 2 * band
        assert reached.sum() > 50 and unreached.sum() > 50
        assert inside[reached].all()
        assert not inside[unreached].any()


def test_euclidean_buffers_beside_network_isochrones() -> None:
    graph = grid_graph()
    facilities = snap_points(graph, np.array([pt(300, 300)]))
    iso = isochrone_polygons(graph, facilities, circles_m=[200.0, 400.0], buffer_m=25)
    circles = euclidean_buffers(np.array([pt(300, 300)]), crs=graph.crs, circles_m=[200.0, 400.0])

    assert iso.radius_m.tolist() == [200.0, 400.0]
    assert circles.radius_m.tolist() == [200.0, 400.0]
    # a grid walk reaches a diamond, smaller than the circle of the same radius
    assert (iso.area.to_numpy() < circles.area.to_numpy()).all()
    assert circles.area.iloc[0] == pytest.approx(np.pi * 200**2, rel=0.01)
