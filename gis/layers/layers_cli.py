"""``gridgis layers import|export|refresh-membership``: the layer files from a shell.

``import`` validates the whole file first (with a progress bar while it streams) and writes
nothing when a row is bad: the rows and reasons are printed, or given as JSON with ``--json``.
Commands run as the system principal unless ``--as USERNAME`` names a stored user.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gis.cli_context import cli_principal, cli_session
from gis.errors import ImportReport, ImportValidationError, InvalidInputError
from gis.settings import Settings

console = Console()
err_console = Console(stderr=True)
Handler = Callable[[argparse.Namespace, Settings], int]
IMPORT_KINDS = ("building", "facility", "component", "osm")


def _fields(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        attribute, sep, column = pair.partition("=")
        if not sep or not attribute or not column:
            raise InvalidInputError(f"--field wants ATTRIBUTE=COLUMN, got {pair!r}")
        out[attribute.strip()] = column.strip()
    return out


def _print_report(report: ImportReport, *, title: str) -> None:
    console.print(
        f"[bold]{title}[/bold] {report.source}: {report.feature_count} row(s), "
        f"{report.inserted} inserted, {report.updated} updated"
    )
    for note in report.repairs[:20]:
        console.print(f"  repaired: {note.describe()}")
    for warning in report.warnings[:20]:
        console.print(f"  [yellow]warning[/yellow]: {warning.describe()}")
    if len(report.warnings) > 20:
        console.print(f"  ... {len(report.warnings) - 20} more warning(s)")


def _print_problems(report: ImportReport) -> None:
    table = Table(title=f"{report.source}: {len(report.problems)} bad row(s); nothing imported")
    for column in ("row", "key", "field", "reason"):
        table.add_column(column)
    for p in report.problems[:200]:
        table.add_row(str(p.index), p.code or "", p.field or "", p.reason)
    err_console.print(table)
    if len(report.problems) > 200:
        err_console.print(f"... and {len(report.problems) - 200} more (use --json for all)")


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.imports import LayerImportOptions, import_layer_file
    from gis.layers.osm import import_osm

    result: dict[str, Any]
    try:
        with cli_session(settings) as session:
            principal = cli_principal(session, args.as_user)
            if args.kind == "osm":
                osm = import_osm(session, args.file, settings=settings, principal=principal)
                result = osm.to_dict()
                if not args.json:
                    for name, part in (
                        ("buildings", osm.buildings),
                        ("facilities", osm.facilities),
                    ):
                        if part is not None:
                            _print_report(part, title=name)
                    console.print(f"data {osm.attribution} (ODbL 1.0)")
            else:
                options = LayerImportOptions(
                    crs=args.crs,
                    layer=args.layer,
                    source=args.source,
                    repair=args.repair,
                    fields=_fields(args.field),
                    reference=Path(args.reference) if args.reference else None,
                    chunk_rows=args.chunk_rows,
                )
                with _progress(enabled=not args.json) as progress:
                    report = import_layer_file(
                        session,
                        args.kind,
                        args.file,
                        options,
                        settings=settings,
                        principal=principal,
                        progress=progress,
                    )
                result = report.to_dict()
                if not args.json:
                    _print_report(report, title=args.kind)
    except ImportValidationError as error:
        if args.json:
            print(json.dumps(error.report.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_problems(error.report)
        return 1
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("validating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("rows", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.exports import export_layer

    fmt = args.format or Path(args.out).suffix.lstrip(".").lower().replace("json", "geojson")
    fmt = "geojson" if fmt == "geogeojson" else fmt
    with cli_session(settings) as session:
        principal = cli_principal(session, args.as_user)
        count = export_layer(session, args.kind, principal, args.out, fmt=fmt)
    if args.json:
        print(json.dumps({"layer": args.kind, "path": args.out, "format": fmt, "rows": count}))
    else:
        console.print(f"wrote {count} {args.kind} row(s) to {args.out}")
    return 0


def _cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.membership import refresh_membership

    with cli_session(settings) as session:
        report = refresh_membership(session, layers=args.layer, street_codes=args.street)
    rows = {
        str(layer): {
            "considered": m.considered,
            "changed": m.changed,
            "in_cell": m.in_cell,
            "street_only": m.street_only,
            "outside": m.outside,
            "outside_ids": m.outside_ids,
        }
        for layer, m in report.layers.items()
    }
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="membership refresh")
    for column in ("layer", "considered", "changed", "in cell", "street only", "outside"):
        table.add_column(column)
    for layer, m in rows.items():
        table.add_row(
            layer,
            *(str(m[k]) for k in ("considered", "changed", "in_cell", "street_only", "outside")),
        )
    console.print(table)
    return 0


def register(subparsers: Any) -> None:
    """Add ``layers`` and its subcommands to the ``gridgis`` parser's subparsers."""
    layers = subparsers.add_parser(
        "layers", help="import/export buildings, facilities, components; refresh membership"
    )
    sub = layers.add_subparsers(dest="layers_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, func: Handler) -> None:
        p.add_argument("--as", dest="as_user", metavar="USERNAME", help="act as a stored user")
        p.add_argument("--json", action="store_true", help="print the report as JSON")
        p.set_defaults(func=func)

    imp = sub.add_parser(
        "import",
        help="import a layer file or an OSM extract (all or nothing)",
        description=(
            "Validate every row (geometry, CRS, outside China, swapped lon/lat, likely GCJ-02, "
            "attributes, duplicate keys), then insert or update in one transaction. Bad rows "
            "are listed with row number, key and reason, and nothing is written."
        ),
    )
    imp.add_argument("kind", choices=IMPORT_KINDS, help="target layer, or osm (buildings + POIs)")
    imp.add_argument("file", help="GeoJSON, GeoPackage, Shapefile, CSV; .osm/.osm.pbf for osm")
    imp.add_argument("--crs", help="wgs84, cgcs2000, gcj02, bd09 or EPSG:n (CSV: required)")
    imp.add_argument("--layer", help="layer of a multi-layer GeoPackage")
    imp.add_argument("--source", help="provenance label and re-import key (default: file name)")
    imp.add_argument("--repair", action="store_true", help="repair invalid polygons, reporting it")
    imp.add_argument(
        "--field", action="append", metavar="ATTR=COLUMN", help="map a column (repeatable)"
    )
    imp.add_argument("--reference", help="WGS84 roads (.osm/.pbf/vector) for the GCJ-02 check")
    imp.add_argument("--chunk-rows", type=int, help="rows per streamed chunk")
    common(imp, _cmd_import)

    exp = sub.add_parser("export", help="export a layer as GeoJSON, GeoPackage or CSV")
    exp.add_argument("kind", choices=IMPORT_KINDS[:3])
    exp.add_argument("out", help="output file")
    exp.add_argument("--format", choices=("geojson", "gpkg", "csv"), help="default: from suffix")
    common(exp, _cmd_export)

    ref = sub.add_parser("refresh-membership", help="recompute street/grid membership set-based")
    ref.add_argument(
        "--layer",
        action="append",
        choices=("building", "facility", "component", "incident"),
        help="repeatable; default all",
    )
    ref.add_argument("--street", action="append", help="9-digit street code (repeatable)")
    common(ref, _cmd_refresh)
