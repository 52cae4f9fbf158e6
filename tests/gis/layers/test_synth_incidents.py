"""Synthetic incidents: counts, legal append-only histories, deadlines, duplicates, the CLI."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.divisions import Division
from gis.errors import InvalidInputError
from gis.gridding.models import GridCell, GridPlan
from gis.layers.incident_queries import incident_kpis
from gis.layers.incidents import Incident, IncidentEvent
from gis.layers.membership import refresh_membership
from gis.layers.workflow import next_state
from gis.layers.worktime import default_calendar
from gis.settings import Settings
from gis.synth.cli import register
from gis.synth.incidents import SynthIncidentOptions, clear_synthetic_incidents, synth_incidents
from tests.gis.layers.conftest import EAST_BOX, EAST_GRID, STREET_BOX, STREET_CODE, WEST_GRID, Town

END = datetime(2026, 6, 30, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
OPTIONS = SynthIncidentOptions(street_codes=(STREET_CODE,), count=1500, days=90, end=END, seed=7)


def _frames(session: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
    cases = pd.read_sql(
        select(
            Incident.id,
            Incident.status,
            Incident.grid_code,
            Incident.duplicate_of,
            Incident.dispatched_at,
            Incident.deadline_at,
            Incident.time_limit_min,
            Incident.reported_at,
            Incident.synthetic,
            func.ST_X(Incident.geom).label("lon"),
            func.ST_Y(Incident.geom).label("lat"),
        ).outerjoin(Incident.membership),
        session.connection(),
    )
    events = pd.read_sql(
        select(IncidentEvent).order_by(
            IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id
        ),
        session.connection(),
    )
    return cases, events


def test_cases_have_legal_logs_deadlines_and_duplicates(session: Session, town: Town) -> None:
    report = synth_incidents(session, OPTIONS)
    cases, events = _frames(session)

    assert report.incidents == len(cases) <= OPTIONS.count and cases["synthetic"].all()
    assert report.incidents >= OPTIONS.count * 0.98  # only a few duplicates may be dropped
    assert report.events == len(events)
    # Inside the street, in its two cells, all reported in the 90 days before END.
    assert cases["grid_code"].isin([WEST_GRID, EAST_GRID]).all()
    assert shapely.contains_xy(STREET_BOX.buffer(1e-3), cases.lon, cases.lat).all()
    east = cases["grid_code"] == EAST_GRID
    in_east = shapely.contains_xy(EAST_BOX, cases.lon, cases.lat)
    assert (east.to_numpy() == in_east).all()  # a re-report stays in its original's cell
    assert cases["reported_at"].min() >= pd.Timestamp(END - timedelta(days=90))
    assert events["at"].max() <= pd.Timestamp(END)

    # Every log replays through the real state machine and ends in the stored status.
    for incident_id, log in events.groupby("incident_id"):
        state: str | None = None
        for action, before, after in zip(log.action, log.from_state, log.to_state, strict=True):
            assert (None if pd.isna(before) else before) == state, (incident_id, list(log.action))
            state = "reported" if state is None else str(next_state(state, action))
            assert state == after, (incident_id, list(log.action))
        assert cases.set_index("id").at[incident_id, "status"] == state

    statuses = set(cases["status"])
    assert {"closed", "cancelled", "dispatched", "in_progress", "handled", "reported"} <= statuses
    assert (events["action"] == "rework").any()

    # Deadline = dispatch + limit in working time on the calendar, recomputed independently.
    running = cases.dropna(subset=["dispatched_at"]).head(50)
    expected = default_calendar().add_working_seconds(
        pd.DatetimeIndex(running["dispatched_at"]), running["time_limit_min"].to_numpy() * 60.0
    )
    assert (pd.DatetimeIndex(running["deadline_at"]) == expected).all()
    overdue = cases[
        cases.status.isin(["dispatched", "in_progress"]) & (cases.deadline_at < pd.Timestamp(END))
    ]
    assert len(overdue) > 0

    dups = cases.dropna(subset=["duplicate_of"])
    assert len(dups) == report.duplicates > 0 and (dups["status"] == "cancelled").all()
    originals = cases.set_index("id").loc[dups["duplicate_of"].astype(int)]
    assert (originals["grid_code"].to_numpy() == dups["grid_code"].to_numpy()).all()
    late = incident_kpis(session, principal=Principal.system(), by="grid", as_of=END)
    assert {k["key"] for k in late} == {WEST_GRID, EAST_GRID}
    assert all(0 < k["on_time_rate"] < 1 for k in late)  # some late, most on time


def test_re_reports_stay_in_their_originals_cell(session: Session, town: Town) -> None:
    # Many re-reports, a few metres from their originals: some would cross the cells' edge.
    many = replace(OPTIONS, duplicate_share=0.45)
    report = synth_incidents(session, many)
    cases, _ = _frames(session)

    assert report.duplicates > 500
    # the stored membership is the spatial join's: a full refresh has nothing to change
    assert refresh_membership(session, layers=["incident"]).changed == 0
    east = cases["grid_code"] == EAST_GRID
    assert (east.to_numpy() == shapely.contains_xy(EAST_BOX, cases.lon, cases.lat)).all()


def test_same_seed_same_cases_and_replace(session: Session, town: Town) -> None:
    first = synth_incidents(session, OPTIONS.__class__(**{**OPTIONS.__dict__, "count": 200}))
    before = session.execute(
        select(Incident.minor_code, Incident.status, Incident.reported_at).order_by(Incident.id)
    ).all()
    assert clear_synthetic_incidents(session, (STREET_CODE,)) == first.incidents
    assert session.scalar(select(func.count(IncidentEvent.id))) == 0
    synth_incidents(session, OPTIONS.__class__(**{**OPTIONS.__dict__, "count": 200}))
    after = session.execute(
        select(Incident.minor_code, Incident.status, Incident.reported_at).order_by(Incident.id)
    ).all()
    assert before == after
    with pytest.raises(InvalidInputError, match="no active grid plan"):
        synth_incidents(session, SynthIncidentOptions(street_codes=("110101999",), end=END))


def test_cli_command(db: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with Session(db) as session, session.begin():
        for code, level, parent in (
            ("110101", "district", None),
            (STREET_CODE, "street", "110101"),
        ):
            session.add(
                Division(
                    code=code,
                    level=level,
                    name=code,
                    parent_code=parent,
                    stat_code=code.ljust(12, "0"),
                    geom=from_shape(MultiPolygon([STREET_BOX]), 4326),
                )
            )
            session.flush()
        plan = GridPlan(
            street_code=STREET_CODE, version=1, status="active", method="manual", created_by="t"
        )
        session.add(plan)
        session.flush()
        session.add(GridCell(plan_id=plan.id, code=WEST_GRID, geom=from_shape(EAST_BOX, 4326)))
    parser = argparse.ArgumentParser(prog="gridgis")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["synth", "incidents", "--street", STREET_CODE, "--count", "100", "--replace"]
    )
    assert args.func(args, settings) == 0
    assert "wrote" in capsys.readouterr().out
    with Session(db) as session:
        assert session.scalar(select(func.count(Incident.id)).where(Incident.synthetic)) >= 97
        assert session.execute(text("SELECT count(*) FROM incident_event")).scalar_one() > 100
