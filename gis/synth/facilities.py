"""Synthetic facilities of every checklist category for streets (flagged ``synthetic``).

How many of each category a street gets comes from ``gis/data/synth/facility_density.csv``
(per 10,000 residents, with a minimum per street; all figures [uncertain], see its notes),
using the street's residents from its buildings (or 25,000 per km² of street when it has
none). Facilities marked ``building`` sit at the anchor of a random building of the street;
``road`` ones (shops, fitness areas) at a random point of a walking-network edge inside the
street, else at a building. Placement is vectorised per street; rows go in by COPY and get
their membership in one set-based refresh.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db import copy_rows, hex_ewkb
from gis.errors import NotFoundError, SeedDataError
from gis.layers.checklist import Checklist, default_checklist
from gis.layers.membership import refresh_membership

SOURCE: Final = "synth:facilities"
FALLBACK_RESIDENTS_PER_KM2: Final = 25_000.0


@dataclass(frozen=True)
class Density:
    """How many facilities of one category a street gets, and where they stand."""

    key: str
    per_10k_residents: float
    min_per_street: int
    placement: str  # "building" or "road"


def load_densities(checklist: Checklist | None = None) -> dict[str, Density]:
    """Read the packaged density table; every checklist category must have a row."""
    raw = resources.files("gis.data").joinpath("synth/facility_density.csv").read_text("utf-8")
    table = pd.read_csv(io.StringIO(raw), dtype={"key": str})
    keys = set((checklist or default_checklist()).keys)
    missing = sorted(keys - set(table["key"]))
    if missing:
        raise SeedDataError(f"facility_density.csv: no density for categories {missing}")
    bad = table[~table["placement"].isin(["building", "road"])]
    if len(bad):
        raise SeedDataError(
            f"facility_density.csv: placement must be building or road: {bad['key'].tolist()}"
        )
    records = [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
    return {
        str(r["key"]): Density(
            str(r["key"]),
            float(r["per_10k_residents"]),
            int(r["min_per_street"]),
            str(r["placement"]),
        )
        for r in records
        if r["key"] in keys
    }


def _street_facts(
    session: Session, street_code: str
) -> tuple[float, NDArray[np.object_], NDArray[np.object_]]:
    """Return (residents, building anchors, network edges inside the street)."""
    row = session.execute(
        text(
            "SELECT ST_Area(geom::geography) / 1e6, ST_AsBinary(geom) FROM division"
            " WHERE code = :code AND level = 'street'"
        ),
        {"code": street_code},
    ).one_or_none()
    if row is None:
        raise NotFoundError("street", street_code)
    area_km2 = float(row[0])
    anchors = session.execute(
        text(
            "SELECT ST_AsBinary(b.anchor), b.residents FROM building b"
            " JOIN building_membership m ON m.id = b.id WHERE m.street_code = :code"
        ),
        {"code": street_code},
    ).all()
    residents = float(sum(r[1] for r in anchors)) or area_km2 * FALLBACK_RESIDENTS_PER_KM2
    edges = session.execute(
        text(
            "SELECT ST_AsBinary(e.geom) FROM network_edge e JOIN division d"
            " ON d.code = :code AND e.geom && d.geom AND ST_Within(e.geom, d.geom)"
        ),
        {"code": street_code},
    ).scalars()
    anchor_geoms = np.asarray(shapely.from_wkb([bytes(r[0]) for r in anchors]), dtype=object)
    if anchor_geoms.size == 0:  # no buildings: random points of the street itself
        street = shapely.from_wkb(bytes(row[1]))
        rng = np.random.default_rng(int(street_code))
        minx, miny, maxx, maxy = street.bounds
        pts = shapely.points(rng.uniform(minx, maxx, 2000), rng.uniform(miny, maxy, 2000))
        inside = np.asarray(pts, dtype=object)
        anchor_geoms = inside[shapely.contains(street, inside)]
    return (
        residents,
        anchor_geoms,
        np.asarray(shapely.from_wkb(list(map(bytes, edges))), dtype=object),
    )


def write_street_facilities(
    session: Session, street_code: str, *, seed: int, densities: dict[str, Density] | None = None
) -> dict[str, int]:
    """Replace the street's synthetic facilities; return {category: count}."""
    densities = densities or load_densities()
    checklist = default_checklist()
    session.execute(
        text("DELETE FROM facility WHERE source = :source AND source_id LIKE :prefix"),
        {"source": SOURCE, "prefix": f"{street_code}-%"},
    )
    residents, anchors, edges = _street_facts(session, street_code)
    rng = np.random.default_rng([seed, int(street_code)])
    keys = list(densities)
    expected = np.array([densities[k].per_10k_residents * residents / 1e4 for k in keys])
    counts = np.maximum(rng.poisson(expected), [densities[k].min_per_street for k in keys])
    category = np.repeat(np.asarray(keys, dtype=object), counts)
    on_road = np.repeat([densities[k].placement == "road" for k in keys], counts) & (edges.size > 0)
    points = np.empty(category.size, dtype=object)
    if anchors.size:
        points[~on_road] = anchors[rng.integers(0, anchors.size, int((~on_road).sum()))]
    if on_road.any():
        chosen = edges[rng.integers(0, edges.size, int(on_road.sum()))]
        points[on_road] = shapely.line_interpolate_point(
            chosen, rng.random(chosen.size), normalized=True
        )
    keep = ~shapely.is_missing(points)
    serial = np.concatenate([np.arange(c) for c in counts]) if counts.sum() else np.zeros(0, int)
    names = {c.key: c.name for c in checklist.categories}
    frame = pd.DataFrame(
        {
            "category": category,
            "name": [f"{names[c]}（合成）{i + 1}" for c, i in zip(category, serial, strict=True)],
            "source": SOURCE,
            "source_id": [f"{street_code}-{c}-{i}" for c, i in zip(category, serial, strict=True)],
            "synthetic": True,
            "geom": hex_ewkb(points),
        }
    )[keep]
    copy_rows(session, "facility", frame, list(frame.columns))
    return {str(k): int(v) for k, v in frame["category"].value_counts().items()}


def write_facilities(
    session: Session, street_codes: list[str], *, seed: int
) -> dict[str, dict[str, int]]:
    """Fill several streets, then assign membership once (set-based); return counts per street."""
    densities = load_densities()
    out = {
        code: write_street_facilities(session, code, seed=seed, densities=densities)
        for code in street_codes
    }
    refresh_membership(session, layers=["facility"], street_codes=street_codes)
    return out


def _cmd(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console

    from gis.cli_context import cli_session
    from gis.synth.buildings import street_codes_of

    console = Console()
    with cli_session(settings) as session:
        codes = street_codes_of(session, streets=args.street, district=args.district)
        counts = write_facilities(session, codes, seed=args.seed)
    total = sum(sum(c.values()) for c in counts.values())
    console.print(f"{total:,} synthetic facilities in {len(codes)} street(s) (seed {args.seed})")
    return 0


def add_command(subparsers: Any) -> None:
    """Add ``gridgis synth facilities``."""
    cmd = subparsers.add_parser(
        "facilities", help="synthetic facilities of every checklist category (replaces earlier)"
    )
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--street", action="append", help="9-digit street code (repeatable)")
    where.add_argument("--district", help="6-digit district code: all of its streets")
    cmd.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    cmd.set_defaults(func=_cmd)
