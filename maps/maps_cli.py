"""``gridgis map grid|incidents|coverage --out FILE.html``: a map as a file that opens offline.

`gis.cli` loads this module by name (``COMMAND_MODULES``) and calls `register`. The map is
built from the same data and pages as the ``/maps`` routes, but everything it shows is embedded
(there is no server to fetch from), and the Leaflet assets are copied into ``vendor/`` next to
the file, so it opens from disk without any network. Buildings, which the served grid map
fetches per view, are left out of the exported one.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.cli_context import run_as_user
from gis.settings import Settings
from maps.assets import write_map

Builder = Callable[[Session, Principal, argparse.Namespace, Settings], folium.Map]


def register(subparsers: Any) -> None:
    """Add ``map grid|incidents|coverage`` to the ``gridgis`` parser."""
    parser = subparsers.add_parser(
        "map",
        help="write a map (grid plan, incident command map, coverage) as offline HTML",
        description=__doc__,
    )
    kinds = parser.add_subparsers(dest="map_kind", required=True, metavar="MAP")
    for name, builder, help_text in (
        ("grid", _grid, "grid plan: cells coloured by households against the band"),
        ("incidents", _incidents, "incident command map: cases by status, overdue, heat"),
        ("coverage", _coverage, "15-minute coverage: isochrones, gaps, cell completeness"),
    ):
        sub = kinds.add_parser(name, help=help_text)
        sub.add_argument("--out", type=Path, required=True, help="the HTML file to write")
        area = sub.add_mutually_exclusive_group()
        area.add_argument("--street", metavar="CODE", help="9-digit street code")
        area.add_argument("--district", metavar="CODE", help="6-digit district code")
        if name == "coverage":
            sub.add_argument("--category", help="one facility category (default: all)")
            sub.add_argument("--run", type=int, dest="run_id", help="coverage run id")
        sub.add_argument(
            "--as", dest="as_user", metavar="USERNAME", help="apply this user's role and scope"
        )
        sub.set_defaults(func=_command(builder))


def _command(builder: Builder) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        start = time.perf_counter()
        fmap = run_as_user(
            settings, args.as_user, lambda session, who: builder(session, who, args, settings)
        )
        out = write_map(fmap, args.out)
        size_kb = out.stat().st_size / 1024
        elapsed = time.perf_counter() - start
        vendor = out.parent / "vendor"
        print(f"wrote {out} ({size_kb:,.0f} KiB, {elapsed:.1f} s; assets in {vendor})")
        return 0

    return run


def _grid(
    session: Session, principal: Principal, args: argparse.Namespace, settings: Settings
) -> folium.Map:
    from gis.mapdata import grid_map_data
    from maps.pages import grid_page

    data = grid_map_data(session, principal, street=args.street, district=args.district)
    return grid_page(
        data, tiles_url=settings.map_tiles_url, tiles_attribution=settings.map_tiles_attribution
    )


def _incidents(
    session: Session, principal: Principal, args: argparse.Namespace, settings: Settings
) -> folium.Map:
    from gis.mapdata import incident_map_data
    from maps.pages import incident_page

    data = incident_map_data(session, principal, street=args.street, district=args.district)
    return incident_page(
        data, tiles_url=settings.map_tiles_url, tiles_attribution=settings.map_tiles_attribution
    )


def _coverage(
    session: Session, principal: Principal, args: argparse.Namespace, settings: Settings
) -> folium.Map:
    from gis.mapdata import coverage_map_data
    from maps.pages import coverage_page

    data = coverage_map_data(
        session,
        principal,
        category=args.category,
        street=args.street,
        district=args.district,
        run_id=args.run_id,
    )
    return coverage_page(
        data, tiles_url=settings.map_tiles_url, tiles_attribution=settings.map_tiles_attribution
    )
