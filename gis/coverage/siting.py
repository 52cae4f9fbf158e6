"""Where to put k new facilities: greedy maximal coverage over walking distance.

The coverage matrix (candidate × demand building, True when within the budget) comes from
batched bounded Dijkstra runs from all candidates. Lazy greedy (CELF) then picks the candidate
adding the most uncovered residents, k times; submodularity makes it within (1 - 1/e) of the
optimum in theory, and much closer in practice. :func:`exact_max_coverage` solves the same
problem as an integer programme (HiGHS via scipy) for checks on small instances.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from gis.coverage.isochrones import node_edges, reached_edges
from gis.coverage.reach import DEFAULT_BUDGET_M, nearest_facility, source_batches
from gis.errors import CoverageInputError
from gis.network.graph import WalkGraph
from gis.network.snapping import Snap


@dataclass(frozen=True)
class SitingResult:
    """Picked sites in pick order, with the residents each one newly covers.

    Attributes
    ----------
    sites : numpy.ndarray
        Candidate indices, in the order picked.
    gain : numpy.ndarray
        Residents (demand weight) newly covered by each pick.
    covered : numpy.ndarray
        Per demand building, covered after all picks (including by existing facilities).
    baseline : float
        Weight covered before any pick (existing facilities).
    """

    sites: NDArray[np.int64]
    gain: NDArray[np.float64]
    covered: NDArray[np.bool_]
    baseline: float = 0.0

    @property
    def added(self) -> float:
        """Weight covered by the picks together."""
        return float(self.gain.sum())


def coverage_matrix(
    graph: WalkGraph, candidates: Snap, demand: Snap, *, budget_m: float = DEFAULT_BUDGET_M
) -> Any:
    """Return a boolean CSR ``(candidates, demand)``: True where the walk is within ``budget_m``.

    Parameters
    ----------
    graph : WalkGraph
        The network.
    candidates, demand : Snap
        Candidate sites (e.g. :func:`gis.network.snapping.snap_to_nodes`) and demand buildings.
        Unsnapped candidates cover nothing; unsnapped buildings are never covered.
    budget_m : float
        The circle's walking distance.
    """
    if not budget_m > 0:
        raise CoverageInputError(f"budget_m must be positive, got {budget_m}")
    incidence = node_edges(graph)
    on = np.flatnonzero(demand.snapped)
    by_edge = on[np.argsort(demand.edge[on], kind="stable")]
    edge_start = np.searchsorted(demand.edge[by_edge], np.arange(graph.edge_count + 1))
    rows_out: list[NDArray[np.int64]] = []
    cols_out: list[NDArray[np.int64]] = []
    for batch in source_batches(graph, candidates, limit_m=budget_m):
        r_e, e, d_u, d_v = reached_edges(graph, batch, incidence)
        count = edge_start[e + 1] - edge_start[e]
        pair = np.repeat(np.arange(len(e)), count)
        slot = np.repeat(edge_start[e], count) + (
            np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
        )
        b = by_edge[slot]
        s = demand.offset_m[b]
        d = np.minimum(d_u[pair] + s, d_v[pair] + graph.edge_length_m[e[pair]] - s)
        ok = d <= budget_m
        rows_out.append(batch.sources[r_e[pair[ok]]])
        cols_out.append(b[ok])
    # a candidate also covers buildings on its own edge directly
    kept = np.flatnonzero(candidates.snapped)
    direct_rows, direct_cols = _same_edge_pairs(candidates.take(kept), demand, budget_m=budget_m)
    rows_out.append(kept[direct_rows])
    cols_out.append(direct_cols)
    rows_all = np.concatenate(rows_out)
    cols_all = np.concatenate(cols_out)
    cover = sp.coo_array(
        (np.ones(len(rows_all), dtype=bool), (rows_all, cols_all)),
        shape=(len(candidates), len(demand)),
    ).tocsr()
    cover.sum_duplicates()
    return cover


def greedy_from_matrix(
    cover: Any,
    weights: NDArray[np.float64],
    *,
    k: int,
    covered: NDArray[np.bool_] | None = None,
) -> SitingResult:
    """Pick ``k`` rows of ``cover`` greedily (lazy evaluation), maximising newly covered weight.

    Parameters
    ----------
    cover : scipy.sparse.csr_array
        Boolean ``(candidates, demand)`` coverage.
    weights : numpy.ndarray
        Demand weight (residents) per column.
    k : int
        Number of sites to pick (fewer when no candidate adds anything).
    covered : numpy.ndarray, optional
        Demand already covered by existing facilities.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_cand, n_demand = cover.shape
    if len(weights) != n_demand:
        raise CoverageInputError(f"{len(weights)} weights for {n_demand} demand buildings")
    if k < 1:
        raise CoverageInputError(f"k must be at least 1, got {k}")
    done = np.zeros(n_demand, bool) if covered is None else np.asarray(covered, bool).copy()
    baseline = float(weights[done].sum())
    cover = sp.csr_array(cover)
    indptr, indices = cover.indptr, cover.indices
    open_weight = np.where(done, 0.0, weights)
    initial = cover.astype(np.float64) @ open_weight
    # max-heap of stale upper bounds; a popped bound is exact once re-evaluated this round
    heap = [(-float(g), int(c)) for c, g in enumerate(initial) if g > 0]
    heapq.heapify(heap)
    sites: list[int] = []
    gains: list[float] = []
    stamp = np.full(n_cand, -1)
    while heap and len(sites) < k:
        neg_gain, c = heapq.heappop(heap)
        if stamp[c] == len(sites):
            members = indices[indptr[c] : indptr[c + 1]]
            done[members] = True
            sites.append(c)
            gains.append(-neg_gain)
            continue
        members = indices[indptr[c] : indptr[c + 1]]
        gain = float(weights[members][~done[members]].sum())
        stamp[c] = len(sites)
        if gain > 0:
            heapq.heappush(heap, (-gain, c))
    return SitingResult(
        np.asarray(sites, dtype=np.int64), np.asarray(gains), done, baseline=baseline
    )


def greedy_max_coverage(
    graph: WalkGraph,
    candidates: Snap,
    demand: Snap,
    *,
    weights: NDArray[np.float64],
    k: int,
    budget_m: float = DEFAULT_BUDGET_M,
    existing: Snap | None = None,
) -> SitingResult:
    """Pick ``k`` new sites among ``candidates`` covering the most uncovered residents.

    Parameters
    ----------
    graph : WalkGraph
        The network.
    candidates : Snap
        Candidate sites (network nodes via ``snap_to_nodes``, or a supplied layer).
    demand : Snap
        Demand buildings.
    weights : numpy.ndarray
        Residents per demand building.
    k : int
        Number of sites.
    budget_m : float
        Walking distance of the category's circle.
    existing : Snap, optional
        Existing facilities of the category; what they already cover earns nothing.

    Returns
    -------
    SitingResult
        Picks in order with each pick's gain in residents.
    """
    covered = None
    if existing is not None and existing.snapped.any():
        reach = nearest_facility(graph, existing, demand, budget_m=budget_m)
        covered = np.isfinite(reach.distance_m)
    cover = coverage_matrix(graph, candidates, demand, budget_m=budget_m)
    return greedy_from_matrix(cover, weights, k=k, covered=covered)


def exact_max_coverage(
    cover: Any,
    weights: NDArray[np.float64],
    *,
    k: int,
    covered: NDArray[np.bool_] | None = None,
    time_limit_s: float = 60.0,
) -> SitingResult:
    """Solve maximal coverage exactly as an integer programme (scipy ``milp``, HiGHS).

    maximise ``sum w_i y_i`` subject to ``y_i <= sum_{j covers i} x_j``, ``sum x_j = k``,
    ``x`` binary, ``0 <= y <= 1``. Meant for checks on small instances.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_cand, n_demand = cover.shape
    done = np.zeros(n_demand, bool) if covered is None else np.asarray(covered, bool)
    open_cols = np.flatnonzero(~done & (weights > 0))
    sub = sp.csr_array(cover)[:, open_cols].astype(np.float64)
    m = len(open_cols)
    objective = np.concatenate([np.zeros(n_cand), -weights[open_cols]])
    # y_i - sum_j a_ji x_j <= 0
    link = sp.hstack([-sub.T, sp.eye_array(m)], format="csr")
    choose = sp.hstack([sp.csr_array(np.ones((1, n_cand))), sp.csr_array((1, m))], format="csr")
    k_eff = min(k, n_cand)
    result = milp(
        objective,
        constraints=[
            LinearConstraint(link, -np.inf, 0.0),
            LinearConstraint(choose, k_eff, k_eff),
        ],
        integrality=np.concatenate([np.ones(n_cand), np.zeros(m)]),
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": time_limit_s},
    )
    if result.x is None:
        raise CoverageInputError(f"the exact solver found no solution: {result.message}")
    sites = np.flatnonzero(result.x[:n_cand] > 0.5).astype(np.int64)
    # the optimum has no pick order: report the marginal gains in candidate order (k is small)
    rows = sp.csr_array(cover)
    final = done.copy()
    gains = np.zeros(len(sites))
    for i, site in enumerate(sites):
        members = rows.indices[rows.indptr[site] : rows.indptr[site + 1]]
        gains[i] = weights[members][~final[members]].sum()
        final[members] = True
    return SitingResult(sites, gains, final, baseline=float(weights[done].sum()))


def _same_edge_pairs(
    sites: Snap, demand: Snap, *, budget_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(site, building) pairs on one edge within ``budget_m`` along it, vectorised."""
    on = np.flatnonzero(demand.snapped)
    by_edge = on[np.argsort(demand.edge[on], kind="stable")]
    edges = demand.edge[by_edge]
    lo = np.searchsorted(edges, sites.edge, side="left")
    hi = np.searchsorted(edges, sites.edge, side="right")
    count = hi - lo
    site = np.repeat(np.arange(len(sites)), count)
    slot = np.repeat(lo, count) + (
        np.arange(len(site)) - np.repeat(np.cumsum(count) - count, count)
    )
    b = by_edge[slot]
    ok = np.abs(demand.offset_m[b] - sites.offset_m[site]) <= budget_m
    return site[ok].astype(np.int64), b[ok].astype(np.int64)
