"""15-minute coverage: reachability, isochrones, coverage statistics, gaps and siting."""

from gis.coverage.isochrones import (
    DEFAULT_CIRCLES_M,
    DEFAULT_ISOCHRONE_BUFFER_M,
    euclidean_buffers,
    isochrone_polygons,
    reached_network,
)
from gis.coverage.reach import (
    CIRCLE_MINUTES,
    DEFAULT_BUDGET_M,
    DEFAULT_SPEED_M_PER_MIN,
    Reach,
    circle_distance_m,
    euclidean_nearest,
    nearest_facility,
    node_distances,
    reach_all,
)
from gis.coverage.siting import (
    SitingResult,
    coverage_matrix,
    exact_max_coverage,
    greedy_from_matrix,
    greedy_max_coverage,
)
from gis.coverage.stats import (
    NATIONAL_TARGET_SHARE,
    completeness,
    completeness_table,
    coverage_table,
    gap_counts,
    gap_polygons,
)

__all__ = [
    "CIRCLE_MINUTES",
    "DEFAULT_BUDGET_M",
    "DEFAULT_CIRCLES_M",
    "DEFAULT_ISOCHRONE_BUFFER_M",
    "DEFAULT_SPEED_M_PER_MIN",
    "NATIONAL_TARGET_SHARE",
    "Reach",
    "SitingResult",
    "circle_distance_m",
    "completeness",
    "completeness_table",
    "coverage_matrix",
    "coverage_table",
    "euclidean_buffers",
    "euclidean_nearest",
    "exact_max_coverage",
    "gap_counts",
    "gap_polygons",
    "greedy_from_matrix",
    "greedy_max_coverage",
    "isochrone_polygons",
    "nearest_facility",
    "node_distances",
    "reach_all",
    "reached_network",
]
