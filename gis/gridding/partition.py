"""Partition a block adjacency graph into contiguous, compact cells with households in a band.

The graph's nodes are blocks (households, area, centroid in metres), its edges the shared
boundaries. A component with ``W`` households gets ``k`` cells, ``k`` chosen so ``W / k`` is
nearest the middle of the band, and is cut in two recursively (``k // 2`` and ``k - k // 2``
cells). Each cut is the best of two kinds of candidates, all scored at once with numpy:

* sweep cuts: blocks ordered along 12 directions, split where the household total suits the
  two sides, kept when both sides are connected (scipy connected components);
* tree cuts: every edge of a few geometric spanning trees (scipy MST), whose sides are
  always connected; subtree sums come from one accumulation per tree level.

A candidate is feasible when each side can still hold its cells inside the band; among the
feasible ones the most compact wins (normalised moment of inertia of both sides, which a disc
minimises). Blocks that must stand alone (a building above the band: a dedicated 专属 cell; a
large area without households) are taken out first; what they cut off is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

from gis.errors import InvalidInputError

DEFAULT_BAND = (300, 500)
SWEEP_DIRECTIONS = 12
SWEEP_POSITIONS = 5
SPANNING_TREES = 6
# Balance matters less than shape once both sides are feasible; this weighs the deviation of a
# side from its ideal share (as a fraction of the total) against the inertia ratio.
BALANCE_WEIGHT = 2.0


@dataclass
class BlockGraph:
    """Blocks as graph nodes (metric CRS, metres) and shared boundaries as weighted edges."""

    households: NDArray[np.int64]
    area_m2: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    adjacency: csr_matrix
    perimeter_m: NDArray[np.float64]

    @classmethod
    def from_edges(
        cls,
        households: NDArray[np.int64],
        area_m2: NDArray[np.float64],
        xy: NDArray[np.float64],
        i: NDArray[np.int64],
        j: NDArray[np.int64],
        shared_m: NDArray[np.float64],
        *,
        perimeter_m: NDArray[np.float64] | None = None,
    ) -> BlockGraph:
        """Build the graph from node arrays and undirected edges ``(i, j, shared length)``.

        ``perimeter_m`` is each block's perimeter (metres); without it a block counts as a
        disc of its area.
        """
        n = len(households)
        area_m2 = np.asarray(area_m2, dtype=np.float64)
        if perimeter_m is None:
            perimeter_m = 2 * np.sqrt(np.pi * area_m2)
        matrix = coo_matrix(
            (np.r_[shared_m, shared_m], (np.r_[i, j], np.r_[j, i])), shape=(n, n)
        ).tocsr()
        return cls(
            np.asarray(households, dtype=np.int64),
            area_m2,
            np.asarray(xy[:, 0], dtype=np.float64),
            np.asarray(xy[:, 1], dtype=np.float64),
            matrix,
            np.asarray(perimeter_m, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.households)


@dataclass
class Partition:
    """Cell label per block, the kind of each cell, and every exception with its reason."""

    labels: NDArray[np.int64]
    kinds: list[str]
    exceptions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cell_count(self) -> int:
        """Number of cells."""
        return len(self.kinds)


def partition_blocks(
    graph: BlockGraph,
    *,
    band: tuple[int, int] = DEFAULT_BAND,
    alone: NDArray[np.bool_] | None = None,
    alone_kind: list[str] | None = None,
    alone_reason: list[str] | None = None,
    seed: int = 0,
) -> Partition:
    """Partition blocks into contiguous cells whose households fall in ``band``.

    Parameters
    ----------
    graph : BlockGraph
        Blocks and their adjacency.
    band : (int, int)
        Lowest and highest households of a basic cell (inclusive).
    alone : ndarray of bool, optional
        Blocks that form a cell by themselves (dedicated buildings, empty land, unsplittable
        blocks); ``alone_kind`` and ``alone_reason`` give each one's cell kind and why.
    seed : int
        Seed of the spanning-tree perturbations (results are deterministic for a seed).

    Returns
    -------
    Partition
        ``labels[i]`` is the cell of block ``i``; ``exceptions`` explains every cell outside
        the band and every block that had to go somewhere unusual.
    """
    low, high = band
    if not (0 <= low <= high) or high <= 0:
        raise InvalidInputError(f"partition: band {band} must satisfy 0 <= low <= high, high > 0")
    n = len(graph)
    labels = np.full(n, -1, dtype=np.int64)
    kinds: list[str] = []
    exceptions: list[dict[str, Any]] = []
    alone = np.zeros(n, dtype=bool) if alone is None else np.asarray(alone, dtype=bool)
    alone_idx = np.flatnonzero(alone)
    for rank, b in enumerate(alone_idx):
        labels[b] = len(kinds)
        kinds.append(alone_kind[rank] if alone_kind else "dedicated")
        if alone_reason:
            exceptions.append({"cell": int(labels[b]), "reason": alone_reason[rank]})
    rest = np.flatnonzero(~alone)
    cutter = _Cutter(graph, band, np.random.default_rng(seed))
    if len(rest):
        n_comp, comp = connected_components(graph.adjacency[rest][:, rest], directed=False)
        for c in range(n_comp):
            nodes = rest[comp == c]
            total = int(graph.households[nodes].sum())
            if total < low and len(alone_idx):
                host = _neighbour_cell(graph, nodes, labels)
                if host >= 0:
                    labels[nodes] = host
                    exceptions.append(
                        {
                            "cell": int(host),
                            "reason": f"{len(nodes)} block(s) with {total} households are cut "
                            "off by this cell and joined to it",
                        }
                    )
                    continue
            k, reason = cells_for(total, band)
            first = len(kinds)
            for part in cutter.split(nodes, k):
                labels[part] = len(kinds)
                kinds.append("basic")
            if reason:
                exceptions.append({"cells": list(range(first, len(kinds))), "reason": f"{reason}"})
    return Partition(labels, kinds, exceptions)


def cells_for(total: int, band: tuple[int, int]) -> tuple[int, str | None]:
    """Return how many cells ``total`` households make, and why the band cannot hold, if so.

    Examples
    --------
    >>> cells_for(1200, (300, 500))
    (3, None)
    >>> cells_for(520, (300, 500))[0]
    1
    """
    low, high = band
    if total <= 0:
        return 1, "no households"
    k_min, k_max = math.ceil(total / high), (total // low if low > 0 else total)
    target = (low + high) / 2
    if k_min <= k_max:
        return min(max(round(total / target), k_min), k_max), None
    # No k puts every cell in the band: take the k whose cells miss it by the least.
    options = [k for k in (k_max, k_min) if k >= 1]
    miss = [max(0.0, low - total / k) + max(0.0, total / k - high) for k in options]
    k = options[int(np.argmin(miss))]
    if total < low:
        why = f"{total} households are fewer than the band minimum {low}"
    else:
        why = f"{total} households cannot be split into cells of {low}-{high}"
    return k, why


def _neighbour_cell(graph: BlockGraph, nodes: NDArray[np.int64], labels: NDArray[np.int64]) -> int:
    """Return the assigned cell sharing the longest boundary with ``nodes`` (-1 if none)."""
    sub = graph.adjacency[nodes].tocoo()
    cells = labels[sub.col]
    known = cells >= 0
    if not known.any():
        return -1
    sums = np.bincount(cells[known], weights=sub.data[known])
    return int(np.argmax(sums))


class _Cutter:
    """Recursive bisection of connected node sets into ``k`` cells."""

    def __init__(self, graph: BlockGraph, band: tuple[int, int], rng: np.random.Generator):
        self.g = graph
        self.low, self.high = band
        self.rng = rng
        a = graph.area_m2
        # Every edge once (i < j); a node set's subgraph is then a mask over these arrays,
        # much cheaper than slicing the sparse matrix on each bisection.
        coo = graph.adjacency.tocoo()
        upper = coo.row < coo.col
        self.edge_i = coo.row[upper].astype(np.int64)
        self.edge_j = coo.col[upper].astype(np.int64)
        self.local = np.full(len(graph), -1, dtype=np.int64)
        # Per-node moment sums; a block counts as a disc of its own area (inertia a²/2π).
        self.moments = np.column_stack(
            [a, a * graph.x, a * graph.y, a * (graph.x**2 + graph.y**2) + a * a / (2 * np.pi)]
        )

    def split(self, nodes: NDArray[np.int64], k: int) -> list[NDArray[np.int64]]:
        out: list[NDArray[np.int64]] = []
        stack = [(nodes, k)]
        while stack:
            part, cells = stack.pop()
            if cells <= 1 or len(part) == 1:
                out.append(part)
                continue
            left, right = self._bisect(part, cells)
            stack.append((left, cells // 2))
            stack.append((right, cells - cells // 2))
        return out

    def _bisect(
        self, nodes: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Cut ``nodes`` into a side for ``k // 2`` cells and one for the rest."""
        k_left = k // 2
        w = self.g.households[nodes].astype(np.float64)
        total = float(w.sum())
        self.local[nodes] = np.arange(len(nodes))
        li, lj = self.local[self.edge_i], self.local[self.edge_j]
        inside = (li >= 0) & (lj >= 0)
        rows, cols = li[inside], lj[inside]
        self.local[nodes] = -1
        masks = np.concatenate(
            [
                self._sweep_cuts(nodes, rows, cols, w, total * k_left / k),
                *self._tree_cuts(nodes, rows, cols),
            ],
            axis=0,
        )
        if len(masks) == 0:  # no edges at all: peel off the heaviest block
            mask = np.zeros(len(nodes), dtype=bool)
            mask[int(np.argmax(w))] = True
            return nodes[mask], nodes[~mask]
        scores = self._score(nodes, masks, total, k, k_left)
        best = masks[int(np.argmin(scores))]
        return nodes[best], nodes[~best]

    def _sweep_cuts(
        self,
        nodes: NDArray[np.int64],
        rows: NDArray[np.int64],
        cols: NDArray[np.int64],
        w: NDArray[np.float64],
        want: float,
    ) -> NDArray[np.bool_]:
        """Prefixes of the nodes ordered along several directions, kept when both sides connect."""
        n = len(nodes)
        x, y = self.g.x[nodes], self.g.y[nodes]
        thetas = np.linspace(0, np.pi, SWEEP_DIRECTIONS, endpoint=False)
        proj = x[None, :] * np.cos(thetas)[:, None] + y[None, :] * np.sin(thetas)[:, None]
        order = np.argsort(proj, axis=1, kind="stable")
        cum = np.cumsum(w[order], axis=1)[:, :-1]
        if cum.shape[1] == 0:
            return np.zeros((0, n), dtype=bool)
        positions = np.argsort(np.abs(cum - want), axis=1, kind="stable")[:, :SWEEP_POSITIONS]
        # rank[d, v] = place of node v along direction d; a prefix is rank <= position.
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(len(thetas), 0), axis=1)
        masks = (rank[:, None, :] <= positions[:, :, None]).reshape(-1, n)
        # Drop repeated cuts (directions often agree); rows compared as packed bytes.
        packed = np.packbits(masks, axis=1)
        _, first = np.unique(
            np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel(),
            return_index=True,
        )
        masks = masks[np.sort(first)]
        return masks[_both_sides_connected(masks, rows, cols)]

    def _tree_cuts(
        self, nodes: NDArray[np.int64], rows: NDArray[np.int64], cols: NDArray[np.int64]
    ) -> list[NDArray[np.bool_]]:
        """Both sides of every edge of a few perturbed geometric spanning trees.

        The trees are grown together: one minimum spanning forest over as many copies of the
        graph as there are trees, and one breadth-first pass from a super-root joined to node 0
        of every copy (one scipy call each instead of one per tree: the calls' own overhead
        was most of the partition's time).
        """
        n = len(nodes)
        if len(rows) == 0:
            return []
        x, y = self.g.x[nodes], self.g.y[nodes]
        dist = np.hypot(x[rows] - x[cols], y[rows] - y[cols]) + 1.0
        trees = SPANNING_TREES
        noise = np.ones((trees, len(rows)))
        noise[1:] = self.rng.uniform(0.5, 1.5, (trees - 1, len(rows)))
        shift = np.repeat(np.arange(trees) * n, len(rows))
        size = trees * n
        forest = minimum_spanning_tree(
            coo_matrix(
                (
                    (dist[None, :] * noise).ravel(),
                    (np.tile(rows, trees) + shift, np.tile(cols, trees) + shift),
                ),
                shape=(size, size),
            )
        ).tocoo()
        root = size  # the super-root
        starts = np.arange(trees) * n
        joined = coo_matrix(
            (
                np.concatenate([forest.data, np.ones(trees)]),
                (
                    np.concatenate([forest.row, np.full(trees, root)]),
                    np.concatenate([forest.col, starts]),
                ),
            ),
            shape=(size + 1, size + 1),
        )
        _, predecessors = breadth_first_order(joined, root, directed=False)
        parent = predecessors[:size].reshape(trees, n).astype(np.int64)
        spanning = (parent >= 0).sum(axis=1) == n  # every node reached in that copy
        parent = np.where(parent == root, -1, parent - (np.arange(trees) * n)[:, None])
        parent[:, 0] = -1
        if not spanning.any():
            return []
        return [_subtree_masks(parent[spanning])]

    def _score(
        self,
        nodes: NDArray[np.int64],
        masks: NDArray[np.bool_],
        total: float,
        k: int,
        k_left: int,
    ) -> NDArray[np.float64]:
        """Lower is better: infeasible cuts by their band miss, feasible ones by shape."""
        w = self.g.households[nodes].astype(np.float64)
        left_w = masks.astype(np.float64) @ w
        right_w = total - left_w
        k_right = k - k_left
        miss = _range_miss(left_w, k_left, self.low, self.high) + _range_miss(
            right_w, k_right, self.low, self.high
        )
        m = self.moments[nodes]
        left_m = masks.astype(np.float64) @ m
        right_m = m.sum(axis=0)[None, :] - left_m
        shape = np.maximum(_inertia_ratio(left_m), _inertia_ratio(right_m))
        balance = np.abs(left_w - total * k_left / k) / max(total, 1.0)
        # Infeasible cuts rank after every feasible one, ordered by how far they miss.
        return np.where(miss > 0, 1e6 + miss, shape + BALANCE_WEIGHT * balance)


def _both_sides_connected(
    masks: NDArray[np.bool_], rows: NDArray[np.int64], cols: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """For each mask over a connected graph, True when both sides are non-empty and connected.

    All masks are checked with one connected-components call on a block-diagonal graph
    (one copy of the graph per mask, without the edges the mask cuts).
    """
    m, n = masks.shape
    if m == 0:
        return np.zeros(0, dtype=bool)
    keep = masks[:, rows] == masks[:, cols]
    which, edge = np.nonzero(keep)
    offset = which * n
    graph = coo_matrix(
        (np.ones(len(edge)), (rows[edge] + offset, cols[edge] + offset)), shape=(m * n, m * n)
    )
    _, labels = connected_components(graph, directed=False)
    ordered = np.sort(labels.reshape(m, n), axis=1)
    components = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)
    sizes = masks.sum(axis=1)
    return np.asarray((components == 2) & (sizes > 0) & (sizes < n), dtype=bool)


def _subtree_masks(parent: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Return one row per non-root node of each tree: the nodes of its subtree.

    ``parent`` holds one row per tree over the same ``n`` nodes (root 0, -1 at the root).
    """
    trees, n = parent.shape
    # masks[t, c, v] is True when c is an ancestor-or-self of v: walk every node up in lockstep.
    masks = np.zeros((trees, n, n), dtype=bool)
    tree = np.arange(trees)[:, None]
    current = np.tile(np.arange(n), (trees, 1))
    masks[tree, current, current] = True
    active = parent[tree, current] >= 0
    while active.any():  # one step per tree level, all nodes of all trees at once
        current = np.where(active, parent[tree, current], current)
        t, v = np.nonzero(active)
        masks[t, current[t, v], v] = True
        active &= parent[tree, current] >= 0
    return masks[:, 1:, :].reshape(-1, n)


def _range_miss(
    weight: NDArray[np.float64], cells: int, low: int, high: int
) -> NDArray[np.float64]:
    return np.maximum(0.0, cells * low - weight) + np.maximum(0.0, weight - cells * high)


def _inertia_ratio(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Moment of inertia about the centroid over that of a disc of the same area (≥ 1)."""
    a = np.maximum(m[:, 0], 1e-9)
    inertia = m[:, 3] - (m[:, 1] ** 2 + m[:, 2] ** 2) / a
    return np.asarray(inertia / (a * a / (2 * np.pi)), dtype=np.float64)
