"""Make cells more compact by moving boundary blocks, without leaving the household band.

Polsby-Popper (4πA/P²) of every cell follows from the block graph alone: a cell's area is the
sum of its blocks' areas, its perimeter the sum of their perimeters minus twice the edges they
share. So the effect of every possible single-block move is computed at once with numpy; the
best non-conflicting moves are applied per round (after a contiguity check of the cell that
gives the block up), until no move helps.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from gis.gridding.adjacency import compactness
from gis.gridding.partition import BlockGraph
from gis.gridding.rebalance import band_miss

MAX_ROUNDS = 40
MIN_GAIN = 1e-4
# Second pass: cells below this Polsby-Popper take any move that raises the lower of the two
# cells' compactness (max-min), even when the summed log would not rise.
LIFT_BELOW = 0.2


def cell_shape(
    graph: BlockGraph, labels: NDArray[np.int64], n_cells: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return each cell's area (m²) and perimeter (m) from its blocks."""
    coo = graph.adjacency.tocoo()
    internal = labels[coo.row] == labels[coo.col]
    area = np.bincount(labels, graph.area_m2, minlength=n_cells)
    # Each internal edge appears twice in the symmetric matrix: once per side, as it should.
    shared = np.bincount(labels[coo.row[internal]], coo.data[internal], minlength=n_cells)
    perimeter = np.bincount(labels, graph.perimeter_m, minlength=n_cells) - shared
    return area.astype(np.float64), perimeter.astype(np.float64)


def improve_compactness(
    graph: BlockGraph,
    labels: NDArray[np.int64],
    kinds: list[str],
    band: tuple[int, int],
    *,
    max_rounds: int = MAX_ROUNDS,
) -> NDArray[np.int64]:
    """Move boundary blocks between basic cells while that makes both more compact.

    First pass: a move is taken when the summed log(Polsby-Popper) of the two cells rises,
    neither cell's band miss grows and both stay contiguous; the log rewards lifting the
    least compact cells most. Second pass, for the cells still below ``LIFT_BELOW``: a move is
    taken when it raises the lower compactness of the two cells (the worst cell is what a
    planner notices). Returns the new labels.
    """
    labels = _improve(graph, labels, kinds, band, max_rounds=max_rounds, lift_min=False)
    return _improve(graph, labels, kinds, band, max_rounds=max_rounds, lift_min=True)


def _improve(
    graph: BlockGraph,
    labels: NDArray[np.int64],
    kinds: list[str],
    band: tuple[int, int],
    *,
    max_rounds: int,
    lift_min: bool,
) -> NDArray[np.int64]:
    labels = labels.copy()
    n_cells = len(kinds)
    basic = np.asarray(kinds) == "basic"
    coo = graph.adjacency.tocoo()
    w = graph.households.astype(np.float64)
    for _ in range(max_rounds):
        area, perimeter = cell_shape(graph, labels, n_cells)
        totals = np.bincount(labels, w, minlength=n_cells)
        src, dst = labels[coo.row], labels[coo.col]
        # Shared length of each block with its own cell and with each neighbouring cell.
        own = np.bincount(coo.row[src == dst], coo.data[src == dst], minlength=len(graph))
        cross = (src != dst) & basic[src] & basic[dst]
        key = coo.row[cross] * n_cells + dst[cross]
        keys, inverse = np.unique(key, return_inverse=True)
        to_cell = np.bincount(inverse, coo.data[cross])
        block, target = keys // n_cells, keys % n_cells
        source = labels[block]
        a, p, hh = graph.area_m2[block], graph.perimeter_m[block], w[block]
        a_s, p_s = area[source] - a, perimeter[source] - p + 2 * own[block]
        a_t, p_t = area[target] + a, perimeter[target] + p - 2 * to_cell
        valid = (a_s > 0) & (p_s > 0)
        gain = np.full(len(block), -np.inf)
        if lift_min:
            pp = compactness(area, perimeter)
            before = np.minimum(pp[source], pp[target])
            valid &= before < LIFT_BELOW
            v = valid
            after = np.minimum(compactness(a_s[v], p_s[v]), compactness(a_t[v], p_t[v]))
            gain[v] = after - before[v]
        else:
            gain[valid] = (
                _log_pp(a_s[valid], p_s[valid])
                + _log_pp(a_t[valid], p_t[valid])
                - _log_pp(area[source[valid]], perimeter[source[valid]])
                - _log_pp(area[target[valid]], perimeter[target[valid]])
            )
        miss_before = band_miss(totals[source], band) + band_miss(totals[target], band)
        miss_after = band_miss(totals[source] - hh, band) + band_miss(totals[target] + hh, band)
        gain[miss_after > miss_before] = -np.inf
        candidates = np.flatnonzero(gain > MIN_GAIN)
        if len(candidates) == 0:
            break
        touched: set[int] = set()
        moved = 0
        for c in candidates[np.argsort(-gain[candidates], kind="stable")]:
            s, t, b = int(source[c]), int(target[c]), int(block[c])
            if s in touched or t in touched:
                continue
            rest = np.flatnonzero(labels == s)
            rest = rest[rest != b]
            if len(rest) == 0 or not _connected(graph, rest):
                continue
            labels[b] = t
            touched.update((s, t))
            moved += 1
        if moved == 0:
            break
    return labels


def _log_pp(area: NDArray[np.float64], perimeter: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.log(compactness(area, perimeter)), dtype=np.float64)


def _connected(graph: BlockGraph, nodes: NDArray[np.int64]) -> bool:
    if len(nodes) <= 1:
        return True
    count, _ = connected_components(graph.adjacency[nodes][:, nodes], directed=False)
    return bool(count == 1)
