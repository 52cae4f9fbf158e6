"""Incident workflow against PostGIS: intake, every transition, deadlines, KPIs, the log."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from shapely.geometry import Point, box
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis.auth import PermissionDeniedError, Principal
from gis.crs import wgs84_to_gcj02
from gis.errors import ConflictError, IllegalTransitionError, InvalidInputError
from gis.layers.incident_notify import listen_incident_events
from gis.layers.incident_queries import (
    incident_events,
    incident_kpis,
    incident_location,
    list_incidents,
    overdue_incidents,
)
from gis.layers.incident_service import IntakeOptions, report_incident, transition
from gis.layers.incidents import Incident, IncidentEvent
from gis.layers.incidents_cli import register as register_cli
from gis.layers.worktime import WorkCalendar
from gis.settings import Settings
from tests.gis.layers.conftest import EAST_BOX, EAST_GRID, STREET_CODE, WEST_BOX, WEST_GRID, Town

BJ = ZoneInfo("Asia/Shanghai")
# New Year 2026: Thursday 1 and Friday 2 January off, Sunday 4 January a make-up working day.
# Office hours are the default 09:00-12:00 and 13:30-18:00.
CALENDAR = WorkCalendar(
    holidays=frozenset({date(2026, 1, 1), date(2026, 1, 2)}),
    extra_workdays=frozenset({date(2026, 1, 4)}),
)
GARBAGE = "0102"  # 暴露垃圾: 4 working hours normal (standards §4.3)
WEST_POINT = (116.405, 39.910)
EAST_POINT = (116.415, 39.910)


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)  # type: ignore[misc]


def _report(town: Town, *, at: datetime, point: tuple[float, float] = WEST_POINT, **kw: object):
    return report_incident(
        kw.pop("session"),  # type: ignore[arg-type]
        principal=kw.pop("principal", town.west_worker),  # type: ignore[arg-type]
        minor_code=kw.pop("minor_code", GARBAGE),  # type: ignore[arg-type]
        lon=point[0],
        lat=point[1],
        description="垃圾堆放",
        reporter="worker_west",
        channel="worker",
        photo_ref="photos/1.jpg",
        at=at,
        **kw,  # type: ignore[arg-type]
    )


def _go(
    session: Session,
    town: Town,
    incident_id: int,
    action: str,
    at: datetime,
    principal: Principal | None = None,
    **kw: object,
) -> Incident:
    return transition(
        session,
        incident_id,
        action,
        principal=principal or town.commander,
        at=at,
        calendar=CALENDAR,
        **kw,  # type: ignore[arg-type]
    )


def test_one_incident_through_every_transition(session: Session, town: Town) -> None:
    intake = _report(town, session=session, at=bj(2025, 12, 31, 15, 0), client_key="k-1")
    case = intake.incident
    assert intake.created and case.status == "reported"
    assert case.grid_code == WEST_GRID and case.street_code == STREET_CODE
    assert case.worker_id == town.west_worker.user_id and case.department == "环卫"
    assert case.deadline_at is None  # the clock starts at dispatch

    _go(session, town, case.id, "file", bj(2025, 12, 31, 15, 10))
    _go(session, town, case.id, "dispatch", bj(2025, 12, 31, 16, 0))
    # Wednesday 16:00 + 4 working hours: 2 h on Wednesday (to 18:00), the holidays and
    # Saturday skipped, then 09:00-11:00 on the make-up Sunday.
    assert case.deadline_at == bj(2026, 1, 4, 11, 0)
    _go(session, town, case.id, "start", bj(2025, 12, 31, 16, 30), principal=town.west_worker)
    _go(
        session,
        town,
        case.id,
        "handle",
        bj(2026, 1, 4, 10, 0),
        principal=town.west_worker,
        photo_ref="photos/after-1.jpg",
    )

    with pytest.raises(
        IllegalTransitionError, match=r"cannot dispatch an incident that is handled; allowed: close"
    ):
        _go(session, town, case.id, "dispatch", bj(2026, 1, 4, 10, 15))
    assert case.status == "handled"

    _go(session, town, case.id, "rework", bj(2026, 1, 4, 10, 30), note="还有残留")
    assert case.status == "dispatched" and case.rework_count == 1
    assert case.deadline_at == bj(2026, 1, 4, 11, 0)  # rework earns no extra time
    _go(session, town, case.id, "start", bj(2026, 1, 4, 10, 40), principal=town.west_worker)
    _go(session, town, case.id, "handle", bj(2026, 1, 4, 10, 50), principal=town.west_worker)
    # Verification may come after the deadline: the unit's handling time is what counts.
    _go(session, town, case.id, "verify_pass", bj(2026, 1, 4, 11, 15), note="核查通过")

    assert case.status == "closed" and case.closed_at == bj(2026, 1, 4, 11, 15)
    log = incident_events(session, case.id)
    assert [(e.action, e.from_state, e.to_state) for e in log] == [
        ("report", None, "reported"),
        ("file", "reported", "filed"),
        ("dispatch", "filed", "dispatched"),
        ("start", "dispatched", "in_progress"),
        ("handle", "in_progress", "handled"),
        ("rework", "handled", "dispatched"),
        ("start", "dispatched", "in_progress"),
        ("handle", "in_progress", "handled"),
        ("close", "handled", "closed"),
    ]
    assert [e.actor for e in log][:4] == ["worker_west", "commander", "commander", "worker_west"]
    assert log[4].photo_ref == "photos/after-1.jpg" and log[5].note == "还有残留"

    (kpi,) = incident_kpis(session, principal=town.commander, by="grid")
    assert kpi["key"] == WEST_GRID
    assert (kpi["due"], kpi["closed"], kpi["closed_on_time"], kpi["rework"]) == (1, 1, 1, 1)
    assert kpi["closure_rate"] == 1.0 and kpi["on_time_rate"] == 1.0
    assert kpi["mean_step_s"]["reported"] == 600.0  # 15:00 -> 15:10
    assert kpi["mean_step_s"]["filed"] == 50 * 60.0


def test_kpi_rates_follow_the_jinhua_formula(session: Session, town: Town) -> None:
    """按期结案率 = 按期结案数 / (应结案数 − 缓办数): one on time, one late, one postponed."""
    on_time, late, postponed = (
        _report(
            town,
            session=session,
            at=bj(2026, 1, 5, 9, 0),
            point=p,
            minor_code=c,
            principal=town.commander,
        ).incident
        for p, c in ((WEST_POINT, GARBAGE), (EAST_POINT, GARBAGE), (WEST_POINT, "0103"))
    )
    for case in (on_time, late, postponed):
        _go(session, town, case.id, "file", bj(2026, 1, 5, 9, 5))
        _go(session, town, case.id, "dispatch", bj(2026, 1, 5, 9, 10))
    for case, done in ((on_time, bj(2026, 1, 5, 11, 0)), (late, bj(2026, 1, 6, 11, 0))):
        _go(session, town, case.id, "handle", done, principal=town.commander)
        _go(session, town, case.id, "close", done + timedelta(minutes=5))
    _go(session, town, postponed.id, "postpone", bj(2026, 1, 5, 10, 0))

    (kpi,) = incident_kpis(session, principal=town.commander, by="street")

    assert (kpi["due"], kpi["postponed"], kpi["closed"], kpi["closed_on_time"]) == (3, 1, 2, 1)
    assert kpi["on_time_rate"] == pytest.approx(1 / (3 - 1))
    assert kpi["closure_rate"] == pytest.approx(2 / (3 - 1))
    by_dept = {
        k["key"]: k for k in incident_kpis(session, principal=town.commander, by="department")
    }
    assert by_dept["环卫"]["due"] == 3
    # A grid worker's KPIs only cover their own grid.
    assert [k["key"] for k in incident_kpis(session, principal=town.east_worker, by="grid")] == [
        EAST_GRID
    ]


def test_postpone_and_suspend_stop_the_clock(session: Session, town: Town) -> None:
    case = _report(town, session=session, at=bj(2026, 1, 5, 8, 0)).incident
    _go(session, town, case.id, "file", bj(2026, 1, 5, 8, 30))
    _go(session, town, case.id, "dispatch", bj(2026, 1, 5, 9, 0))  # Monday
    assert case.deadline_at == bj(2026, 1, 5, 14, 30)  # 09:00-12:00 and 13:30-14:30
    _go(session, town, case.id, "start", bj(2026, 1, 5, 9, 30))
    _go(session, town, case.id, "postpone", bj(2026, 1, 5, 10, 0))
    assert overdue_incidents(session, bj(2026, 1, 6, 9, 0), principal=town.commander) == []

    _go(session, town, case.id, "resume", bj(2026, 1, 6, 10, 0))
    # Paused 7.5 working hours (Mon 10-12 and 13:30-18, Tue 9-10): Mon 14:30 + 7.5 h is
    # Mon 14:30-18:00, Tue 09:00-12:00 and 13:30-14:30.
    assert case.status == "in_progress" and case.deadline_at == bj(2026, 1, 6, 14, 30)

    _go(session, town, case.id, "suspend", bj(2026, 1, 6, 11, 0))
    _go(session, town, case.id, "resume", bj(2026, 1, 6, 11, 30))
    assert case.status == "in_progress" and case.deadline_at == bj(2026, 1, 6, 15, 0)
    with pytest.raises(IllegalTransitionError):
        _go(session, town, case.id, "resume", bj(2026, 1, 6, 11, 40))

    assert overdue_incidents(session, bj(2026, 1, 6, 15, 0), principal=town.commander) == []
    overdue = overdue_incidents(session, bj(2026, 1, 6, 15, 1), principal=town.commander)
    assert [i.id for i in overdue] == [case.id]
    assert overdue_incidents(session, bj(2026, 1, 6, 15, 1), principal=town.east_worker) == []


def test_permissions_scope_and_expected_status(session: Session, town: Town) -> None:
    case = _report(town, session=session, at=bj(2026, 1, 5, 9, 0)).incident

    with pytest.raises(PermissionDeniedError, match="dispatch incidents"):
        _go(session, town, case.id, "file", bj(2026, 1, 5, 9, 1), principal=town.west_worker)
    with pytest.raises(PermissionDeniedError, match="outside the scope"):
        _go(session, town, case.id, "start", bj(2026, 1, 5, 9, 1), principal=town.east_worker)
    with pytest.raises(PermissionDeniedError, match="outside their scope"):
        _report(town, session=session, at=bj(2026, 1, 5, 9, 0), point=EAST_POINT)
    with pytest.raises(ConflictError, match="not 'filed'"):
        _go(session, town, case.id, "dispatch", bj(2026, 1, 5, 9, 2), expected_status="filed")
    with pytest.raises(InvalidInputError, match="before the incident's last event"):
        _go(session, town, case.id, "file", bj(2026, 1, 5, 8, 0))
    assert [e.action for e in incident_events(session, case.id)] == ["report"]


def test_idempotent_intake_and_duplicate_linking(session: Session, town: Town) -> None:
    t0 = bj(2026, 1, 5, 9, 0)
    first = _report(town, session=session, at=t0, client_key="phone-1:abc")
    again = _report(town, session=session, at=t0 + timedelta(minutes=1), client_key="phone-1:abc")

    assert first.created and not again.created
    assert again.incident.id == first.incident.id
    assert session.scalar(select(func.count(Incident.id))) == 1

    # ~20 m east of the first report, an hour later: linked, not a new case.
    near = (WEST_POINT[0] + 0.00023, WEST_POINT[1])
    dup = _report(town, session=session, at=t0 + timedelta(hours=1), point=near, client_key="b")
    assert dup.created and dup.duplicate_of == first.incident.id
    assert dup.incident.status == "cancelled" and dup.incident.duplicate_of == first.incident.id
    cancel = incident_events(session, dup.incident.id)[-1]
    assert cancel.action == "cancel" and cancel.detail["reason"] == "duplicate"

    far = (WEST_POINT[0] + 0.0012, WEST_POINT[1])  # ~100 m
    other_class = _report(town, session=session, at=t0 + timedelta(hours=1), minor_code="0105")
    later = _report(town, session=session, at=t0 + timedelta(hours=25))
    farther = _report(town, session=session, at=t0 + timedelta(hours=2), point=far)
    assert [r.duplicate_of for r in (other_class, later, farther)] == [None, None, None]
    # Same minor code 02 in another major class (0202 街头散发广告), same place: not a duplicate.
    other_major = _report(town, session=session, at=t0 + timedelta(hours=3), minor_code="0202")
    assert other_major.duplicate_of is None
    open_cases = list_incidents(
        session, principal=town.commander, status=["reported", "filed", "dispatched"]
    )
    assert len(open_cases) == 5


def test_duplicate_radius_and_window_come_from_settings(session: Session, town: Town) -> None:
    t0 = bj(2026, 1, 5, 9, 0)
    wide = IntakeOptions.from_settings(Settings(duplicate_radius_m=150.0, duplicate_window_h=1.0))
    assert IntakeOptions() == IntakeOptions.from_settings(Settings())
    first = _report(town, session=session, at=t0)
    far = (WEST_POINT[0] + 0.0012, WEST_POINT[1])  # ~100 m: beyond 50 m, within 150 m
    linked = _report(town, session=session, at=t0 + timedelta(minutes=30), point=far, options=wide)
    late = _report(town, session=session, at=t0 + timedelta(hours=2), point=far, options=wide)
    assert linked.duplicate_of == first.incident.id
    assert late.duplicate_of is None  # two hours later is outside the one-hour window


def test_gcj02_intake_lands_on_the_wgs84_point_and_its_grid(session: Session, town: Town) -> None:
    gx, gy = (float(v) for v in wgs84_to_gcj02(*WEST_POINT))
    assert EAST_BOX.contains(Point(gx, gy))  # untransformed, it would be in the wrong grid

    case = report_incident(
        session,
        principal=town.commander,
        minor_code=GARBAGE,
        lon=gx,
        lat=gy,
        crs="gcj02",
        at=bj(2026, 1, 5, 9, 0),
    ).incident

    lon, lat = incident_location(case)
    assert lon == pytest.approx(WEST_POINT[0], abs=1e-7)
    assert lat == pytest.approx(WEST_POINT[1], abs=1e-7)
    assert WEST_BOX.contains(Point(lon, lat))
    assert case.grid_code == WEST_GRID and case.worker_id == town.west_worker.user_id


def test_bad_intake_is_refused(session: Session, town: Town) -> None:
    at = bj(2026, 1, 5, 9, 0)
    with pytest.raises(InvalidInputError, match="unknown event class '9999'"):
        _report(town, session=session, at=at, minor_code="9999")
    with pytest.raises(InvalidInputError, match=r"outside China.*swapped"):
        _report(town, session=session, at=at, point=(39.91, 116.405), principal=town.commander)
    with pytest.raises(InvalidInputError, match="time zone"):
        _report(town, session=session, at=datetime(2026, 1, 5, 9, 0))


def test_event_log_is_append_only_in_the_database(session: Session, town: Town) -> None:
    case = _report(town, session=session, at=bj(2026, 1, 5, 9, 0)).incident
    event_id = incident_events(session, case.id)[0].id

    for statement in (
        "UPDATE incident_event SET note = 'rewritten' WHERE id = :id",
        "DELETE FROM incident_event WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement), {"id": event_id})
    assert session.get_one(IncidentEvent, event_id).note == "垃圾堆放"

    # A deliberate purge (retention, synthetic data) must say so; updates stay impossible.
    with session.begin_nested():
        session.execute(text("SET LOCAL gridgis.allow_incident_event_delete = 'on'"))
        session.execute(text("DELETE FROM incident_event WHERE id = :id"), {"id": event_id})
    assert session.get(IncidentEvent, event_id) is None


def test_list_filters_bbox_grid_and_updated_since(session: Session, town: Town) -> None:
    west = _report(town, session=session, at=bj(2026, 1, 5, 9, 0)).incident
    east = _report(
        town, session=session, at=bj(2026, 1, 5, 9, 0), point=EAST_POINT, principal=town.commander
    ).incident

    in_box = list_incidents(session, principal=town.commander, bbox=WEST_BOX.bounds)
    assert [i.id for i in in_box] == [west.id]
    assert [
        i.id for i in list_incidents(session, principal=town.commander, grid_code=EAST_GRID)
    ] == [east.id]
    assert [i.id for i in list_incidents(session, principal=town.east_worker)] == [east.id]
    assert (
        list_incidents(session, principal=town.commander, reported_from=bj(2026, 1, 6, 0, 0)) == []
    )
    with pytest.raises(InvalidInputError, match="unknown status"):
        list_incidents(session, principal=town.commander, status="open")
    with pytest.raises(PermissionDeniedError):
        list_incidents(session, principal=town.analyst)
    assert box(*WEST_BOX.bounds).equals(WEST_BOX)


# ------------------------------------------------------------------ committed-data tests
def _system_report(engine: Engine, key: str, results: list[object]) -> None:
    with Session(engine) as s, s.begin():
        r = report_incident(
            s,
            principal=Principal.system(),
            minor_code=GARBAGE,
            lon=116.3,
            lat=39.95,
            client_key=key,
            at=bj(2026, 1, 5, 9, 0),
        )
        results.append((r.incident.id, r.created))


def test_concurrent_retries_of_one_key_make_one_incident(db: Engine) -> None:
    results: list[object] = []
    with Session(db) as first:
        first.begin()
        mine = report_incident(
            first,
            principal=Principal.system(),
            minor_code=GARBAGE,
            lon=116.3,
            lat=39.95,
            client_key="retry-key",
            at=bj(2026, 1, 5, 9, 0),
        ).incident.id
        # The retry runs while the first transaction is still open: it must wait, not insert.
        retry = threading.Thread(target=_system_report, args=(db, "retry-key", results))
        retry.start()
        retry.join(timeout=1.0)
        assert retry.is_alive()
        first.commit()
    retry.join(timeout=10)

    assert results == [(mine, False)]
    with Session(db) as check:
        assert check.scalar(select(func.count(Incident.id))) == 1


def test_notify_is_sent_on_commit_only(db: Engine, database_url: str) -> None:
    plain = (
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(plain, autocommit=True) as listener:
        feed = listen_incident_events(listener, timeout_s=2.0)
        with Session(db) as s:
            rolled = report_incident(
                s,
                principal=Principal.system(),
                minor_code=GARBAGE,
                lon=116.3,
                lat=39.95,
                at=bj(2026, 1, 5, 9, 0),
            ).incident.id
            s.rollback()
        with Session(db) as s, s.begin():
            kept = report_incident(
                s,
                principal=Principal.system(),
                minor_code=GARBAGE,
                lon=116.3,
                lat=39.95,
                at=bj(2026, 1, 5, 9, 0),
                client_key="notify",
            ).incident.id
        payloads = list(feed)

    assert [p["id"] for p in payloads] == [kept]
    assert payloads[0]["action"] == "report" and payloads[0]["status"] == "reported"
    assert rolled != kept  # the rolled-back intake was never announced


def test_cli_report_transition_show_kpi(
    db: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="gridgis")
    register_cli(parser.add_subparsers(dest="command"))

    def run(*argv: str) -> Any:
        args = parser.parse_args(["incidents", *argv, "--json"])
        assert args.func(args, settings) == 0
        return json.loads(capsys.readouterr().out)

    lon, lat = (float(v) for v in wgs84_to_gcj02(116.3, 39.95))
    made = run(
        "report",
        GARBAGE,
        "--lon",
        str(lon),
        "--lat",
        str(lat),
        "--crs",
        "gcj02",
        "--client-key",
        "cli-1",
        "--at",
        "2026-01-05T09:00:00+08:00",
    )
    again = run("report", GARBAGE, "--lon", "116.3", "--lat", "39.95", "--client-key", "cli-1")
    assert made["created"] and not again["created"] and again["id"] == made["id"]
    assert made["lon"] == pytest.approx(116.3, abs=1e-7)

    run("transition", str(made["id"]), "file", "--at", "2026-01-05T09:05:00+08:00")
    moved = run(
        "transition",
        str(made["id"]),
        "dispatch",
        "--expected-status",
        "filed",
        "--at",
        "2026-01-05T09:10:00+08:00",
    )
    shown = run("show", str(made["id"]))
    kpis = run("kpi", "--by", "department")

    assert moved["status"] == "dispatched" and moved["deadline_at"] is not None
    assert [e["action"] for e in shown["events"]] == ["report", "file", "dispatch"]
    # Dispatched at 09:10 with 4 working hours to go: not yet due, so no rate yet.
    assert kpis == [
        {
            "key": "环卫",
            "by": "department",
            "reported": 1,
            "due": 0,
            "postponed": 0,
            "closed": 0,
            "closed_on_time": 0,
            "rework": 0,
            "rework_3plus": 0,
            "closure_rate": None,
            "on_time_rate": None,
            "mean_step_s": {"filed": 300.0, "reported": 300.0},
        }
    ]
