"""Siting on the database: pick k new sites for a category of a stored run, greedily.

Demand is the run's buildings weighted by residents; what the category's existing facilities
already cover earns nothing. Candidates are network nodes (by default those that can still add
anyone: within the circle's straight-line radius of an uncovered resident, since no walk is
shorter than the straight line) or a supplied layer of points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from gis.coverage.context import CoverageParams, Progress, quiet
from gis.coverage.queries import get_run
from gis.coverage.reach import nearest_facility
from gis.coverage.service import prepare_run
from gis.coverage.siting import greedy_max_coverage
from gis.errors import ConflictError, CoverageInputError
from gis.network.graph import WalkGraph
from gis.network.snapping import Snap, snap_points, snap_to_nodes

MAX_SITES = 100


@dataclass(frozen=True)
class SitePick:
    """One picked site, in pick order, with the residents it newly covers."""

    rank: int
    lon: float
    lat: float
    gain_residents: float
    cumulative_residents: float
    node_id: int | None = None
    candidate: int | None = None


@dataclass(frozen=True)
class SitingReport:
    """Greedy maximal-coverage picks for one category of one run."""

    run_id: int
    category: str
    circle_m: float
    k: int
    candidates: str
    candidate_count: int
    residents: float
    covered_before: float
    picks: list[SitePick] = field(default_factory=list)
    unsnapped_candidates: list[int] = field(default_factory=list)

    @property
    def covered_after(self) -> float:
        """Residents covered by the existing facilities and the picks."""
        return self.covered_before + sum(p.gain_residents for p in self.picks)

    def _share(self, residents: float) -> float | None:
        return round(residents / self.residents, 6) if self.residents else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, with shares and the picks as a GeoJSON collection."""
        out = asdict(self)
        out["covered_after"] = self.covered_after
        out["share_before"] = self._share(self.covered_before)
        out["share_after"] = self._share(self.covered_after)
        out["picks"] = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                    "properties": {k: v for k, v in asdict(p).items() if k not in {"lon", "lat"}},
                }
                for p in self.picks
            ],
        }
        return out


def site_facilities(
    session: Session,
    run_id: int,
    *,
    category: str,
    k: int,
    candidate_points: NDArray[np.object_] | None = None,
    progress: Progress = quiet,
) -> SitingReport:
    """Pick ``k`` new sites for ``category`` on the network and inputs of run ``run_id``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The database session (nothing is written).
    run_id : int
        A stored run; its network, walking budget and snapping limit are used.
    category : str
        A checklist category; its circle is the covering distance.
    k : int
        Number of sites (1..100); fewer when no candidate adds anyone.
    candidate_points : numpy.ndarray, optional
        Candidate sites as EPSG:4326 shapely Points; default: network nodes that can still
        cover an uncovered resident.

    Raises
    ------
    ConflictError
        The run's network has changed since (its picks would not match the run).
    CoverageInputError
        ``k`` out of range, or an unknown category.
    """
    if not 1 <= k <= MAX_SITES:
        raise CoverageInputError(f"k must be between 1 and {MAX_SITES}, got {k}")
    run = get_run(session, run_id)
    params = replace(CoverageParams.from_dict(run.params), categories=(category,))
    ctx = prepare_run(session, params, progress=progress)
    if ctx.network_version != run.network_version:
        raise ConflictError(
            f"coverage run {run_id} used network version {run.network_version}, but "
            f"{params.network!r} is now version {ctx.network_version}: start a new run"
        )
    graph = ctx.graph
    radius = ctx.circle_m[category]
    weights = ctx.buildings.residents
    existing = ctx.facility_snaps[category]
    covered = np.isfinite(
        nearest_facility(graph, existing, ctx.building_snaps, budget_m=radius).distance_m
    )
    unsnapped: list[int] = []
    if candidate_points is None:
        source = "nodes"
        open_demand = np.flatnonzero(~covered & (weights > 0) & ctx.building_snaps.snapped)
        near = graph.to_metric(ctx.buildings.points[open_demand])
        _, nodes = graph.node_tree.query(near, predicate="dwithin", distance=radius)
        node_index = np.unique(nodes).astype(np.int64)
        candidates = snap_to_nodes(graph, node_index)
    else:
        source = "layer"
        candidates = snap_points(
            graph, graph.to_metric(candidate_points), max_distance_m=params.max_snap_m
        )
        unsnapped = candidates.unsnapped.tolist()
        node_index = np.full(len(candidate_points), -1, dtype=np.int64)
    progress("siting", 0, 1)
    result = greedy_max_coverage(
        graph,
        candidates,
        ctx.building_snaps,
        weights=weights,
        k=k,
        budget_m=radius,
        existing=existing if existing.snapped.any() else None,
    )
    progress("siting", 1, 1)
    picked_xy = _candidate_lonlat(graph, candidates, result.sites)
    cumulative = np.cumsum(result.gain)
    picks = [
        SitePick(
            rank=rank + 1,
            lon=round(float(picked_xy[rank, 0]), 7),
            lat=round(float(picked_xy[rank, 1]), 7),
            gain_residents=float(result.gain[rank]),
            cumulative_residents=float(cumulative[rank]),
            node_id=int(graph.node_ids[node_index[site]]) if source == "nodes" else None,
            candidate=None if source == "nodes" else int(site),
        )
        for rank, site in enumerate(result.sites)
    ]
    return SitingReport(
        run_id=run_id,
        category=category,
        circle_m=radius,
        k=k,
        candidates=source,
        candidate_count=int(candidates.snapped.sum()),
        residents=float(weights.sum()),
        covered_before=result.baseline,
        picks=picks,
        unsnapped_candidates=unsnapped,
    )


def _candidate_lonlat(
    graph: WalkGraph, candidates: Snap, sites: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Lon/lat of the snapped position of each picked candidate."""
    if len(sites) == 0:
        return np.empty((0, 2))
    edge = candidates.edge[sites]
    along = candidates.offset_m[sites] / graph.geometry_scale[edge]
    points = shapely.line_interpolate_point(graph.edge_geometry[edge], along)
    return np.asarray(shapely.get_coordinates(graph.to_geographic(points)), dtype=np.float64)
