"""``gridgis grid generate|validate|activate|edit|history|export|rollback``.

Every command runs as the system principal unless ``--as USERNAME`` names a stored user,
whose role then applies exactly as in the API. ``generate`` commits street by street, so an
interrupted run keeps the streets already gridded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.cli_context import cli_engine, cli_principal, cli_session, run_as_user
from gis.errors import InvalidInputError
from gis.settings import Settings

console = Console()


def _emit(args: argparse.Namespace, result: Any) -> None:
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return
    rows = result if isinstance(result, list) else [result]
    for row in rows:
        table = Table("field", "value", show_header=False)
        for key, value in row.items():
            table.add_row(str(key), "" if value is None else str(value))
        console.print(table)


def _line(text: str | None) -> Any:
    """Parse ``"lon lat, lon lat, ..."`` (EPSG:4326) into a LineString."""
    if text is None:
        return None
    from shapely.geometry import LineString

    try:
        points = [tuple(float(v) for v in p.split()) for p in text.split(",")]
        return LineString(points)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"--line {text!r} is not 'lon lat, lon lat, ...' in EPSG:4326 ({exc})"
        ) from None


# ---------------------------------------------------------------------------- generate
def _cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.generate import GridOptions, generate_plan
    from gis.synth.buildings import street_codes_of

    options = GridOptions(
        method=args.method,
        band=(args.band_min, args.band_max),
        cell_size_m=args.cell_size_m,
        width=args.width,
        seed=args.seed,
    )
    engine = cli_engine(settings)
    results: list[dict[str, Any]] = []
    try:
        with Session(engine) as session:
            codes = street_codes_of(session, streets=args.street, district=args.district)
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True, disable=args.json) as bar:
            task = bar.add_task("gridding", total=len(codes))
            for code in codes:
                bar.update(task, description=f"gridding {code}")
                with Session(engine) as session, session.begin():
                    principal = cli_principal(session, args.as_user)
                    result = generate_plan(
                        session,
                        code,
                        options=options,
                        actor=principal.username,
                        reason=args.reason,
                        roads_path=Path(args.roads) if args.roads else None,
                    )
                    report = {k: v for k, v in result.report.items() if k != "used_numbers"}
                    results.append(
                        {"street": code, "plan_id": result.plan.id, "version": result.plan.version}
                        | report
                    )
                bar.advance(task)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    else:
        _print_summary(results, options.method)
    return 0


def _print_summary(results: list[dict[str, Any]], method: str) -> None:
    table = Table("street", "plan", "cells", "in band", "PP mean", "PP min", "seconds")
    for r in results:
        in_band = f"{r['in_band']}/{r['basic_cells']}" if method == "balanced" else "-"
        table.add_row(
            r["street"],
            f"{r['plan_id']} v{r['version']}",
            str(r["cells"]),
            in_band,
            f"{r['compactness_mean']:.3f}" if r["compactness_mean"] is not None else "-",
            f"{r['compactness_min']:.3f}" if r["compactness_min"] is not None else "-",
            f"{r['seconds']:.2f}",
        )
    console.print(table)
    cells = sum(r["cells"] for r in results)
    if method == "balanced" and results:
        basic = sum(r["basic_cells"] for r in results)
        in_band = sum(r["in_band"] for r in results)
        console.print(
            f"{len(results)} street(s), {cells} cells, {in_band}/{basic} basic cells in band "
            f"({in_band / max(basic, 1):.1%})"
        )
        for r in results:
            for e in r.get("exceptions", []):
                console.print(f"  [yellow]{e['code']}[/yellow] ({e['households']}): {e['reason']}")
            if "infeasible" in r:
                console.print(f"  [red]{r['infeasible']}[/red]")
    else:
        console.print(f"{len(results)} street(s), {cells} cells")


# ------------------------------------------------------------------- plan commands
def _run(args: argparse.Namespace, settings: Settings, body: Any) -> int:
    _emit(args, run_as_user(settings, args.as_user, body))
    return 0


def _plan_summary(plan: Any) -> dict[str, Any]:
    return {
        "plan_id": plan.id,
        "street": plan.street_code,
        "version": plan.version,
        "status": plan.status,
        "method": plan.method,
        "created_by": plan.created_by,
        "reason": plan.reason,
    }


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.service import validate

    with cli_session(settings) as session:
        report = validate(session, args.plan_id)
    _emit(args, report.to_dict())
    return 0 if report.ok else 1


def _cmd_activate(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.service import activate
    from gis.gridding.store import get_plan

    def body(session: Session, principal: Principal) -> dict[str, Any]:
        report = activate(session, args.plan_id, principal=principal)
        return _plan_summary(get_plan(session, args.plan_id)) | {"warnings": report.warnings}

    return _run(args, settings, body)


def _cmd_edit(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.service import Edit, edit_plan

    edit = Edit(
        kind=args.kind,
        codes=args.code or [],
        line=_line(args.line),
        building_id=args.building_id,
        to_code=args.to_code,
    )

    def body(session: Session, principal: Principal) -> dict[str, Any]:
        plan = edit_plan(
            session,
            args.plan_id,
            edit,
            principal=principal,
            reason=args.reason,
            base_version=args.base_version,
        )
        return _plan_summary(plan) | {"changed": plan.report.get("changed")}

    return _run(args, settings, body)


def _cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.service import rollback

    def body(session: Session, principal: Principal) -> dict[str, Any]:
        plan = rollback(
            session,
            args.street,
            args.version,
            principal=principal,
            reason=args.reason,
            base_version=args.base_version,
        )
        return _plan_summary(plan)

    return _run(args, settings, body)


def _cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.store import history

    with cli_session(settings) as session:
        rows = history(session, args.street)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return 0
    table = Table("version", "plan", "status", "method", "cells", "by", "reason", "created")
    for r in rows:
        table.add_row(
            str(r["version"]),
            str(r["id"]),
            r["status"],
            r["method"],
            str(r["cells"]),
            r["created_by"],
            r["reason"] or "",
            str(r["created_at"])[:19],
        )
    console.print(table)
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from gis.gridding.export import export_plan

    with cli_session(settings) as session:
        path, count = export_plan(session, args.plan_id, Path(args.output))
    _emit(args, {"plan_id": args.plan_id, "path": str(path), "cells": count})
    return 0


# ---------------------------------------------------------------------------- parser
def register(subparsers: Any) -> None:
    """Add ``gridgis grid …``."""
    grid = subparsers.add_parser("grid", help="generate, edit, validate and activate grid plans")
    sub = grid.add_subparsers(dest="grid_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--as", dest="as_user", help="act as this stored user")

    gen = sub.add_parser("generate", help="grid streets into draft plans (a progress bar)")
    where = gen.add_mutually_exclusive_group()
    where.add_argument("--street", action="append", help="9-digit street code (repeatable)")
    where.add_argument("--district", help="6-digit district: all of its streets")
    gen.add_argument("--method", choices=("balanced", "square", "hexagon"), default="balanced")
    gen.add_argument("--band-min", type=int, default=300, help="households (default 300)")
    gen.add_argument("--band-max", type=int, default=500, help="households (default 500)")
    gen.add_argument("--cell-size-m", type=float, help="square side / hexagon side in metres")
    gen.add_argument("--width", type=int, choices=(2, 3), default=3, help="sequence digits")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--roads", help="osmnx GeoPackage of roads (default: stored network)")
    gen.add_argument("--reason", help="why (kept in the plan history)")
    common(gen)
    gen.set_defaults(func=_cmd_generate)

    val = sub.add_parser("validate", help="check a plan: polygons, tiling, communities, band")
    val.add_argument("plan_id", type=int)
    common(val)
    val.set_defaults(func=_cmd_validate)

    act = sub.add_parser("activate", help="validate and activate a plan; refresh membership")
    act.add_argument("plan_id", type=int)
    common(act)
    act.set_defaults(func=_cmd_activate)

    edit = sub.add_parser("edit", help="edit a plan; the result is the street's next version")
    edit.add_argument("plan_id", type=int)
    edit.add_argument(
        "kind", choices=("split", "merge", "move_building", "redraw_edge", "rebalance")
    )
    edit.add_argument("--base-version", type=int, required=True, help="the version you edited")
    edit.add_argument("--reason", required=True, help="why (kept in the plan history)")
    edit.add_argument("--code", action="append", help="cell code (repeatable)")
    edit.add_argument("--line", help="'lon lat, lon lat, ...' (EPSG:4326) for split/redraw")
    edit.add_argument("--building-id", type=int, help="building to move")
    edit.add_argument("--to-code", help="cell that receives the building")
    common(edit)
    edit.set_defaults(func=_cmd_edit)

    hist = sub.add_parser("history", help="every version of a street's plan")
    hist.add_argument("street")
    common(hist)
    hist.set_defaults(func=_cmd_history)

    exp = sub.add_parser("export", help="write a plan's cells to GeoJSON or GeoPackage")
    exp.add_argument("plan_id", type=int)
    exp.add_argument("--output", "-o", required=True, help=".geojson or .gpkg")
    common(exp)
    exp.set_defaults(func=_cmd_export)

    back = sub.add_parser("rollback", help="save an earlier version as the next version")
    back.add_argument("street")
    back.add_argument("version", type=int)
    back.add_argument("--base-version", type=int, required=True, help="the newest version")
    back.add_argument("--reason", required=True)
    common(back)
    back.set_defaults(func=_cmd_rollback)
