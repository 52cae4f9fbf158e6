"""The ``gridgis`` command line.

Every command works on the database named by DATABASE_URL or, without it, on the embedded
PostGIS cluster that gridgis starts itself (``gridgis db status`` says where).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from gis import __version__
from gis.auth import Role
from gis.cli_context import cli_engine, cli_session
from gis.divisions import DivisionLevel
from gis.errors import GisError, ImportValidationError
from gis.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_DISTRICTS = ("dongcheng", "xicheng")


# ------------------------------------------------------------------------------ db
def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from gis.postgis import cluster_for

    if args.action == "migrate":
        cli_engine(settings).dispose()
        console.print("schema is up to date")
        return 0
    if settings.database_url and args.action in {"start", "stop"}:
        err_console.print("DATABASE_URL is set: gridgis does not manage that server")
        return 2
    if args.action == "url":
        if settings.database_url:
            print(settings.database_url)
            return 0
        print(cluster_for(settings).start().url)
        return 0
    cluster = cluster_for(settings)
    status = {"start": cluster.start, "stop": cluster.stop, "status": cluster.status}[args.action]()
    info = status.as_dict()
    if args.json:
        print(json.dumps(info))
    else:
        state = "running" if status.running else "stopped"
        console.print(f"embedded PostGIS [bold]{state}[/bold]")
        for key in ("data_dir", "pid", "port", "url"):
            if info[key] is not None:
                console.print(f"  {key}: {info[key]}")
    return 0


# -------------------------------------------------------------------------- import
def _print_report_problems(error: ImportValidationError) -> None:
    report = error.report
    err_console.print(
        f"[bold red]{report.source}: {len(report.problems)} bad feature(s); "
        "nothing was imported[/bold red]"
    )
    table = Table("feature", "code", "name", "reason", show_lines=False)
    for p in report.problems:
        table.add_row(str(p.index), p.code or "", p.name or "", p.reason)
    err_console.print(table)


def _cmd_import_boundaries(args: argparse.Namespace, settings: Settings) -> int:

    from gis.boundaries import BoundaryImportOptions, import_boundaries

    options = BoundaryImportOptions(
        crs=args.crs,
        level=DivisionLevel(args.level) if args.level else None,
        repair=args.repair,
        code_field=args.code_field,
        name_field=args.name_field,
        layer=args.layer,
        reference=Path(args.reference) if args.reference else None,
    )
    try:
        with cli_session(settings) as session:
            report = import_boundaries(session, args.file, options)
    except ImportValidationError as exc:
        if args.json:
            print(json.dumps(exc.report.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_report_problems(exc)
        return 1
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return 0
    for r in report.repairs:
        console.print(f"[yellow]repaired[/yellow] {r.describe()}")
    for w in report.warnings:
        console.print(f"[yellow]warning[/yellow] {w.reason}")
    console.print(
        f"{report.source}: {report.feature_count} features, "
        f"{report.inserted} inserted, {report.updated} updated"
    )
    return 0


# ---------------------------------------------------------------------- divisions
def _print_divisions(engine: Engine, level: DivisionLevel | None) -> int:
    from sqlalchemy.orm import Session

    from gis.divisions import division_summary

    with Session(engine) as session:
        rows = division_summary(session)
    if level is not None:
        rows = [r for r in rows if r["level"] == level.value]
    table = Table("code", "12-digit", "name", "level", "parent", "area km²")
    for r in rows:
        table.add_row(
            r["code"],
            r["code"].ljust(12, "0"),
            r["name"],
            r["level"],
            r["parent_code"] or "",
            f"{r['area_km2']:.2f}",
        )
    console.print(table)
    counts = {lv.value: sum(r["level"] == lv.value for r in rows) for lv in DivisionLevel}
    console.print(", ".join(f"{n} {lv}" + ("s" if n != 1 else "") for lv, n in counts.items()))
    return 0


def _cmd_divisions(args: argparse.Namespace, settings: Settings) -> int:
    engine = cli_engine(settings)
    try:
        return _print_divisions(engine, DivisionLevel(args.level) if args.level else None)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gis.demo import Demo, DemoOptions, demo_api_key, print_summary

    options = DemoOptions(
        out_dir=Path(args.out),
        seed=args.seed,
        incidents=args.incidents,
        sites_per_category=args.sites,
        limit_streets=args.limit_streets,
    )
    console.print(
        "[bold]gridgis demo[/bold]: real Dongcheng + Xicheng boundaries and streets, "
        "synthetic buildings, residents, facilities and incidents"
    )
    engine = cli_engine(settings)
    try:
        report = Demo(engine, settings, options, console).run()
        key = None if args.no_serve else demo_api_key(engine)
    finally:
        engine.dispose()
    print_summary(report, console)
    if key is None:
        return 0
    base = f"http://{args.host}:{args.port}"
    console.print(f"\n[bold]serving the API and maps at {base}/[/bold] (Ctrl-C stops)")
    for name in ("grid", "incidents", "coverage"):
        console.print(f"  {name} map: {base}/maps/{name}?api_key={key}", soft_wrap=True)
    console.print(
        f"  API docs {base}/docs; OGC API Features {base}/collections; "
        "send the key as 'Authorization: Bearer <key>'"
    )
    args.workers = 1
    return _cmd_serve(args, settings)


# --------------------------------------------------------------------------- users
def _cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gis.auth import Role, create_user, issue_api_key
    from gis.users import AppUser

    if args.action in {"add", "apikey"} and not args.username:
        err_console.print(f"users {args.action} needs a USERNAME")
        return 2
    engine = cli_engine(settings)
    try:
        with Session(engine) as session, session.begin():
            if args.action == "add":
                password = None
                if not args.machine:
                    password = (
                        sys.stdin.readline().rstrip("\n")
                        if args.password_stdin
                        else getpass.getpass(f"password for {args.username}: ")
                    )
                user = create_user(
                    session,
                    username=args.username,
                    role=Role(args.role),
                    password=password,
                    divisions=args.division or [],
                    grid_codes=args.grid or [],
                    can_unmask=args.can_unmask,
                    department=args.department,
                )
                console.print(f"user {user.username} ({user.role}) created")
                if args.machine:
                    print(issue_api_key(session, user))
                return 0
            if args.action == "apikey":
                found = session.execute(
                    select(AppUser).where(AppUser.username == args.username)
                ).scalar_one_or_none()
                if found is None:
                    err_console.print(f"no user {args.username!r}")
                    return 1
                print(issue_api_key(session, found))
                return 0
            table = Table("username", "role", "divisions", "grids", "unmask", "active")
            for u in session.execute(select(AppUser).order_by(AppUser.username)).scalars():
                table.add_row(
                    u.username,
                    u.role,
                    ",".join(u.scope_divisions or []) or "all",
                    ",".join(u.scope_grid_codes or []) or "-",
                    "yes" if u.can_unmask else "no",
                    "yes" if u.active else "no",
                )
            console.print(table)
            return 0
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- serve
def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import os

    import uvicorn

    # Workers are separate processes: they read the URL from the environment, so resolve
    # the embedded cluster (and migrate) once here and hand them the result.
    engine = cli_engine(settings)
    os.environ["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    console.print(f"serving gridgis on http://{args.host}:{args.port}/ (docs at /docs)")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
    )
    return 0


# ---------------------------------------------------------------------------- main
# Modules that add their own command groups with ``register(subparsers)``; their handlers
# take ``(args, settings)`` like the ones above.
COMMAND_MODULES: tuple[str, ...] = (
    "gis.layers.incidents_cli",
    "gis.synth.cli",
    "gis.layers.layers_cli",
    "maps.maps_cli",
    "gis.coverage.coverage_cli",
    "gis.gridding.grid_cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="gridgis",
        description=(
            "Urban grid management (网格化管理) on PostGIS: boundaries, grids, layers, "
            "15-minute coverage and maps. Without DATABASE_URL every command uses the "
            "embedded PostGIS cluster under GRIDGIS_HOME."
        ),
    )
    parser.add_argument("--version", action="version", version=f"gridgis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="manage the embedded PostGIS cluster and the schema")
    db.add_argument(
        "action",
        choices=("start", "stop", "status", "url", "migrate"),
        help="start/stop/status of the embedded cluster; url prints the database URL; "
        "migrate brings the schema up to date",
    )
    db.add_argument("--json", action="store_true", help="print status as JSON")
    db.set_defaults(func=_cmd_db)

    imp = sub.add_parser("import", help="import data files (all or nothing)")
    imp_sub = imp.add_subparsers(dest="what", required=True, metavar="WHAT")
    bnd = imp_sub.add_parser(
        "boundaries",
        help="district/street/community boundaries from GeoJSON, GeoPackage or Shapefile",
        description=(
            "Validate every feature, then insert or update divisions by code in one "
            "transaction. Any bad feature (invalid or empty geometry, wrong type, outside "
            "China, swapped lon/lat, likely GCJ-02, missing/duplicate/mismatched code, "
            "missing parent) is reported and nothing is written."
        ),
    )
    bnd.add_argument("file", help="GeoJSON, GeoPackage or Shapefile (GBK detected without .cpg)")
    bnd.add_argument(
        "--crs",
        help="coordinate system of the file: wgs84, cgcs2000, gcj02, bd09 or EPSG:n "
        "(default: the file's own)",
    )
    bnd.add_argument(
        "--level", choices=[lv.value for lv in DivisionLevel], help="default: from each code"
    )
    bnd.add_argument("--repair", action="store_true", help="repair invalid polygons, reporting it")
    bnd.add_argument("--code-field", help="attribute holding the division code")
    bnd.add_argument("--name-field", help="attribute holding the division name")
    bnd.add_argument("--layer", help="layer of a multi-layer GeoPackage")
    bnd.add_argument(
        "--reference",
        help="WGS84 road lines to detect GCJ-02 boundaries (default: the imported network)",
    )
    bnd.add_argument("--json", action="store_true", help="print the report as JSON")
    bnd.set_defaults(func=_cmd_import_boundaries)

    div = sub.add_parser("divisions", help="list imported divisions")
    div.add_argument("--level", choices=[lv.value for lv in DivisionLevel])
    div.set_defaults(func=_cmd_divisions)

    users = sub.add_parser("users", help="manage users, roles, scopes and API keys")
    users.add_argument("action", choices=("add", "list", "apikey"))
    users.add_argument("username", nargs="?", help="for add and apikey")
    users.add_argument("--role", choices=[r.value for r in Role], default="analyst")
    users.add_argument(
        "--division", action="append", help="6/9/12-digit code the user may see (repeatable)"
    )
    users.add_argument("--grid", action="append", help="grid code of a grid worker (repeatable)")
    users.add_argument("--can-unmask", action="store_true", help="may see ID numbers in clear")
    users.add_argument("--department", help="department (incident KPIs)")
    users.add_argument(
        "--machine", action="store_true", help="no password: print a new API key instead"
    )
    users.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    users.set_defaults(func=_cmd_users)

    serve = sub.add_parser("serve", help="serve the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.set_defaults(func=_cmd_serve)

    demo = sub.add_parser(
        "demo",
        help="the whole story on the embedded PostGIS: data, grids, coverage, maps, API",
        description=(
            "Import the real Dongcheng + Xicheng boundaries and street network, generate the "
            "synthetic buildings, residents, facilities, grid workers and incidents, grid every "
            "street, run 15-minute coverage, write three maps to --out and serve the API. "
            "Re-running replaces the synthetic data (fixed seeds): nothing is duplicated."
        ),
    )
    demo.add_argument("--out", default="out", help="directory for the maps (default out/)")
    demo.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    demo.add_argument(
        "--incidents", type=int, default=3000, help="synthetic incidents (default 3000)"
    )
    demo.add_argument(
        "--sites", type=int, default=3, help="suggested new sites per category (default 3)"
    )
    demo.add_argument(
        "--limit-streets", type=int, metavar="N", help="only the first N streets (a quick look)"
    )
    demo.add_argument("--no-serve", action="store_true", help="stop after the summary")
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on")
    demo.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
    demo.set_defaults(func=_cmd_demo)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, get_settings())
    except GisError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
