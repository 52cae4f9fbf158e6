"""Rebalance a stored plan: re-cut only the out-of-band cells and their neighbours.

Pure (metric CRS, metres). The street's blocks are rebuilt from roads and buildings and clipped
to the pooled cells, so cells outside the pool keep their exact geometry and the pool's new
cells tile exactly the area the old ones covered. Re-cut cells keep their codes where they
overlap most; extra cells are new, leftover codes are retired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from gis.errors import InvalidInputError
from gis.gridding.adjacency import SNAP_M, dissolve, shared_edges, single_parts
from gis.gridding.balanced import Buildings
from gis.gridding.blocks import assign_points, building_blocks
from gis.gridding.compact import improve_compactness
from gis.gridding.partition import BlockGraph
from gis.gridding.rebalance import band_miss, move_blocks, rebalance

REPLAN_ATTEMPTS = 5


@dataclass
class Replanned:
    """Cells whose geometry changed (by code), new cells, retired codes, and the pool."""

    changed: dict[str, Polygon] = field(default_factory=dict)
    new: list[Polygon] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    pool: list[str] = field(default_factory=list)
    out_of_band: list[str] = field(default_factory=list)


def rebalance_cells(
    codes: list[str],
    cells: NDArray[np.object_],
    kinds: list[str],
    street: Polygon | MultiPolygon,
    roads: NDArray[np.object_] | None,
    buildings: Buildings,
    *,
    band: tuple[int, int],
    seed: int = 0,
) -> Replanned:
    """Re-partition the basic cells outside ``band`` together with their basic neighbours.

    Parameters
    ----------
    codes, cells, kinds
        The plan's cells (metric CRS) with their codes and kinds.
    street, roads, buildings
        The street boundary, its roads and its buildings, same CRS.
    band
        Households of a basic cell, inclusive.

    Raises
    ------
    InvalidInputError
        When every basic cell is already inside the band.
    """
    cells = np.asarray(cells, dtype=object)
    basic = np.asarray(kinds) == "basic"
    owner = assign_points(cells, buildings.anchors)
    has = owner >= 0
    totals = np.bincount(owner[has], buildings.households[has], len(cells)).astype(np.float64)
    bad = np.flatnonzero(basic & (band_miss(totals, band) > 0))
    if len(bad) == 0:
        raise InvalidInputError(
            f"every basic cell holds {band[0]}-{band[1]} households: nothing to rebalance"
        )
    i, j, _ = shared_edges(cells)
    src, dst = np.r_[i, j], np.r_[j, i]
    neighbours = dst[np.isin(src, bad) & basic[dst]]
    pool_set = set(bad.tolist()) | set(neighbours.tolist())
    pool = np.asarray(sorted(pool_set), dtype=np.int64)

    blocks = building_blocks(
        street,
        roads,
        buildings.footprints,
        buildings.anchors,
        buildings.households,
        max_households=max(band[0] // 2, 1),
    ).geoms
    tree = shapely.STRtree(blocks)
    cell_idx, block_idx = tree.query(cells[pool], predicate="intersects")
    pieces = shapely.intersection(blocks[block_idx], cells[pool][cell_idx])
    # Cells come back from storage with edges that only nearly coincide: snap to 1 mm.
    pieces, source = single_parts(shapely.set_precision(pieces, SNAP_M))
    keep = shapely.area(pieces) > 0.01
    pieces, label = pieces[keep], cell_idx[source[keep]]

    # Only the buildings of the pool's cells: `assign_points` gives a point outside every
    # piece the nearest piece, which would pile the rest of the street onto the pool's edge.
    in_pool = np.flatnonzero(np.isin(owner, pool))
    piece_owner = assign_points(pieces, buildings.anchors[in_pool])
    households = np.bincount(piece_owner, buildings.households[in_pool], len(pieces))
    a, b, shared = shared_edges(pieces)
    centre = shapely.point_on_surface(pieces)
    graph = BlockGraph.from_edges(
        households.astype(np.int64),
        shapely.area(pieces),
        np.column_stack([shapely.get_x(centre), shapely.get_y(centre)]),
        a,
        b,
        shared,
        perimeter_m=shapely.length(pieces),
    )
    local_kinds = ["basic"] * len(pool)
    local_bad = np.flatnonzero(np.isin(pool, bad))
    # A pool of a few dozen blocks can be cut badly by one seed: try a few, keep the cut
    # that leaves fewest households outside the band (the first clean one ends the search).
    best: tuple[float, NDArray[np.int64], list[str]] | None = None
    for attempt in range(REPLAN_ATTEMPTS):
        redone = rebalance(graph, label, local_kinds, band, cells=local_bad, seed=seed + attempt)
        tried, _ = move_blocks(graph, redone.labels, redone.kinds, band)
        totals = np.bincount(tried, graph.households, len(redone.kinds)).astype(np.float64)
        present_cells = np.unique(tried)
        miss = float(band_miss(totals[present_cells], band).sum())
        if best is None or miss < best[0]:
            best = (miss, tried, redone.kinds)
        if miss == 0:
            break
    assert best is not None
    _, labels, pool_kinds = best
    labels = improve_compactness(graph, labels, pool_kinds, band)

    out = Replanned(pool=[codes[p] for p in pool], out_of_band=[codes[p] for p in bad])
    present = np.unique(labels)
    geoms = dissolve(pieces, np.searchsorted(present, labels))
    for lab, geom in zip(present, geoms, strict=True):
        polygon = _one_polygon(geom)
        if lab < len(pool):
            old = cells[pool[lab]]
            if not shapely.equals(polygon, old):
                out.changed[codes[pool[lab]]] = polygon
        else:
            out.new.append(polygon)
    out.retired = [codes[pool[lab]] for lab in range(len(pool)) if lab not in set(present)]
    return out


def _one_polygon(geom: shapely.Geometry) -> Polygon:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 0.01]
    if len(parts) != 1:
        raise InvalidInputError(
            f"rebalancing produced a cell in {len(parts)} pieces; edit the cells by hand"
        )
    return parts[0]
