"""Synthetic grid workers (网格员): one per active cell, scoped to that cell.

A worker's username is derived from the grid code (``gw-110101001001001``), and codes are
stable across plan versions, so re-running after an edit or a new plan keeps each worker
and only moves the assignment to the current cell. Workers have no password (they cannot log
in until an administrator issues a key or sets one) and are marked with the synthetic
department, so they never pass for real staff.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

SYNTHETIC_DEPARTMENT = "synthetic"
USERNAME_PREFIX = "gw-"


def synth_grid_workers(session: Session, street_codes: Sequence[str]) -> int:
    """Give every active cell of these streets a scoped grid worker; return cells assigned.

    Set-based: one upsert of the users, one update of the cells, in the caller's transaction.
    Cells that already have a worker keep them.
    """
    params = {"codes": list(street_codes), "prefix": USERNAME_PREFIX}
    session.execute(
        text(
            "INSERT INTO app_user (username, display_name, role, scope_divisions,"
            "   scope_grid_codes, department, can_unmask, active, created_at)"
            " SELECT :prefix || c.code, '网格员 ' || c.code || ' (synthetic)', 'grid_worker',"
            "   ARRAY[]::varchar[], ARRAY[c.code]::varchar[], :department, false, true, now()"
            " FROM grid_cell c JOIN grid_plan p ON p.id = c.plan_id"
            " WHERE p.status = 'active' AND p.street_code = ANY(:codes) AND c.worker_id IS NULL"
            " ON CONFLICT (username) DO UPDATE SET scope_grid_codes = EXCLUDED.scope_grid_codes"
        ),
        params | {"department": SYNTHETIC_DEPARTMENT},
    )
    result = session.execute(
        text(
            "UPDATE grid_cell c SET worker_id = u.id"
            " FROM grid_plan p, app_user u"
            " WHERE p.id = c.plan_id AND p.status = 'active' AND p.street_code = ANY(:codes)"
            "   AND c.worker_id IS NULL AND u.username = :prefix || c.code"
        ),
        params,
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _cmd(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console

    from gis.cli_context import cli_session
    from gis.synth.buildings import street_codes_of

    with cli_session(settings) as session:
        codes = street_codes_of(session, streets=args.street, district=args.district)
        assigned = synth_grid_workers(session, codes)
    Console().print(f"{assigned:,} cells of {len(codes)} street(s) got a synthetic grid worker")
    return 0


def add_command(subparsers: Any) -> None:
    """Add ``gridgis synth workers``."""
    cmd = subparsers.add_parser(
        "workers", help="a synthetic grid worker for every active cell without one"
    )
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--street", action="append", help="9-digit street code (repeatable)")
    where.add_argument("--district", help="6-digit district code: all of its streets")
    cmd.set_defaults(func=_cmd)
