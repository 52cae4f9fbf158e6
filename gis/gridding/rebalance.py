"""Bring out-of-band cells back into the household band, touching as few cells as possible.

Two tools on a partitioned block graph (`partition.py`):

* `move_blocks`: single boundary blocks move between neighbouring cells when that lowers the
  band miss of both and keeps both contiguous (candidates scored with numpy, the connectivity
  check only for the best few);
* `rebalance`: the out-of-band cells and their neighbours are pooled and partitioned again;
  cells elsewhere keep their blocks, and re-cut cells reuse old labels (so codes stay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from gis.gridding.partition import BlockGraph, _Cutter, cells_for

MAX_MOVE_ROUNDS = 200
CONNECTIVITY_TRIES = 8


@dataclass
class Rebalanced:
    """New labels and kinds, and which cells changed (by their labels before and after)."""

    labels: NDArray[np.int64]
    kinds: list[str]
    changed: list[int]
    retired: list[int]


def band_miss(households: NDArray[np.float64], band: tuple[int, int]) -> NDArray[np.float64]:
    """Households below the band minimum or above its maximum (0 inside the band)."""
    low, high = band
    return np.maximum(0.0, low - households) + np.maximum(0.0, households - high)


def out_of_band(
    graph: BlockGraph, labels: NDArray[np.int64], kinds: list[str], band: tuple[int, int]
) -> NDArray[np.int64]:
    """Return the basic cells whose households fall outside ``band``."""
    totals = np.bincount(labels, graph.households, minlength=len(kinds))
    basic = np.asarray(kinds) == "basic"
    return np.flatnonzero(basic & (band_miss(totals.astype(np.float64), band) > 0))


def move_blocks(
    graph: BlockGraph,
    labels: NDArray[np.int64],
    kinds: list[str],
    band: tuple[int, int],
    *,
    max_rounds: int = MAX_MOVE_ROUNDS,
) -> tuple[NDArray[np.int64], set[int]]:
    """Move boundary blocks between basic cells while that reduces the total band miss.

    Returns the new labels and the cells that changed.
    """
    labels = labels.copy()
    basic = np.asarray(kinds) == "basic"
    coo = graph.adjacency.tocoo()
    w = graph.households.astype(np.float64)
    changed: set[int] = set()
    for _ in range(max_rounds):
        totals = np.bincount(labels, w, minlength=len(kinds))
        src_cell, dst_cell = labels[coo.row], labels[coo.col]
        # Block ``row`` may move from its cell to the neighbouring cell of ``col``.
        ok = (src_cell != dst_cell) & basic[src_cell] & basic[dst_cell]
        blocks, src, dst = coo.row[ok], src_cell[ok], dst_cell[ok]
        if len(blocks) == 0:
            break
        bw = w[blocks]
        before = band_miss(totals[src], band) + band_miss(totals[dst], band)
        after = band_miss(totals[src] - bw, band) + band_miss(totals[dst] + bw, band)
        gain = before - after
        useful = np.flatnonzero(gain > 0)
        if len(useful) == 0:
            break
        moved = False
        for pick in useful[np.argsort(-gain[useful], kind="stable")][:CONNECTIVITY_TRIES]:
            b, s = blocks[pick], src[pick]
            rest = np.flatnonzero(labels == s)
            rest = rest[rest != b]
            if len(rest) == 0 or not _connected(graph, rest):
                continue
            labels[b] = dst[pick]
            changed.update((int(s), int(dst[pick])))
            moved = True
            break
        if not moved:
            break
    return labels, changed


def rebalance(
    graph: BlockGraph,
    labels: NDArray[np.int64],
    kinds: list[str],
    band: tuple[int, int],
    *,
    cells: NDArray[np.int64] | None = None,
    seed: int = 0,
) -> Rebalanced:
    """Re-partition the out-of-band cells (or ``cells``) with their basic neighbours.

    Cells outside that pool keep their blocks and labels. Inside each connected pool, the
    re-cut cells take over the pool's old labels, largest household overlap first; extra
    cells get new labels and labels left over are retired (their codes are not reused).
    """
    labels = labels.copy()
    kinds = list(kinds)
    basic = np.asarray(kinds) == "basic"
    bad = out_of_band(graph, labels, kinds, band) if cells is None else np.asarray(cells)
    if len(bad) == 0:
        return Rebalanced(labels, kinds, [], [])
    cell_adj = _cell_adjacency(graph, labels, len(kinds))
    pool = set(bad.tolist())
    for c in bad:
        pool.update(int(d) for d in cell_adj[c] if basic[d])
    pool_cells = np.asarray(sorted(pool), dtype=np.int64)
    in_pool = np.isin(labels, pool_cells)
    nodes = np.flatnonzero(in_pool)
    n_comp, comp = connected_components(graph.adjacency[nodes][:, nodes], directed=False)
    cutter = _Cutter(graph, band, np.random.default_rng(seed))
    changed: list[int] = []
    retired: list[int] = []
    w = graph.households
    for g in range(n_comp):
        group = nodes[comp == g]
        old = np.unique(labels[group])
        k, _ = cells_for(int(w[group].sum()), band)
        parts = cutter.split(group, k)
        # Overlap (households, then blocks) of every new part with every old cell.
        overlap = np.array(
            [
                [w[p][labels[p] == o].sum() + 1e-3 * (labels[p] == o).sum() for o in old]
                for p in parts
            ]
        )
        free = list(old)
        order = np.argsort(-overlap.max(axis=1), kind="stable")
        new_labels: dict[int, int] = {}
        for i in order:  # a handful of parts per pool
            ranked = [old[j] for j in np.argsort(-overlap[i], kind="stable") if old[j] in free]
            if ranked:
                new_labels[int(i)] = int(ranked[0])
                free.remove(ranked[0])
            else:
                new_labels[int(i)] = len(kinds)
                kinds.append("basic")
        for i, part in enumerate(parts):
            target = new_labels[i]
            if not np.array_equal(np.sort(part), np.sort(group[labels[group] == target])):
                changed.append(target)
            labels[part] = target
        retired.extend(int(o) for o in free)
    return Rebalanced(labels, kinds, sorted(set(changed)), retired)


def _connected(graph: BlockGraph, nodes: NDArray[np.int64]) -> bool:
    if len(nodes) <= 1:
        return True
    count, _ = connected_components(graph.adjacency[nodes][:, nodes], directed=False)
    return bool(count == 1)


def _cell_adjacency(
    graph: BlockGraph, labels: NDArray[np.int64], n_cells: int
) -> list[NDArray[np.int64]]:
    coo = graph.adjacency.tocoo()
    a, b = labels[coo.row], labels[coo.col]
    cross = a != b
    pairs = np.unique(np.column_stack([a[cross], b[cross]]), axis=0)
    return [pairs[pairs[:, 0] == c, 1] for c in range(n_cells)]
