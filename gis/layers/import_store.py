"""Staging tables and the set-based SQL of layer imports (`gis.layers.imports` drives them).

The staging table is TEMP, named per import, and dropped at the end whatever happens. Every
identifier interpolated into SQL here is fixed (a layer's table and column names) or generated
(the staging table name), never user input; values are bound parameters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, column, not_, select, table, text
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.db import spatial_order
from gis.errors import FeatureProblem, ImportReport
from gis.layers.import_checks import ImportLayer
from gis.layers.membership import (
    ON_ID_UPDATE,
    assign_staged,
    membership_table,
    staged_membership,
)

MAX_PROBLEMS: Final = 10_000
MAX_OUTSIDE_WARNINGS: Final = 1_000
DEFAULT_DWELLING_SIZE_M2: Final = 90.0

STAGE_DDL: Final[dict[ImportLayer, str]] = {
    ImportLayer.BUILDING: (
        "source_id text, code text, name text, address text, floors integer, "
        "dwellings integer, households integer, residents integer, osm_tags jsonb, "
        "geom geometry(MultiPolygon, 4326), pt geometry(Point, 4326)"
    ),
    ImportLayer.FACILITY: (
        "source_id text, category text, name text, address text, osm_tags jsonb, "
        "geom geometry(Point, 4326)"
    ),
    ImportLayer.COMPONENT: (
        "source_id text, major_code text, minor_code text, name text, state text, "
        "dept_owner text, dept_maintainer text, dept_supervisor text, initial_date date, "
        "change_date date, geom geometry(Geometry, 4326), pt geometry(Point, 4326)"
    ),
}
# The staged point that decides membership (building anchor, facility point, component POS).
POINT: Final[dict[ImportLayer, str]] = {
    ImportLayer.BUILDING: "pt",
    ImportLayer.FACILITY: "geom",
    ImportLayer.COMPONENT: "pt",
}


@dataclass(frozen=True)
class ImportPlan:
    """A validated import target: what is written where, under which provenance."""

    layer: ImportLayer
    source: str
    columns: dict[str, str]
    dwelling_size_m2: float = DEFAULT_DWELLING_SIZE_M2
    principal: Principal | None = None
    osm: bool = False


def stage_table(session: Session, layer: ImportLayer) -> str:
    """Create the TEMP staging table of ``layer``; return its generated name."""
    name = f"_layer_stage_{uuid.uuid4().hex[:10]}"
    session.execute(
        text(f"CREATE TEMP TABLE {name} (id bigint PRIMARY KEY, {STAGE_DDL[layer]}) ON COMMIT DROP")
    )
    return name


def duplicates(session: Session, stage: str, column_name: str, what: str) -> list[FeatureProblem]:
    """Name every staged row whose ``column_name`` value occurs more than once."""
    rows = session.execute(
        text(
            f"SELECT {column_name}, array_agg(id ORDER BY id), array_agg(name ORDER BY id)"
            f" FROM {stage} WHERE {column_name} IS NOT NULL"
            f" GROUP BY {column_name} HAVING count(*) > 1"
        )
    ).all()
    out = []
    for key, ids, names in rows:
        for row, name in zip(ids, names, strict=True):
            others = ", ".join(str(i) for i in ids if i != row)
            out.append(
                FeatureProblem(
                    int(row),
                    f"duplicate {what} {key} (also row {others})",
                    code=str(key),
                    name=name,
                    field=what,
                )
            )
    return out


def code_conflicts(session: Session, stage: str, source: str) -> list[FeatureProblem]:
    """Name staged buildings whose code another building (not the one upserted) holds."""
    rows = session.execute(
        text(
            f"SELECT s.id, s.code, s.name, b.id, b.source FROM {stage} s"
            " JOIN building b ON b.code = s.code"
            " WHERE NOT (b.source IS NOT DISTINCT FROM :source AND b.source_id = s.source_id)"
        ),
        {"source": source},
    ).all()
    return [
        FeatureProblem(
            int(row),
            f"duplicate code {code}: already used by building {other} (source {src})",
            code=code,
            name=name,
            field="code",
        )
        for row, code, name, other, src in rows
    ]


def scope_problems(session: Session, stage: str, principal: Principal) -> list[FeatureProblem]:
    """Name staged rows outside ``principal``'s scope (membership must be assigned)."""
    if principal.unrestricted:
        return []
    staged = table(stage, column("id"), column("name"))
    member = table(
        staged_membership(stage), column("id"), column("street_code"), column("grid_code")
    )
    clause = principal.scope_clause(member.c.street_code, member.c.grid_code)
    rows = session.execute(
        select(staged.c.id, staged.c.name, member.c.street_code, member.c.grid_code)
        .select_from(staged.outerjoin(member, member.c.id == staged.c.id))
        .where(not_(and_(member.c.street_code.is_not(None), clause)))
        .order_by(staged.c.id)
        .limit(MAX_PROBLEMS)
    ).all()
    return [
        FeatureProblem(
            int(row),
            f"outside {principal.username}'s scope (street {street or 'none'}, "
            f"grid {grid or 'none'})",
            name=name,
            field="geometry",
        )
        for row, name, street, grid in rows
    ]


# A staged row in no street has no membership row (``{m}``: the membership table).
_OUTSIDE = "NOT EXISTS (SELECT FROM {m} m WHERE m.id = s.id)"


def outside_warnings(session: Session, stage: str, report: ImportReport) -> int:
    """Warn about staged rows in no street (a sample and the count); return the count."""
    member = staged_membership(stage)
    count = int(
        session.execute(
            text(f"SELECT count(*) FROM {stage} s WHERE {_OUTSIDE.format(m=member)}")
        ).scalar_one()
    )
    if not count:
        return 0
    rows = session.execute(
        text(
            f"SELECT id, source_id, name FROM {stage} s WHERE {_OUTSIDE.format(m=member)}"
            " ORDER BY id LIMIT :n"
        ),
        {"n": MAX_OUTSIDE_WARNINGS},
    ).all()
    report.warnings.append(
        FeatureProblem(
            -1,
            f"{count} feature(s) lie outside every street: imported without "
            "street or grid membership",
        )
    )
    report.warnings.extend(
        FeatureProblem(int(r), "outside every street (no street or grid membership)", key, name)
        for r, key, name in rows
    )
    return count


def set_clause(plan: ImportPlan) -> str:
    """Columns a re-import overwrites: geometry and the attributes the file has."""
    sets = ["geom"]
    has = set(plan.columns)
    if plan.layer is ImportLayer.BUILDING:
        sets.append("anchor")
        sets += [c for c in ("code", "name", "address", "floors") if c in has]
        sets += [c for c in ("households", "residents") if c in has]
        if {"dwellings", "floors"} & has:
            sets += ["dwellings", "dwellings_estimated"]
        sets.append("footprint_m2")
    elif plan.layer is ImportLayer.FACILITY:
        sets.append("category")
        sets += [c for c in ("name", "address") if c in has]
    else:
        sets += ["major_code", "minor_code", "source", "source_id"]
        sets += [
            c
            for c in ("name", "state", "dept_owner", "dept_maintainer", "dept_supervisor")
            if c in has
        ]
        sets += [c for c in ("initial_date", "change_date") if c in has]
    if plan.osm:
        sets.append("osm_tags")
    return ", ".join(f"{c} = EXCLUDED.{c}" for c in sets) + ", updated_at = now()"


INSERT: Final[dict[ImportLayer, tuple[str, str, str]]] = {
    # (target columns, staged expressions, conflict target)
    ImportLayer.BUILDING: (
        "source, source_id, code, name, address, floors, dwellings, dwellings_estimated, "
        "households, residents, footprint_m2, osm_tags, geom, anchor",
        ":source, s.source_id, s.code, s.name, s.address, s.floors, "
        "COALESCE(s.dwellings, CASE WHEN s.floors IS NULL THEN 0 "
        "  ELSE GREATEST(1, round(a.area_m2 * s.floors / :dwelling_size_m2))::integer END), "
        "s.dwellings IS NULL AND s.floors IS NOT NULL, "
        "COALESCE(s.households, 0), COALESCE(s.residents, 0), a.area_m2, s.osm_tags, "
        "s.geom, s.pt",
        "(source, source_id)",
    ),
    ImportLayer.FACILITY: (
        "source, source_id, category, name, address, osm_tags, geom",
        ":source, s.source_id, s.category, s.name, s.address, s.osm_tags, s.geom",
        "(source, source_id)",
    ),
    ImportLayer.COMPONENT: (
        "source, source_id, obj_id, major_code, minor_code, name, state, dept_owner, "
        "dept_maintainer, dept_supervisor, initial_date, change_date, geom",
        ":source, s.source_id, s.source_id, s.major_code, s.minor_code, s.name, s.state, "
        "s.dept_owner, s.dept_maintainer, s.dept_supervisor, s.initial_date, s.change_date, "
        "s.geom",
        "(obj_id)",
    ),
}


def upsert(session: Session, stage: str, plan: ImportPlan) -> tuple[int, int]:
    """Write the staged rows and their membership in one statement; return (inserted, updated).

    The features are written first, in Z-order of their points (`spatial_order`) so that
    neighbours share pages. Their ids come back with the key they were matched on
    (``source_id``, or ``obj_id`` for components), which finds the staged row and so the
    membership `assign_staged` gave it. A re-imported feature now in no street loses its
    membership row.
    """
    targets, values, conflict = INSERT[plan.layer]
    key = "obj_id" if plan.layer is ImportLayer.COMPONENT else "source_id"
    members = membership_table(plan.layer.value)
    area = (
        " CROSS JOIN LATERAL (SELECT ST_Area(s.geom::geography) AS area_m2) a"
        if plan.layer is ImportLayer.BUILDING
        else ""
    )
    row = session.execute(
        text(
            f"WITH up AS ("
            f" INSERT INTO {plan.layer.value} ({targets}, synthetic)"
            f" SELECT {values}, false FROM {stage} s{area}"
            f" ORDER BY {spatial_order('s.' + POINT[plan.layer])}, s.id"
            f" ON CONFLICT {conflict} DO UPDATE SET {set_clause(plan)}"
            f" RETURNING id, {key} AS key, (xmax = 0) AS inserted),"
            f" placed AS ("
            f" SELECT up.id, up.inserted, m.street_code, m.grid_cell_id, m.grid_code"
            f" FROM up JOIN {stage} s ON s.source_id = up.key"
            f" LEFT JOIN {staged_membership(stage)} m ON m.id = s.id),"
            f" gone AS ("
            f" DELETE FROM {members} t USING placed p"
            f" WHERE t.id = p.id AND NOT p.inserted AND p.street_code IS NULL),"
            f" put AS ("
            f" INSERT INTO {members} AS t (id, street_code, grid_cell_id, grid_code)"
            f" SELECT id, street_code, grid_cell_id, grid_code FROM placed"
            f" WHERE street_code IS NOT NULL ORDER BY id{ON_ID_UPDATE})"
            f" SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
            f" FROM up"
        ),
        {"source": plan.source, "dwelling_size_m2": plan.dwelling_size_m2},
    ).one()
    return int(row[0]), int(row[1])


def table_problems(session: Session, stage: str, plan: ImportPlan) -> list[FeatureProblem]:
    """Check across all rows (duplicates, taken codes, scope), assigning membership on the way."""
    key = "obj_id" if plan.layer is ImportLayer.COMPONENT else "key"
    problems = duplicates(session, stage, "source_id", key)
    if plan.layer is ImportLayer.BUILDING:
        seen = {(p.index, p.code) for p in problems}
        problems += [
            p for p in duplicates(session, stage, "code", "code") if (p.index, p.code) not in seen
        ]
        problems += code_conflicts(session, stage, plan.source)
    if problems:
        return problems
    assign_staged(session, stage, column=POINT[plan.layer])
    if plan.principal is not None:
        problems = scope_problems(session, stage, plan.principal)
    return problems
