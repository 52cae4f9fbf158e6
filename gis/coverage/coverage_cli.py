"""``gridgis network import|list`` and ``gridgis coverage run|report|site`` from a shell.

Every command works on DATABASE_URL or the embedded cluster, writes in one transaction, shows
rich progress bars on the terminal and prints JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from gis.cli_context import cli_session
from gis.errors import InvalidInputError
from gis.settings import Settings

console = Console()
err_console = Console(stderr=True)
Handler = Callable[[argparse.Namespace, Settings], int]


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """Yield a ``progress(step, done, total)`` callback drawing one bar per step (stderr)."""
    if not enabled:
        yield lambda step, done, total: None
        return
    bars = Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        bars.update(tasks[step], completed=done, total=total)

    with bars:
        yield update


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# ---------------------------------------------------------------------------------- network
def _cmd_network_import(args: argparse.Namespace, settings: Settings) -> int:
    from gis.network.service import import_network

    with cli_session(settings) as session:
        result = import_network(
            session,
            args.file,
            name=args.name,
            include_private=args.include_private,
            layer=args.layer,
        )
    if args.json:
        _print_json(result.to_dict())
        return 0
    console.print(
        f"network [bold]{result.name}[/bold] ({result.file_format}): {result.node_count:,} nodes, "
        f"{result.edge_count:,} edges, {result.length_km:,.1f} km, version {result.version}"
    )
    for reason, count in result.excluded.items():
        console.print(f"  excluded {count:,} × {reason}")
    frag = result.fragments
    console.print(
        f"  {frag['fragments']} fragment(s); the largest holds {100 * frag['largest_share']:.1f} %"
        f" of the nodes; sizes {frag['node_counts']}"
    )
    return 0


def _cmd_network_list(args: argparse.Namespace, settings: Settings) -> int:
    from gis.network.service import list_networks

    with cli_session(settings) as session:
        rows = list_networks(session)
    if args.json:
        _print_json(rows)
        return 0
    table = Table("name", "nodes", "edges", "km")
    for r in rows:
        table.add_row(
            r["name"], f"{r['node_count']:,}", f"{r['edge_count']:,}", f"{r['length_km']:,.1f}"
        )
    console.print(table)
    return 0


# --------------------------------------------------------------------------------- coverage
def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.coverage.context import CoverageParams
    from gis.coverage.queries import run_dict
    from gis.coverage.service import rerun_coverage, run_coverage

    with cli_session(settings) as session, _progress(not args.json) as progress:
        if args.rerun is not None:
            run = rerun_coverage(session, args.rerun, created_by="cli", progress=progress)
        else:
            if not args.network:
                raise InvalidInputError("coverage run needs --network NAME (or --rerun RUN_ID)")
            params = CoverageParams(
                network=args.network,
                categories=tuple(args.category) if args.category else None,
                budget_m=args.budget_m,
                max_snap_m=args.max_snap_m,
                isochrones=not args.no_isochrones,
                isochrone_minutes=tuple(args.isochrone_minutes) if args.isochrone_minutes else None,
                isochrone_buffer_m=args.isochrone_buffer_m,
                gap_cell_m=args.gap_cell_m,
                population=args.population,
                street_codes=tuple(args.street or ()),
                checklist=args.checklist,
            )
            run = run_coverage(session, params, created_by="cli", progress=progress)
        out = run_dict(run)
    if args.json:
        _print_json(out)
        return 0
    _print_summary(out)
    return 0


def _cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from gis.coverage.queries import delete_run

    with cli_session(settings) as session:
        for run_id in args.run_id:
            delete_run(session, run_id)
    console.print(f"deleted {len(args.run_id)} run(s): {', '.join(map(str, args.run_id))}")
    return 0


def _print_summary(run: dict[str, Any]) -> None:
    s = run["summary"]
    console.print(
        f"coverage run [bold]{run['id']}[/bold] on network {run['network']} "
        f"(version {run['network_version']}, inputs {run['input_version']}): "
        f"{s['buildings']:,} buildings, {s['residents']:,.0f} residents, "
        f"{s['facilities']:,} facilities"
    )
    table = Table("category", "circle m", "facilities", "residents within", "network %", "euclid %")
    for name, c in s["categories"].items():
        table.add_row(
            name,
            f"{c['circle_m']:.0f}",
            str(c["facilities"]),
            f"{c['residents_within']:,.0f}",
            _pct(c["share"]),
            _pct(c["share_euclid"]),
        )
    console.print(table)
    verdict = "meets" if s["meets_target"] else "misses"
    console.print(
        f"residents with every category within its circle: {_pct(s['share_all'])} "
        f"({verdict} the {100 * s['target_share']:.0f} % target)"
    )
    for kind in ("unsnapped_buildings", "unsnapped_facilities"):
        far = s[kind]
        if far["count"]:
            console.print(
                f"[yellow]{far['count']} {kind.split('_')[1]} farther than "
                f"{far['max_snap_m']:.0f} m from the network (not snapped):[/yellow]"
            )
            for item in far["first"][:10]:
                console.print(f"  id {item['id']}: {item['reason']}")


def _pct(share: float | None) -> str:
    return "-" if share is None or bool(pd.isna(share)) else f"{100 * share:.1f}"


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from gis.coverage.queries import get_run, report_table, run_dict

    with cli_session(settings) as session:
        run = run_dict(get_run(session, args.run_id))
        table = report_table(session, args.run_id, level=args.level)
    if args.json:
        _print_json(
            {"run": run, "level": args.level, "areas": json.loads(table.to_json(orient="records"))}
        )
        return 0
    _print_summary(run)
    if table.empty:
        console.print(f"no {args.level} statistics")
        return 0
    out = Table(args.level, "residents", "completeness", "all %", "target", *table.columns[5:])
    for row in table.itertuples(index=False):
        values = list(row)
        out.add_row(
            str(values[0] or "(none)"),
            f"{values[1]:,.0f}",
            "-" if pd.isna(values[2]) else f"{values[2]:.2f}",
            _pct(values[3]),
            "yes" if values[4] else "no",
            *(_pct(v) for v in values[5:]),
        )
    console.print(out)
    return 0


def _cmd_site(args: argparse.Namespace, settings: Settings) -> int:
    from gis.coverage.sites import site_facilities

    points = None
    if args.candidates:
        import geopandas as gpd

        frame = gpd.read_file(args.candidates).to_crs(4326)
        points = np.asarray(frame.geometry.representative_point().to_numpy(), dtype=object)
    with cli_session(settings) as session, _progress(not args.json) as progress:
        report = site_facilities(
            session,
            args.run_id,
            category=args.category,
            k=args.k,
            candidate_points=points,
            progress=progress,
        )
    out = report.to_dict()
    if args.json:
        _print_json(out)
        return 0
    console.print(
        f"{report.category}: {report.candidate_count:,} candidate {report.candidates}; "
        f"covered within {report.circle_m:.0f} m before: {report.covered_before:,.0f} of "
        f"{report.residents:,.0f} residents ({_pct(out['share_before'])} %)"
    )
    table = Table("pick", "lon", "lat", "node", "residents added", "cumulative")
    for p in report.picks:
        table.add_row(
            str(p.rank),
            f"{p.lon:.6f}",
            f"{p.lat:.6f}",
            "" if p.node_id is None else str(p.node_id),
            f"{p.gain_residents:,.0f}",
            f"{p.cumulative_residents:,.0f}",
        )
    console.print(table)
    console.print(f"after the picks: {_pct(out['share_after'])} %")
    return 0


def register(subparsers: Any) -> None:
    """Add ``network`` and ``coverage`` with their subcommands to the ``gridgis`` parser."""
    net = subparsers.add_parser("network", help="walking networks in PostGIS")
    net_sub = net.add_subparsers(dest="network_command", required=True, metavar="ACTION")
    imp = net_sub.add_parser(
        "import", help="import .osm/.osm.pbf, osmnx GraphML/GeoPackage or a line file"
    )
    imp.add_argument("file")
    imp.add_argument("--name", help="network name (default: the file name)")
    imp.add_argument(
        "--include-private",
        action="store_true",
        help="walk through gated compounds (access=private)",
    )
    imp.add_argument("--layer", help="layer of a multi-layer line file")
    imp.add_argument("--json", action="store_true", help="print JSON")
    imp.set_defaults(func=_cmd_network_import)
    lst = net_sub.add_parser("list", help="stored networks")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_cmd_network_list)

    cov = subparsers.add_parser("coverage", help="15-minute service-circle coverage")
    sub = cov.add_subparsers(dest="coverage_command", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="compute and store a coverage run")
    run.add_argument("--network", help="stored network name")
    run.add_argument("--rerun", type=int, metavar="RUN_ID", help="repeat a stored run")
    run.add_argument("--category", action="append", help="checklist category (repeatable)")
    run.add_argument("--budget-m", type=float, default=1000.0, help="15-minute walk, metres")
    run.add_argument("--max-snap-m", type=float, default=300.0, help="snapping limit, metres")
    run.add_argument("--no-isochrones", action="store_true")
    run.add_argument("--isochrone-minutes", type=int, action="append", metavar="MIN")
    run.add_argument("--isochrone-buffer-m", type=float, default=50.0)
    run.add_argument("--gap-cell-m", type=float, default=100.0)
    run.add_argument("--population", choices=("building", "register"), default="building")
    run.add_argument("--street", action="append", help="street/district code (repeatable)")
    run.add_argument("--checklist", help="life-circle checklist TOML (default: packaged)")
    run.add_argument("--json", action="store_true", help="print JSON")
    run.set_defaults(func=_cmd_run)
    rep = sub.add_parser("report", help="per-area completeness and share per category")
    rep.add_argument("run_id", type=int)
    rep.add_argument("--level", choices=("street", "community", "grid"), default="street")
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.set_defaults(func=_cmd_report)
    delete = sub.add_parser("delete", help="delete runs with all their results (all or nothing)")
    delete.add_argument("run_id", type=int, nargs="+")
    delete.set_defaults(func=_cmd_delete)
    site = sub.add_parser("site", help="greedy choice of k new sites for a category")
    site.add_argument("run_id", type=int)
    site.add_argument("--category", required=True)
    site.add_argument("--k", type=int, default=5)
    site.add_argument("--candidates", help="vector file of candidate sites (default: nodes)")
    site.add_argument("--json", action="store_true", help="print JSON")
    site.set_defaults(func=_cmd_site)
