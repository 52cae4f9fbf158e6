"""Household-balanced, road-following cells for one area: blocks → graph → partition → repair.

Pure (no database): geometries in a metric CRS (metres), buildings as arrays. `generate.py`
loads the inputs and stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from gis.gridding.adjacency import GeomArray, dissolve, shared_edges
from gis.gridding.blocks import DEFAULT_MIN_BLOCK_M2, building_blocks
from gis.gridding.compact import improve_compactness
from gis.gridding.partition import DEFAULT_BAND, BlockGraph, partition_blocks
from gis.gridding.rebalance import move_blocks, out_of_band, rebalance

# Land without households larger than this (m²: 10 ha, a park or palace) is a cell of its own.
DEFAULT_EMPTY_AREA_M2 = 100_000.0
REPAIR_ATTEMPTS = 3


@dataclass(frozen=True)
class Buildings:
    """Building footprints and anchors (metric CRS) with their counts, one entry each."""

    footprints: NDArray[np.object_]
    anchors: NDArray[np.object_]
    households: NDArray[np.int64]
    residents: NDArray[np.int64]
    dwellings: NDArray[np.int64]
    ids: NDArray[np.int64]

    @classmethod
    def empty(cls) -> Buildings:
        """No buildings."""
        none = np.zeros(0, dtype=object)
        zero = np.zeros(0, dtype=np.int64)
        return cls(none, none, zero, zero, zero, zero)

    def __len__(self) -> int:
        return len(self.footprints)


@dataclass
class BalancedCells:
    """Cells of one area with their kind and the reasons for every exception."""

    geoms: GeomArray
    kinds: list[str]
    reasons: dict[int, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class StreetBlocks:
    """The blocks of an area as a graph, and which blocks must be cells by themselves."""

    geoms: GeomArray
    graph: BlockGraph
    alone: NDArray[np.bool_]
    alone_kinds: list[str]
    alone_reasons: list[str]
    unsplittable: int


def street_blocks(
    area: Polygon | MultiPolygon,
    roads: NDArray[np.object_] | None,
    buildings: Buildings,
    *,
    band: tuple[int, int] = DEFAULT_BAND,
    block_max_households: int | None = None,
    min_block_m2: float = DEFAULT_MIN_BLOCK_M2,
    empty_area_m2: float = DEFAULT_EMPTY_AREA_M2,
) -> StreetBlocks:
    """Cut ``area`` into blocks and build their adjacency graph (see `balanced_cells`)."""
    low, _ = band
    limit = block_max_households or max(low // 2, 1)
    blocks = building_blocks(
        area,
        roads,
        buildings.footprints,
        buildings.anchors,
        buildings.households,
        max_households=limit,
        min_block_m2=min_block_m2,
    )
    geoms = blocks.geoms
    n = len(geoms)
    owner = blocks.building_block
    has = owner >= 0
    households = np.bincount(owner[has], buildings.households[has], n).astype(np.int64)
    biggest = np.zeros(n, dtype=np.int64)
    np.maximum.at(biggest, owner[has], buildings.households[has])
    area_m2 = shapely.area(geoms)
    i, j, shared = shared_edges(geoms)
    centre = shapely.point_on_surface(geoms)
    xy = np.column_stack([shapely.get_x(centre), shapely.get_y(centre)])
    graph = BlockGraph.from_edges(
        households, area_m2, xy, i, j, shared, perimeter_m=shapely.length(geoms)
    )
    alone, kinds, reasons = _alone_blocks(
        households, biggest, area_m2, blocks.unsplittable, band, empty_area_m2
    )
    return StreetBlocks(geoms, graph, alone, kinds, reasons, len(blocks.unsplittable))


def balanced_cells(
    area: Polygon | MultiPolygon,
    roads: NDArray[np.object_] | None,
    buildings: Buildings,
    *,
    band: tuple[int, int] = DEFAULT_BAND,
    block_max_households: int | None = None,
    min_block_m2: float = DEFAULT_MIN_BLOCK_M2,
    empty_area_m2: float = DEFAULT_EMPTY_AREA_M2,
    seed: int = 0,
) -> BalancedCells:
    """Partition ``area`` into contiguous, compact, road-following cells in the household band.

    Parameters
    ----------
    area : Polygon or MultiPolygon
        Street or community boundary in a metric CRS (metres).
    roads : ndarray of LineString, optional
        Roads, rivers and railways in the same CRS: block edges follow them.
    buildings : Buildings
        Footprints and anchors in the same CRS, with households per building.
    band : (int, int)
        Households of a basic cell, inclusive.
    block_max_households : int, optional
        Blocks holding more are split between buildings (default: half the band minimum,
        fine enough for the partition to balance cells).
    empty_area_m2 : float
        A block without households at least this large (m²) becomes its own cell.
    seed : int
        Seed of the partition's randomised candidates.
    """
    blocks = street_blocks(
        area,
        roads,
        buildings,
        band=band,
        block_max_households=block_max_households,
        min_block_m2=min_block_m2,
        empty_area_m2=empty_area_m2,
    )
    return partition_street(blocks, band=band, seed=seed)


def partition_street(
    blocks: StreetBlocks, *, band: tuple[int, int] = DEFAULT_BAND, seed: int = 0
) -> BalancedCells:
    """Partition prepared blocks, repair the band, improve compactness, dissolve to cells."""
    graph = blocks.graph
    part = partition_blocks(
        graph,
        band=band,
        alone=blocks.alone,
        alone_kind=blocks.alone_kinds,
        alone_reason=blocks.alone_reasons,
        seed=seed,
    )
    labels, cell_kinds = part.labels, part.kinds
    before = len(out_of_band(graph, labels, cell_kinds, band))
    for attempt in range(REPAIR_ATTEMPTS):
        labels, _ = move_blocks(graph, labels, cell_kinds, band)
        if len(out_of_band(graph, labels, cell_kinds, band)) == 0:
            break
        redone = rebalance(graph, labels, cell_kinds, band, seed=seed + attempt + 1)
        labels, cell_kinds = redone.labels, redone.kinds
    labels, _ = move_blocks(graph, labels, cell_kinds, band)
    labels = improve_compactness(graph, labels, cell_kinds, band)

    # Rebalancing may retire labels: number the surviving cells 0..k-1.
    used, labels = np.unique(labels, return_inverse=True)
    cell_kinds = [cell_kinds[u] for u in used]
    cell_reasons = _reasons(part.exceptions, used, labels, graph, cell_kinds, band)
    return BalancedCells(
        geoms=dissolve(blocks.geoms, labels),
        kinds=cell_kinds,
        reasons=cell_reasons,
        stats={
            "blocks": len(graph),
            "unsplittable_blocks": blocks.unsplittable,
            "out_of_band_before_repair": before,
        },
    )


def _alone_blocks(
    households: NDArray[np.int64],
    biggest: NDArray[np.int64],
    area_m2: NDArray[np.float64],
    unsplittable: list[int],
    band: tuple[int, int],
    empty_area_m2: float,
) -> tuple[NDArray[np.bool_], list[str], list[str]]:
    """Blocks that must be cells by themselves, with their kind and the reason."""
    _, high = band
    n = len(households)
    dedicated = biggest > high
    stuck = np.zeros(n, dtype=bool)
    stuck[unsplittable] = True
    stuck &= (households > high) & ~dedicated
    empty = (households == 0) & (area_m2 >= empty_area_m2)
    alone = dedicated | stuck | empty
    kinds: list[str] = []
    reasons: list[str] = []
    for b in np.flatnonzero(alone):  # a few blocks per street
        if dedicated[b]:
            kinds.append("dedicated")
            reasons.append(
                f"dedicated (专属) cell: one building alone has {biggest[b]} households, "
                f"above the band maximum {high}"
            )
        elif stuck[b]:
            kinds.append("basic")
            reasons.append(
                f"{households[b]} households in buildings too close together to split "
                "without cutting one"
            )
        else:
            kinds.append("dedicated")
            reasons.append(
                f"no households on {area_m2[b] / 10_000:.1f} ha (park, palace, water or "
                "institution): a cell of its own"
            )
    return alone, kinds, reasons


def _reasons(
    exceptions: list[dict[str, Any]],
    used: NDArray[np.int64],
    labels: NDArray[np.int64],
    graph: BlockGraph,
    kinds: list[str],
    band: tuple[int, int],
) -> dict[int, str]:
    """Map each final cell that is an exception to the reason the partition gave."""
    low, high = band
    new_of = {int(old): new for new, old in enumerate(used)}
    reasons: dict[int, str] = {}
    for item in exceptions:
        for old in item.get("cells", [item.get("cell")]):
            if old is not None and int(old) in new_of:
                reasons[new_of[int(old)]] = str(item["reason"])
    totals = np.bincount(labels, graph.households, minlength=len(kinds))
    for c in np.flatnonzero((totals < low) | (totals > high)):
        if kinds[c] == "basic" and int(c) not in reasons:
            reasons[int(c)] = (
                f"{int(totals[c])} households: no contiguous arrangement of the neighbouring "
                f"blocks puts this cell inside {low}-{high}"
            )
    return reasons
