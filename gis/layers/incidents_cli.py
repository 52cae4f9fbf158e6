"""``gridgis incidents report|transition|show|overdue|kpi``: the case workflow from a shell.

The lead wires it in with ``incidents_cli.register(sub)`` in `gis.cli.build_parser`. Every
command runs as the system principal unless ``--as USERNAME`` names a stored user, whose role
and scope then apply exactly as in the API.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.cli_context import run_as_user
from gis.errors import InvalidInputError
from gis.settings import Settings

console = Console()

Handler = Callable[[argparse.Namespace, Settings], int]


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidInputError(f"{value!r} needs a time zone, e.g. {value}+08:00")
    return parsed


def _run(args: argparse.Namespace, settings: Settings, body: Callable[..., Any]) -> int:
    result = run_as_user(settings, args.as_user, body)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        _print(result)
    return 0


def _print(result: Any) -> None:
    rows = result if isinstance(result, list) else [result]
    if not rows:
        console.print("nothing found")
        return
    for row in rows:
        events = row.pop("events", None) if isinstance(row, dict) else None
        table = Table("field", "value", show_header=False)
        for key, value in row.items():
            table.add_row(str(key), "" if value is None else str(value))
        console.print(table)
        if events:
            log = Table("at", "action", "from", "to", "actor", "note")
            for e in events:
                log.add_row(
                    str(e["at"]),
                    e["action"],
                    e["from_state"] or "",
                    e["to_state"],
                    e["actor"],
                    e["note"] or "",
                )
            console.print(log)


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.incident_queries import incident_summary
    from gis.layers.incident_service import IntakeOptions, report_incident

    def body(session: Session, principal: Principal) -> dict[str, Any]:
        result = report_incident(
            session,
            principal=principal,
            minor_code=args.minor_code,
            lon=args.lon,
            lat=args.lat,
            crs=args.crs,
            urgent=args.urgent,
            description=args.description,
            client_key=args.client_key,
            reporter=args.reporter,
            channel=args.channel,
            photo_ref=args.photo,
            at=_time(args.at),
            options=IntakeOptions.from_settings(settings),
        )
        out = incident_summary(result.incident)
        out["created"] = result.created
        return out

    return _run(args, settings, body)


def _cmd_transition(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.incident_queries import incident_summary
    from gis.layers.incident_service import transition

    def body(session: Session, principal: Principal) -> dict[str, Any]:
        incident = transition(
            session,
            args.incident_id,
            args.action,
            principal=principal,
            note=args.note,
            photo_ref=args.photo,
            expected_status=args.expected_status,
            at=_time(args.at),
        )
        return incident_summary(incident)

    return _run(args, settings, body)


def _cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.incident_queries import incident_with_events

    def body(session: Session, principal: Principal) -> dict[str, Any]:
        return incident_with_events(session, args.incident_id, principal=principal)

    return _run(args, settings, body)


def _cmd_overdue(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.incident_queries import incident_summary, overdue_incidents

    def body(session: Session, principal: Principal) -> list[dict[str, Any]]:
        now = _time(args.now) or datetime.now().astimezone()
        return [incident_summary(i) for i in overdue_incidents(session, now, principal=principal)]

    return _run(args, settings, body)


def _cmd_kpi(args: argparse.Namespace, settings: Settings) -> int:
    from gis.layers.incident_queries import incident_kpis

    def body(session: Session, principal: Principal) -> list[dict[str, Any]]:
        return incident_kpis(
            session,
            principal=principal,
            by=args.by,
            since=_time(args.since),
            until=_time(args.until),
        )

    return _run(args, settings, body)


def register(subparsers: Any) -> None:
    """Add ``incidents`` and its subcommands to the ``gridgis`` parser's subparsers."""
    inc = subparsers.add_parser("incidents", help="report, move and inspect incident cases")
    sub = inc.add_subparsers(dest="incidents_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, func: Handler) -> None:
        p.add_argument(
            "--as",
            dest="as_user",
            metavar="USERNAME",
            help="act as this stored user (role and scope apply); default: system",
        )
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=func)

    rep = sub.add_parser("report", help="take in a new case (idempotent with --client-key)")
    rep.add_argument("minor_code", help="class code (major + minor, e.g. 0101)")
    rep.add_argument("--lon", type=float, required=True, help="longitude in --crs")
    rep.add_argument("--lat", type=float, required=True, help="latitude in --crs")
    rep.add_argument("--crs", default="wgs84", help="wgs84 (default), cgcs2000, gcj02 or bd09")
    rep.add_argument("--urgent", action="store_true", help="use the urgent time limit")
    rep.add_argument("--description")
    rep.add_argument("--client-key", help="idempotency key: the same key never makes two cases")
    rep.add_argument("--reporter")
    rep.add_argument("--channel", help="worker, hotline, open311, video...")
    rep.add_argument("--photo", help="photo reference (URL or storage key)")
    rep.add_argument("--at", help="report time, ISO 8601 with zone (default now)")
    common(rep, _cmd_report)

    tr = sub.add_parser("transition", help="apply a workflow action (dispatch, handle...)")
    tr.add_argument("incident_id", type=int)
    tr.add_argument("action")
    tr.add_argument("--note")
    tr.add_argument("--photo", help="photo reference")
    tr.add_argument("--expected-status", help="refuse unless the case is in this state")
    tr.add_argument("--at", help="action time, ISO 8601 with zone (default now)")
    common(tr, _cmd_transition)

    show = sub.add_parser("show", help="one case with its event log")
    show.add_argument("incident_id", type=int)
    common(show, _cmd_show)

    over = sub.add_parser("overdue", help="open cases past their deadline")
    over.add_argument("--now", help="reference time, ISO 8601 with zone (default now)")
    common(over, _cmd_overdue)

    kpi = sub.add_parser("kpi", help="结案率, 按期结案率, rework and step times")
    kpi.add_argument("--by", choices=("grid", "street", "department"), default="street")
    kpi.add_argument("--since", help="period start, ISO 8601 with zone")
    kpi.add_argument("--until", help="period end, ISO 8601 with zone")
    common(kpi, _cmd_kpi)
