"""Gridding benchmark: every Dongcheng and Xicheng street, synthetic households, one run.

For each of the 32 streets: real boundary, real OSM drive roads (data/network), synthetic
buildings (gis.synth.buildings, seed 2024), blocks, then

* ours: ``partition_street`` (partition + band repair + compactness moves);
* GerryChain ``recursive_tree_part`` on the same block graph (pop = households, target W/k,
  epsilon so the band is 300-500);
* spopt ``MaxPHeuristic`` (threshold = band minimum) on the same graph.

Reported: share of basic cells in the band, contiguity, exact tiling, mean/min Polsby-Popper,
share of internal boundaries on roads, time, peak memory; and the ratios against the peers.
Also the stability check: change the households of 1 % of buildings and rebalance.

Run: ``.venv/bin/python bench/gridding.py [--no-peers] [--maxp-streets N] [--scale]``.
Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gis.crs import to_metric
from gis.gridding.adjacency import dissolve
from gis.gridding.balanced import Buildings, StreetBlocks, partition_street, street_blocks
from gis.gridding.metrics import internal_road_share, polsby_popper
from gis.gridding.partition import cells_for
from gis.gridding.rebalance import move_blocks, out_of_band, rebalance
from gis.gridding.roads import file_roads
from gis.synth.buildings import synth_street

PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"
BAND = (300, 500)
EPSG = 4548
SEED = 2024
GERRY_FAILURES: list[int] = []  # households of components GerryChain could not split


@dataclass
class Tally:
    """Totals of one method over all streets."""

    name: str
    seconds: float = 0.0
    basic: int = 0
    in_band: int = 0
    contiguous: int = 0
    cells: int = 0
    pp: list[float] = field(default_factory=list)
    internal_road: list[float] = field(default_factory=list)
    max_gap_m2: float = 0.0
    streets: int = 0

    def add(
        self,
        geoms: np.ndarray,
        households: np.ndarray,
        basic: np.ndarray,
        seconds: float,
        street: shapely.Geometry,
        roads: np.ndarray,
    ) -> None:
        self.streets += 1
        self.seconds += seconds
        self.cells += len(geoms)
        self.basic += int(basic.sum())
        ok = (households >= BAND[0]) & (households <= BAND[1])
        self.in_band += int((ok & basic).sum())
        self.contiguous += int((shapely.get_type_id(geoms) == 3).sum())
        self.pp.extend(polsby_popper(geoms)[basic].tolist())
        gap = abs(street.area - shapely.area(geoms).sum())
        self.max_gap_m2 = max(self.max_gap_m2, float(gap))
        self.internal_road.append(internal_road_share(geoms, roads, street))

    def row(self) -> dict[str, Any]:
        pp = np.asarray(self.pp) if self.pp else np.zeros(1)
        return {
            "method": self.name,
            "streets": self.streets,
            "cells": self.cells,
            "in band": f"{self.in_band / max(self.basic, 1):.1%}",
            "contiguous": f"{self.contiguous / max(self.cells, 1):.1%}",
            "max |gap| m2": f"{self.max_gap_m2:.2f}",
            "PP mean": f"{pp.mean():.3f}",
            "PP min": f"{pp.min():.3f}",
            "internal on roads": f"{np.mean(self.internal_road):.1%}",
            "seconds": f"{self.seconds:.2f}",
        }


def streets() -> list[tuple[str, str, shapely.Geometry]]:
    out = []
    for district in ("dongcheng", "xicheng"):
        frame = gpd.read_file(
            PROJECT_DATA / f"boundaries/beijing/subdistricts/{district}-all.geojson"
        )
        out.extend(
            zip(frame["code"].astype(str).str[:9], frame["Name"], frame.geometry, strict=True)
        )
    return out


def _peer_graph(blocks: StreetBlocks) -> tuple[Any, np.ndarray]:
    import networkx as nx

    keep = np.flatnonzero(~blocks.alone)
    graph = nx.Graph()
    hh = blocks.graph.households
    graph.add_nodes_from((int(i), {"pop": int(hh[i])}) for i in keep)
    coo = blocks.graph.adjacency.tocoo()
    both = (coo.row < coo.col) & ~blocks.alone[coo.row] & ~blocks.alone[coo.col]
    graph.add_edges_from(zip(coo.row[both].tolist(), coo.col[both].tolist(), strict=True))
    return graph, keep


def _with_alone(blocks: StreetBlocks, labels: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Full label array: peers' labels plus one cell per alone block; basic mask per cell."""
    n = len(blocks.geoms)
    out = np.full(n, -1, dtype=np.int64)
    for node, lab in labels.items():
        out[node] = lab
    nxt = out.max(initial=-1) + 1
    alone = np.flatnonzero(blocks.alone)
    out[alone] = np.arange(nxt, nxt + len(alone))
    used, out = np.unique(out, return_inverse=True)
    basic = np.ones(len(used), dtype=bool)
    basic[np.searchsorted(used, np.arange(nxt, nxt + len(alone)))] = False
    return out, basic


def run_gerrychain(blocks: StreetBlocks) -> tuple[np.ndarray, np.ndarray, float]:
    import networkx as nx
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    graph, _ = _peer_graph(blocks)
    labels: dict[int, int] = {}
    started = time.perf_counter()
    for c, comp in enumerate(nx.connected_components(graph)):
        sub = graph.subgraph(comp).copy()
        total = sum(d["pop"] for _, d in sub.nodes(data=True))
        k, _ = cells_for(int(total), BAND)
        if k == 1 or len(sub) == 1:
            labels.update({int(v): c * 10_000 for v in sub})
            continue
        target = total / k
        epsilon = min((BAND[1] - target) / target, (target - BAND[0]) / target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                part = recursive_tree_part(
                    Graph.from_networkx(sub), range(k), target, "pop", max(epsilon, 0.01)
                )
            except Exception:  # GerryChain found no balanced cut: the component stays whole
                part = dict.fromkeys(sub, 0)
                GERRY_FAILURES.append(int(total))
        labels.update({int(v): c * 10_000 + int(p) for v, p in part.items()})
    seconds = time.perf_counter() - started
    full, basic = _with_alone(blocks, labels)
    return full, basic, seconds


def run_maxp(blocks: StreetBlocks) -> tuple[np.ndarray, np.ndarray, float]:
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    graph, keep = _peer_graph(blocks)
    # spopt indexes units by position: renumber the graph's nodes 0..n-1.
    position = {int(node): p for p, node in enumerate(keep)}
    neighbours = {
        position[int(i)]: [position[int(j)] for j in graph.neighbors(i)] for i in graph.nodes
    }
    frame = gpd.GeoDataFrame(
        {"hh": blocks.graph.households[keep]}, geometry=list(blocks.geoms[keep]), crs=EPSG
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MaxPHeuristic(frame, W(neighbours, silence_warnings=True), ["hh"], "hh", BAND[0], 2)
        model.solve()
    seconds = time.perf_counter() - started
    labels = dict(zip(keep.tolist(), np.asarray(model.labels_).astype(int).tolist(), strict=True))
    full, basic = _with_alone(blocks, labels)
    return full, basic, seconds


def stability(blocks: StreetBlocks, rng: np.random.Generator) -> tuple[int, int, int]:
    """Change 1 % of blocks' households (as for 1 % of buildings) and rebalance.

    Returns (cells, cells out of band after the change, cells whose blocks changed).
    """
    from gis.gridding.partition import partition_blocks

    graph = blocks.graph
    part = partition_blocks(graph, band=BAND, alone=blocks.alone, seed=1)
    labels, _ = move_blocks(graph, part.labels, part.kinds, BAND)
    changed = rng.choice(len(graph), max(1, len(graph) // 100), replace=False)
    graph.households[changed] += rng.integers(-40, 80, len(changed))
    np.maximum(graph.households, 0, out=graph.households)
    bad = out_of_band(graph, labels, part.kinds, BAND)
    if len(bad) == 0:
        return len(part.kinds), 0, 0
    redone = rebalance(graph, labels, part.kinds, BAND, seed=2)
    moved = np.unique(labels[redone.labels != labels])
    return len(part.kinds), len(bad), len(moved)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--maxp-streets", type=int, default=32, help="MaxP on the first N")
    args = parser.parse_args()

    ours, gerry, maxp = (
        Tally("gridgis"),
        Tally("GerryChain recursive_tree_part"),
        Tally("spopt MaxPHeuristic"),
    )
    prep_s = 0.0
    units = 0
    stable = []
    partition_s: list[float] = []
    rng = np.random.default_rng(SEED)
    for n, (code, name, geom) in enumerate(streets()):
        street = to_metric(np.asarray([geom], dtype=object), epsg=EPSG)[0]
        roads = to_metric(file_roads(geom), epsg=EPSG)
        built = synth_street(street, roads, rng=np.random.default_rng([SEED, int(code)]))
        buildings = Buildings(
            built.footprints,
            built.anchors,
            built.households,
            built.residents,
            built.dwellings,
            np.arange(len(built)),
        )
        t0 = time.perf_counter()
        blocks = street_blocks(street, roads, buildings, band=BAND)
        t1 = time.perf_counter()
        cells = partition_street(blocks, band=BAND)
        t2 = time.perf_counter()
        prep_s += t1 - t0
        partition_s.append(t2 - t1)
        units += len(blocks.geoms)
        owner = shapely.STRtree(cells.geoms).query(built.anchors, predicate="intersects")
        hh = np.bincount(owner[1], built.households[owner[0]], len(cells.geoms))
        basic = np.asarray(cells.kinds) == "basic"
        ours.add(cells.geoms, hh, basic, t2 - t0, street, roads)
        block_hh = blocks.graph.households.copy()
        line = (
            f"{code} {name}: {len(blocks.geoms)} blocks, {len(cells.geoms)} cells, {t2 - t0:.2f} s"
        )
        # Every basic cell outside the band, with the reason the partition gives for it.
        low, high = BAND
        for i in np.flatnonzero(basic & ((hh < low) | (hh > high))):
            why = cells.reasons.get(int(i)) or "no reason recorded"
            line += f"\n    out of band: cell {i}, {int(hh[i])} households: {why}"
        if not args.no_peers:
            labels, peer_basic, s = run_gerrychain(blocks)
            geoms = dissolve(blocks.geoms, labels)
            gerry.add(geoms, np.bincount(labels, block_hh), peer_basic, s, street, roads)
            line += f"; GerryChain {s:.2f} s"
            if n < args.maxp_streets:
                labels, peer_basic, s = run_maxp(blocks)
                geoms = dissolve(blocks.geoms, labels)
                maxp.add(geoms, np.bincount(labels, block_hh), peer_basic, s, street, roads)
                line += f"; MaxP {s:.2f} s"
        stable.append(stability(blocks, rng))
        print(line, flush=True)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{len(streets())} streets, {units} blocks; block preparation {prep_s:.2f} s "
        f"(included in gridgis seconds); peak memory {peak_mb:.0f} MB\n"
    )
    rows = [t.row() for t in (ours, gerry, maxp) if t.streets]
    keys = list(rows[0])
    print(" | ".join(keys))
    print(" | ".join("---" for _ in keys))
    for r in rows:
        print(" | ".join(str(r[k]) for k in keys))
    for peer in (gerry, maxp):
        if peer.streets:
            mine = sum(partition_s[: peer.streets])
            print(
                f"\n{peer.name}: {peer.seconds:.2f} s vs gridgis partition {mine:.2f} s "
                f"= {peer.seconds / max(mine, 1e-9):.1f}x on the same {peer.streets} streets' "
                "block graphs"
            )
    if GERRY_FAILURES:
        print(
            f"GerryChain raised (no balanced cut found) on {len(GERRY_FAILURES)} component(s) "
            f"holding {sum(GERRY_FAILURES)} households; each was left as one out-of-band cell"
        )
    cells, bad, moved = (np.asarray(v) for v in zip(*stable, strict=True))
    print(
        f"\nstability: households of 1% of blocks changed in every street -> {bad.sum()} of "
        f"{cells.sum()} cells left the band; rebalancing changed {moved.sum()} cells "
        "(only out-of-band cells and their neighbours are ever touched)"
    )


if __name__ == "__main__":
    main()
