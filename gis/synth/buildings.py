"""Synthetic buildings and dwellings for streets (flagged ``synthetic``; deterministic per seed).

Each street is cut into road blocks (the same roads gridding uses), the blocks into parcels of
about 150 m, and every parcel gets one use: hutong courtyards (1 floor, a few households),
multi-storey slabs, high-rise towers, or non-residential buildings. Footprints sit on a
lattice inside the parcel, set back from its edges, so they never touch a road or each other.
All of it is vectorised (one lattice per use over the whole street); rows go in by COPY.

Unscaled, the lattice gives about 6,000-10,000 households per km² of street and about 2.4
residents per household. ``scale`` multiplies the dwellings per building so that a district's
synthetic residents match its census count (`gis.synth.census`); without it the figures are
plausible, not census data.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from gis.crs import from_metric, gauss_kruger_epsg, to_metric
from gis.db import copy_rows, hex_ewkb
from gis.divisions import Division
from gis.errors import InvalidInputError, NotFoundError
from gis.gridding.blocks import road_blocks
from gis.gridding.regular import square_cells
from gis.gridding.roads import street_roads
from gis.layers.buildings import Building
from gis.layers.people import Person

SOURCE = "synth:buildings"
PARCEL_M = 150.0
SETBACK_M = 8.0
# Within this distance (m) of the Forbidden City the old town's hutongs dominate.
OLD_TOWN_CENTRE = (116.397, 39.918)
OLD_TOWN_RADIUS_M = 3_800.0


@dataclass(frozen=True)
class Use:
    """A parcel use: lattice spacing, footprint size (m), floors and dwellings per floor."""

    name: str
    spacing_m: float
    width_m: tuple[float, float]
    depth_m: tuple[float, float]
    floors: tuple[int, int]
    per_floor: tuple[int, int]
    occupied: float  # share of lattice points that carry a building


USES = (
    Use("hutong", 21.0, (12, 17), (12, 17), (1, 1), (2, 6), 0.85),
    Use("slab", 42.0, (30, 38), (11, 13), (5, 7), (4, 8), 0.85),
    Use("tower", 62.0, (20, 28), (18, 24), (12, 28), (4, 8), 0.8),
    Use("other", 55.0, (25, 38), (18, 30), (2, 10), (0, 0), 0.75),
)
# Use shares (hutong, slab, tower, other) inside and outside the old town.
OLD_TOWN_SHARES = (0.55, 0.2, 0.05, 0.2)
OUTER_SHARES = (0.05, 0.45, 0.3, 0.2)
MEGA_SHARE = 0.004  # towers that alone exceed a 500-household band (dedicated cells)


@dataclass
class SynthBuildings:
    """Synthetic buildings of one street in EPSG:4326, one entry per building."""

    footprints: NDArray[np.object_]
    anchors: NDArray[np.object_]
    use: NDArray[np.object_]
    floors: NDArray[np.int64]
    dwellings: NDArray[np.int64]
    households: NDArray[np.int64]
    residents: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.footprints)


def synth_street(
    street: Polygon | MultiPolygon,
    roads: NDArray[np.object_],
    *,
    rng: np.random.Generator,
    scale: float = 1.0,
) -> SynthBuildings:
    """Place synthetic buildings in a street (metric CRS in, metric CRS out).

    Parameters
    ----------
    street : Polygon or MultiPolygon
        The street boundary in a metric CRS (metres).
    roads : ndarray of LineString
        Road centre lines in the same CRS; no footprint comes within ``SETBACK_M`` of one.
    rng : numpy.random.Generator
        Source of all randomness (pass ``default_rng(seed)`` for repeatable output).
    scale : float
        Multiplies every building's dwellings (footprints and floors stay as drawn), so that
        households and residents scale with it.
    """
    blocks = road_blocks(street, roads)
    parcels = np.concatenate([square_cells(b, size_m=PARCEL_M) for b in blocks]).astype(object)
    insets = shapely.buffer(parcels, -SETBACK_M, join_style="mitre")
    usable = ~shapely.is_empty(insets)
    parcels, insets = parcels[usable], insets[usable]
    shares = _use_shares(street)
    use_of_parcel = rng.choice(len(USES), size=len(parcels), p=shares)
    minx, miny, maxx, maxy = street.bounds
    groups: list[dict[str, Any]] = []
    for u, use in enumerate(USES):  # one vectorised lattice per use over the whole street
        mine = insets[use_of_parcel == u]
        if len(mine) == 0:
            continue
        xs = np.arange(minx + rng.uniform(0, use.spacing_m), maxx, use.spacing_m)
        ys = np.arange(miny + rng.uniform(0, use.spacing_m), maxy, use.spacing_m)
        gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
        keep = rng.random(len(gx)) < use.occupied
        gx, gy = gx[keep], gy[keep]
        w = rng.uniform(*use.width_m, len(gx))
        d = rng.uniform(*use.depth_m, len(gx))
        boxes = shapely.box(gx - w / 2, gy - d / 2, gx + w / 2, gy + d / 2)
        tree = shapely.STRtree(mine)
        box_idx, _ = tree.query(boxes, predicate="within")
        box_idx = np.unique(box_idx)
        groups.append({"use": u, "boxes": boxes[box_idx], "n": len(box_idx)})
    footprints = np.concatenate([np.zeros(0, dtype=object)] + [g["boxes"] for g in groups])
    use_idx = np.concatenate([np.zeros(0, np.int64)] + [np.full(g["n"], g["use"]) for g in groups])
    return _attributes(footprints.astype(object), use_idx.astype(np.int64), rng, scale)


def _use_shares(street: BaseGeometry) -> NDArray[np.float64]:
    centre = street.centroid
    epsg = gauss_kruger_epsg(OLD_TOWN_CENTRE[0])
    # The street is already metric: compare with the old-town centre in the same zone.
    old = to_metric(np.asarray([shapely.points(*OLD_TOWN_CENTRE)], dtype=object), epsg=epsg)[0]
    near = bool(shapely.distance(centre, old) < OLD_TOWN_RADIUS_M)
    return np.asarray(OLD_TOWN_SHARES if near else OUTER_SHARES, dtype=np.float64)


def _attributes(
    footprints: NDArray[np.object_],
    use_idx: NDArray[np.int64],
    rng: np.random.Generator,
    scale: float,
) -> SynthBuildings:
    n = len(footprints)
    lo = np.array([[u.floors[0], u.per_floor[0]] for u in USES])[use_idx].reshape(n, 2)
    hi = np.array([[u.floors[1], u.per_floor[1]] for u in USES])[use_idx].reshape(n, 2)
    floors = rng.integers(lo[:, 0], hi[:, 0] + 1) if n else np.zeros(0, np.int64)
    per_floor = rng.integers(lo[:, 1], hi[:, 1] + 1) if n else np.zeros(0, np.int64)
    dwellings = floors * per_floor
    # A few towers are huge estates under one roof: they become dedicated cells.
    mega = (use_idx == 2) & (rng.random(n) < MEGA_SHARE)
    dwellings = np.where(mega, rng.integers(560, 900, n) if n else 0, dwellings)
    floors = np.where(mega, np.maximum(floors, 30), floors)
    dwellings = np.rint(dwellings * scale).astype(np.int64)
    occupancy = np.where(use_idx == 0, 0.95, 0.9)
    households = rng.binomial(dwellings, occupancy) if n else np.zeros(0, np.int64)
    residents = households + rng.poisson(1.4 * households) if n else np.zeros(0, np.int64)
    anchors = shapely.point_on_surface(footprints)
    names = np.array([u.name for u in USES], dtype=object)
    return SynthBuildings(
        footprints=footprints,
        anchors=np.asarray(anchors, dtype=object),
        use=names[use_idx] if n else np.zeros(0, dtype=object),
        floors=np.asarray(floors, dtype=np.int64),
        dwellings=np.asarray(dwellings, dtype=np.int64),
        households=np.asarray(households, dtype=np.int64),
        residents=np.asarray(residents, dtype=np.int64),
    )


def street_codes_of(
    session: Session, *, streets: list[str] | None = None, district: str | None = None
) -> list[str]:
    """Return the street codes to fill: the named ones, a district's, or every stored street."""
    stmt = select(Division.code).where(Division.level == "street").order_by(Division.code)
    if streets:
        found = set(session.execute(stmt.where(Division.code.in_(streets))).scalars())
        missing = sorted(set(streets) - found)
        if missing:
            raise NotFoundError("street", ", ".join(missing))
        return sorted(found)
    if district:
        stmt = stmt.where(Division.parent_code == district)
    codes = list(session.execute(stmt).scalars())
    if not codes:
        raise InvalidInputError(
            f"no streets stored{' in district ' + district if district else ''}; "
            "import boundaries first (gridgis import boundaries)"
        )
    return codes


def build_street(
    session: Session, street_code: str, *, seed: int, scale: float = 1.0
) -> tuple[SynthBuildings, int]:
    """Return a stored street's synthetic buildings (metric CRS) and that CRS's EPSG code.

    Nothing is written; `write_street` stores them.
    """
    wkb = session.execute(
        select(func.ST_AsBinary(Division.geom)).where(Division.code == street_code)
    ).scalar_one_or_none()
    if wkb is None:
        raise NotFoundError("street", street_code)
    street = shapely.from_wkb(wkb)
    epsg = gauss_kruger_epsg(street.centroid.x)
    roads, _ = street_roads(session, street, epsg=epsg)
    # A per-street seed keeps one street's buildings the same whichever streets run with it.
    rng = np.random.default_rng([seed, int(street_code)])
    metric = to_metric(np.asarray([street], dtype=object), epsg=epsg)[0]
    return synth_street(metric, roads, rng=rng, scale=scale), epsg


def write_street(
    session: Session, street_code: str, *, seed: int, dwellings: bool = True, scale: float = 1.0
) -> dict[str, int]:
    """Replace the street's synthetic buildings (and their dwellings) with a fresh set.

    ``scale`` multiplies dwellings (see `synth_street`; `gis.synth.census.census_scales` gives
    the factor that matches the district's census). Returns the counts written. Everything
    happens in the session's transaction.
    """
    built, epsg = build_street(session, street_code, seed=seed, scale=scale)
    replaced = (Building.source == SOURCE) & Building.in_street(street_code)
    # Their synthetic residents go with them (the person row would only lose its building).
    session.execute(
        delete(Person).where(
            Person.synthetic, Person.building_id.in_(select(Building.id).where(replaced))
        )
    )
    session.execute(delete(Building).where(replaced))
    n = len(built)
    if n == 0:
        return {"buildings": 0, "dwellings": 0, "households": 0}
    ids = np.asarray(
        session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('building', 'id'))"
                " FROM generate_series(1, :n)"
            ),
            {"n": n},
        )
        .scalars()
        .all(),
        dtype=np.int64,
    )
    footprints = from_metric(built.footprints, epsg=epsg)
    frame = pd.DataFrame(
        {
            "id": ids,
            "source": SOURCE,
            "source_id": [f"{street_code}-{i}" for i in range(n)],
            "synthetic": True,
            "name": built.use,
            "floors": built.floors,
            "dwellings": built.dwellings,
            "dwellings_estimated": False,
            "households": built.households,
            "residents": built.residents,
            "footprint_m2": np.round(shapely.area(built.footprints), 1),
            "geom": hex_ewkb(shapely.multipolygons(footprints, indices=np.arange(n))),
            "anchor": hex_ewkb(from_metric(built.anchors, epsg=epsg)),
        }
    )
    copy_rows(session, "building", frame, list(frame.columns))
    # Built inside the street; the cell comes when the street's plan is activated.
    members = pd.DataFrame({"id": ids, "street_code": street_code})
    copy_rows(session, "building_membership", members, list(members.columns))
    written = 0
    if dwellings:
        written = _write_dwellings(session, ids, built)
    return {"buildings": n, "dwellings": written, "households": int(built.households.sum())}


def _write_dwellings(session: Session, ids: NDArray[np.int64], built: SynthBuildings) -> int:
    counts = built.dwellings
    total = int(counts.sum())
    if total == 0:
        return 0
    owner = np.repeat(np.arange(len(ids)), counts)
    # Position of each dwelling inside its building: 0..count-1, without a Python loop.
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    per_floor = np.maximum(1, np.ceil(counts / np.maximum(built.floors, 1))).astype(np.int64)
    floor = offset // per_floor[owner] + 1
    unit = offset % per_floor[owner] + 1
    labels = pd.Series(floor).astype(str) + "-" + pd.Series(unit).map("{:02d}".format)
    area = np.where(built.use[owner] == "hutong", 35.0, 68.0)
    frame = pd.DataFrame(
        {
            "building_id": ids[owner],
            "unit_label": labels.to_numpy(),
            "floor": floor,
            "area_m2": area,
            "tenure": np.where(offset % 7 == 0, "rented", "owned"),
        }
    )
    return copy_rows(session, "dwelling", frame, list(frame.columns))


def _cmd(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from sqlalchemy.orm import Session as OrmSession

    from gis.cli_context import cli_engine

    console = Console()
    engine = cli_engine(settings)
    totals = {"buildings": 0, "dwellings": 0, "households": 0}
    try:
        with OrmSession(engine) as session, session.begin():
            codes = street_codes_of(session, streets=args.street, district=args.district)
            scales = dict.fromkeys(codes, 1.0)
            if not args.no_census:
                from gis.synth.census import census_scales

                with console.status("calibrating to the census"):
                    scales = census_scales(session, codes, seed=args.seed)
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("synthetic buildings", total=len(codes))
                for code in codes:
                    counts = write_street(
                        session,
                        code,
                        seed=args.seed,
                        dwellings=not args.no_dwellings,
                        scale=scales[code],
                    )
                    for key in totals:
                        totals[key] += counts[key]
                    progress.advance(task)
    finally:
        engine.dispose()
    console.print(
        f"{totals['buildings']:,} synthetic buildings, {totals['dwellings']:,} dwellings, "
        f"{totals['households']:,} households in {len(codes)} street(s) (seed {args.seed})"
    )
    return 0


def add_command(subparsers: Any) -> None:
    """Add ``gridgis synth buildings``."""
    cmd = subparsers.add_parser(
        "buildings",
        help="synthetic buildings and dwellings inside road blocks (replaces earlier ones)",
    )
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--street", action="append", help="9-digit street code (repeatable)")
    where.add_argument("--district", help="6-digit district code: all of its streets")
    cmd.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    cmd.add_argument("--no-dwellings", action="store_true", help="buildings only")
    cmd.add_argument(
        "--no-census",
        action="store_true",
        help="keep the generator's own densities instead of matching each district's census "
        "residents (gis/data/synth/district_population.csv)",
    )
    cmd.set_defaults(func=_cmd)


def households_per_km2(built: SynthBuildings, street: BaseGeometry) -> float:
    """Return the synthetic household density (per km²) of a metric street polygon."""
    return float(built.households.sum()) / max(street.area / 1e6, 1e-9) if len(built) else 0.0


__all__ = [
    "SOURCE",
    "SynthBuildings",
    "add_command",
    "build_street",
    "households_per_km2",
    "street_codes_of",
    "synth_street",
    "write_street",
]
