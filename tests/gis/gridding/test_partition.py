"""Balanced partition: contiguity, exact tiling, band, whole buildings (hypothesis properties)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from shapely.geometry import LineString, Polygon, box

from gis.gridding.balanced import Buildings, balanced_cells
from gis.gridding.partition import BlockGraph, cells_for, partition_blocks
from gis.gridding.rebalance import move_blocks, out_of_band, rebalance

BAND = (300, 500)


def _lattice_graph(households: np.ndarray, cols: int) -> BlockGraph:
    """Unit-square blocks in a rows x cols lattice (4-neighbour adjacency)."""
    n = len(households)
    idx = np.arange(n)
    right = idx[(idx % cols) < cols - 1]
    down = idx[idx + cols < n]
    i = np.r_[right, down]
    j = np.r_[right + 1, down + cols]
    xy = np.column_stack([idx % cols, -(idx // cols)]).astype(float) * 100
    return BlockGraph.from_edges(
        households,
        np.full(n, 10_000.0),
        xy,
        i,
        j,
        np.full(len(i), 100.0),
        perimeter_m=np.full(n, 400.0),
    )


def _scene(
    seed: int, roads: int, size_m: float, mega: bool
) -> tuple[Polygon, np.ndarray, Buildings]:
    rng = np.random.default_rng(seed)
    area = box(0, 0, size_m, size_m * 0.8)
    lines = []
    for pos in rng.uniform(0.15, 0.85, roads):
        vertical = rng.random() < 0.5
        p = pos * size_m
        lines.append(
            LineString([(p, -5), (p, size_m)])
            if vertical
            else LineString([(-5, p * 0.8), (size_m + 5, p * 0.8)])
        )
    xs, ys = np.meshgrid(np.arange(15, size_m - 15, 30.0), np.arange(15, size_m * 0.8 - 15, 30.0))
    x, y = xs.ravel(), ys.ravel()
    keep = rng.random(len(x)) < 0.8
    x, y = x[keep], y[keep]
    fp = shapely.box(x - 10, y - 8, x + 10, y + 8)
    road_lines = np.asarray(lines, dtype=object)
    # Buildings stay off the roads, as real ones do (a road through one is tested elsewhere).
    if len(road_lines):
        fp = fp[~shapely.intersects(fp, shapely.buffer(shapely.union_all(road_lines), 3))]
    hh = rng.integers(5, 45, len(fp))
    if mega and len(fp):
        hh[rng.integers(len(fp))] = 700
    anchors = shapely.point_on_surface(fp)
    ids = np.arange(len(fp))
    return area, road_lines, Buildings(fp, anchors, hh, hh * 2, hh, ids)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    roads=st.integers(0, 4),
    size_m=st.sampled_from([300.0, 450.0, 600.0]),
    mega=st.booleans(),
)
def test_cells_are_contiguous_tile_exactly_keep_buildings_whole_and_explain_the_band(
    seed: int, roads: int, size_m: float, mega: bool
) -> None:
    area, lines, buildings = _scene(seed, roads, size_m, mega)

    result = balanced_cells(area, lines, buildings, band=BAND, seed=seed)

    cells = result.geoms
    # Contiguity: every cell is one polygon.
    assert (shapely.get_type_id(cells) == shapely.GeometryType.POLYGON).all()
    assert shapely.is_valid(cells).all()
    # Exact tiling: no overlap, no gap.
    assert shapely.area(cells).sum() == pytest.approx(area.area, abs=1.0)
    assert shapely.union_all(cells).symmetric_difference(area).area < 1.0
    # No building cut: each footprint overlaps exactly one cell.
    b_idx, c_idx = shapely.STRtree(cells).query(buildings.footprints, predicate="intersects")
    overlap = shapely.area(shapely.intersection(buildings.footprints[b_idx], cells[c_idx]))
    assert np.bincount(b_idx[overlap > 1e-6], minlength=len(buildings)).max(initial=1) == 1
    # Band: every basic cell is in the band or its exception is explained.
    owner = shapely.STRtree(cells).query(buildings.anchors, predicate="within")
    hh = np.bincount(owner[1], buildings.households[owner[0]], len(cells))
    for c, kind in enumerate(result.kinds):
        if kind == "basic" and not BAND[0] <= hh[c] <= BAND[1]:
            assert c in result.reasons, (hh[c], result.reasons)
        if kind == "dedicated":
            assert c in result.reasons
    total = int(buildings.households.sum())
    if total >= 3 * BAND[1] and not mega:
        in_band = (hh >= BAND[0]) & (hh <= BAND[1])
        assert in_band.mean() >= 0.8  # fine-grained blocks: nearly always all in band


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(3, 9),
    cols=st.integers(3, 9),
    seed=st.integers(0, 10_000),
)
def test_partition_of_a_lattice_is_contiguous_and_in_band(rows: int, cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Blocks well below the band's width (as ``balanced_cells`` makes them) can be balanced.
    households = rng.integers(20, 60, rows * cols)
    graph = _lattice_graph(households, cols)

    part = partition_blocks(graph, band=BAND, seed=seed)
    labels, _ = move_blocks(graph, part.labels, part.kinds, BAND)

    totals = np.bincount(labels, households)
    for c in range(part.cell_count):
        nodes = np.flatnonzero(labels == c)
        count, _ = connected_components(graph.adjacency[nodes][:, nodes], directed=False)
        assert count == 1
    total = int(households.sum())
    k, _ = cells_for(total, BAND)
    assert part.cell_count == k
    # With at least one block's worth of slack on both sides, every cell must fit the band.
    if min(k * BAND[1] - total, total - k * BAND[0]) >= households.max():
        assert ((totals >= BAND[0]) & (totals <= BAND[1])).all(), totals


def test_a_block_above_the_band_alone_becomes_a_dedicated_cell() -> None:
    households = np.full(16, 100)
    households[5] = 800
    graph = _lattice_graph(households, 4)
    alone = households > BAND[1]

    part = partition_blocks(
        graph,
        band=BAND,
        alone=alone,
        alone_kind=["dedicated"],
        alone_reason=["one building with 800 households"],
    )

    assert part.kinds[part.labels[5]] == "dedicated"
    assert (part.labels == part.labels[5]).sum() == 1
    assert part.exceptions[0]["reason"] == "one building with 800 households"


def test_an_infeasible_total_is_reported_with_its_reason() -> None:
    graph = _lattice_graph(np.full(4, 50), 2)  # 200 households: below any cell

    part = partition_blocks(graph, band=BAND)

    assert part.cell_count == 1
    assert "fewer than the band minimum 300" in part.exceptions[0]["reason"]
    assert cells_for(520, BAND) == (1, "520 households cannot be split into cells of 300-500")


def test_rebalance_touches_only_out_of_band_cells_and_their_neighbours() -> None:
    households = np.full(36, 80)  # 2,880 households, 6 x 6
    graph = _lattice_graph(households, 6)
    part = partition_blocks(graph, band=BAND, seed=1)
    labels = part.labels
    assert len(out_of_band(graph, labels, part.kinds, BAND)) == 0
    bumped = np.flatnonzero(labels == labels[0])[0]
    graph.households[bumped] += 400  # one cell leaves the band

    redone = rebalance(graph, labels, part.kinds, BAND, seed=2)

    bad = int(labels[bumped])
    coo = graph.adjacency.tocoo()
    neighbours = set(labels[coo.col[labels[coo.row] == bad]].tolist()) | {bad}
    moved_cells = set(labels[redone.labels != labels].tolist())
    assert moved_cells <= neighbours
    assert len(out_of_band(graph, redone.labels, redone.kinds, BAND)) == 0
