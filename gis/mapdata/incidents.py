"""The incident command map's data: current cases as points, open cases per cell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import (
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.gridding.models import GridCell
from gis.layers.classes import default_classes
from gis.layers.incident_filter import INCIDENTS
from gis.layers.incidents import Incident
from gis.mapdata.common import (
    MAX_INCIDENTS,
    OPEN,
    RECENTLY_CLOSED,
    RUNNING,
    Area,
    active_cells,
    area_title,
    cell_scope,
    frame_of,
    resolve_area,
)


@dataclass(frozen=True)
class IncidentMapData:
    """The command map's data: current cases (points) and cells with their open cases."""

    area: Area
    title: str
    incidents: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    now: datetime
    synthetic: bool = False


# ------------------------------------------------------------------------ incident map
def _incident_select(principal: Principal, area: Area, now: datetime, since: datetime) -> Any:
    overdue = and_(
        Incident.status.in_(RUNNING),
        Incident.deadline_at.is_not(None),
        Incident.deadline_at < now,
    )
    return (
        select(
            Incident.id,
            Incident.status,
            overdue.label("overdue"),
            Incident.urgent,
            (Incident.major_code + Incident.minor_code).label("class_code"),
            Incident.kind,
            Incident.reported_at,
            Incident.deadline_at,
            Incident.address,
            Incident.grid_code,
            Incident.synthetic,
            func.ST_AsBinary(Incident.geom).label("wkb"),
        )
        .select_from(INCIDENTS)
        .where(
            principal.scope_clause(Incident.street_code.expression, Incident.grid_code.expression),
            area.clause(Incident.street_code),
            or_(Incident.status.in_(OPEN), Incident.updated_at >= since),
        )
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
        .limit(MAX_INCIDENTS)
    )


_INCIDENT_COLUMNS: Final = (
    "id",
    "status",
    "overdue",
    "urgent",
    "class_code",
    "kind",
    "reported_at",
    "deadline_at",
    "address",
    "grid_code",
    "synthetic",
)


def live_incidents(
    session: Session,
    principal: Principal,
    *,
    area: Area,
    now: datetime | None = None,
    recently_closed: timedelta = RECENTLY_CLOSED,
) -> gpd.GeoDataFrame:
    """Return the cases the command map shows: every open case, and those closed lately.

    Parameters
    ----------
    principal : Principal
        Needs READ_INCIDENTS; the scope applies.
    area : Area
        From `resolve_area`.
    now : datetime, optional
        Reference time of ``overdue`` (default: now, UTC).
    recently_closed : timedelta
        Closed or cancelled cases changed within this period stay on the map (greyed).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 points, newest first (at most `MAX_INCIDENTS`): ``id``, ``status``,
        ``overdue`` (clock running and deadline passed), ``urgent``, ``category`` (class
        name), ``minor_code`` (4-digit class code), ``reported_at``, ``deadline_at``
        (ISO 8601 text), ``address``, ``grid_code``, ``synthetic``.
    """
    principal.require(Permission.READ_INCIDENTS)
    now = now or datetime.now(UTC)
    frame = frame_of(
        session, _incident_select(principal, area, now, now - recently_closed), _INCIDENT_COLUMNS
    )
    frame["category"] = _class_names(frame["class_code"], frame["kind"])
    frame = frame.rename(columns={"class_code": "minor_code"}).drop(columns=["kind"])
    for column in ("reported_at", "deadline_at"):
        frame[column] = [v.isoformat() if isinstance(v, datetime) else None for v in frame[column]]
    for column in ("overdue", "urgent", "synthetic"):
        frame[column] = frame[column].astype(bool)
    frame["id"] = frame["id"].astype(np.int64)
    return frame


def _class_names(codes: pd.Series, kinds: pd.Series) -> list[str]:
    table = default_classes()
    names: dict[tuple[str, str], str] = {}
    for code, kind in set(zip(codes, kinds, strict=True)):
        found = (table.events if kind == "event" else table.components).get(code)
        names[(code, kind)] = found.name if found is not None else str(code)
    return [names[(c, k)] for c, k in zip(codes, kinds, strict=True)]


def incident_map_data(
    session: Session,
    principal: Principal,
    *,
    street: str | None = None,
    district: str | None = None,
    now: datetime | None = None,
) -> IncidentMapData:
    """Return the command map's cases and the active cells with their open cases.

    Returns
    -------
    IncidentMapData
        ``incidents`` as `live_incidents`; ``cells`` (``code``, ``open_cases``) counted in
        the database from the cases each cell holds.
    """
    principal.require(Permission.READ_INCIDENTS)
    area = resolve_area(session, street=street, district=district)
    now = now or datetime.now(UTC)
    incidents = live_incidents(session, principal, area=area, now=now)
    open_counts = (
        select(Incident.grid_cell_id, func.count().label("open_cases"))
        .select_from(INCIDENTS)
        .where(
            Incident.status.in_(OPEN),
            principal.scope_clause(Incident.street_code.expression, Incident.grid_code.expression),
        )
        .group_by(Incident.grid_cell_id)
        .subquery()
    )
    cells = frame_of(
        session,
        select(
            GridCell.code,
            func.coalesce(open_counts.c.open_cases, 0),
            func.ST_AsBinary(GridCell.geom).label("wkb"),
        )
        .select_from(active_cells())
        .outerjoin(open_counts, open_counts.c.grid_cell_id == GridCell.id)
        .where(cell_scope(principal, area))
        .order_by(GridCell.code),
        ("code", "open_cases"),
    )
    cells["open_cases"] = cells["open_cases"].astype(np.float64)
    return IncidentMapData(
        area=area,
        title=f"Incident command map · {area_title(session, area)}",
        incidents=incidents,
        cells=cells,
        now=now,
        synthetic=bool(incidents["synthetic"].any()) if len(incidents) else False,
    )
